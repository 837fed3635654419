"""The viewer's tabs by key: `]` and `[` step through them (shown in the footer), from the tab strip or a
table, without four Tabs to reach the strip first."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TabbedContent

from tests.eval_view.test_viewer import screen_text, settle, start
from tests.support.pilot_wait import wait_for


async def test_brackets_step_through_the_tabs(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tabs = app.screen.query_one("#eval-tabs", TabbedContent)
        app.screen.set_focus(None)
        assert tabs.active == "tab-overview"
        seen = []
        for _ in range(5):
            before = tabs.active
            await pilot.press("right_square_bracket")
            await wait_for(pilot, lambda before=before: tabs.active != before)
            seen.append(tabs.active)
        assert seen == ["tab-pairwise", "tab-categories", "tab-personas", "tab-transcripts", "tab-overview"]
        await pilot.press(*["right_square_bracket"] * 3)  # typed fast: each key moves one tab
        await wait_for(pilot, lambda: tabs.active == "tab-personas")
        await pilot.press(*["left_square_bracket"] * 3)
        await wait_for(pilot, lambda: tabs.active == "tab-overview")
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: tabs.active == "tab-transcripts")


async def test_the_footer_shows_the_tab_keys(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: "] Next tab" in screen_text(app))
        assert "[ Prev tab" in screen_text(app)
