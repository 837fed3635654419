"""The viewer's tabs by key: `]` and `[` step through them (shown in the footer), from the tab strip or a
table, without four Tabs to reach the strip first."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TabbedContent

from tests.eval_view.test_viewer import screen_text, settle, start


async def test_brackets_step_through_the_tabs(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        tabs = app.screen.query_one("#eval-tabs", TabbedContent)
        app.screen.set_focus(None)
        assert tabs.active == "tab-overview"
        seen = []
        for _ in range(5):
            await pilot.press("right_square_bracket")
            await pilot.pause()
            seen.append(tabs.active)
        await pilot.press(*["right_square_bracket"] * 3)  # typed fast: each key moves one tab
        await pilot.pause(0.2)
        assert tabs.active == "tab-personas"
        await pilot.press(*["left_square_bracket"] * 3)
        await pilot.pause(0.2)
        assert tabs.active == "tab-overview"
        assert seen == ["tab-pairwise", "tab-categories", "tab-personas", "tab-transcripts", "tab-overview"]
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert tabs.active == "tab-transcripts"


async def test_the_footer_shows_the_tab_keys(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        app.screen.set_focus(None)
        await pilot.pause()
        text = screen_text(app)
        assert "] Next tab" in text and "[ Prev tab" in text
