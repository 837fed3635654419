"""The viewer builds a tab's pane on its first showing: opening the Evaluate area builds only the first tab,
and every key that leads to another tab works at once, on a pane not built yet, and finds it filled in."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Select, TabbedContent, Tabs

from tests.eval_view.test_viewer import screen_text, settle, show_tab, start
from tests.support.pilot_wait import wait_for
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.personas import PersonasPane

HIDDEN_TABS = ("tab-pairwise", "tab-categories", "tab-personas", "tab-transcripts")


def pane(app, tab: str) -> LazyPane:
    return app.screen.query_one(f"#{tab}", LazyPane)


async def test_only_the_first_tab_is_built_when_the_area_opens(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert pane(app, "tab-overview").built
        assert app.screen.query_one("#overview-table", DataTable).row_count == 3
        for tab in HIDDEN_TABS:
            assert not pane(app, tab).built and not pane(app, tab).children, tab
        for selector in ("#pairwise-table", "#categories-table", "#personas-table", "#pane-a"):
            with pytest.raises(NoMatches):
                app.screen.query_one(selector)
        # The tab strip is whole all the same: every tab's label, by key or click.
        text = screen_text(app)
        assert all(label in text for label in ("Overview", "Pairwise", "Breakdown", "Personas"))


async def test_next_tab_key_builds_the_tab_filled_in_and_focused(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.screen.set_focus(None)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: pane(app, "tab-pairwise").built)
        table = app.screen.query_one("#pairwise-table", DataTable)
        assert table.row_count == 3
        await wait_for(pilot, lambda: app.focused is table)
        assert "ft-a − baseline: per-persona Δ" in screen_text(app)
        # Built once: coming back keeps the same widgets (and the cursor).
        await pilot.press("down")
        await wait_for(pilot, lambda: table.cursor_row == 1)
        await pilot.press("right_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: app.screen.query_one("#eval-tabs", TabbedContent).active == "tab-pairwise")
        assert app.screen.query_one("#pairwise-table", DataTable) is table and table.cursor_row == 1


async def test_keys_to_unbuilt_tabs_work_at_once(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        # `t` from the overview: side by side, the first persona, baseline against the first candidate.
        screen.set_focus(None)
        await pilot.press("t")
        await wait_for(pilot, lambda: pane(app, "tab-transcripts").built)
        await wait_for(pilot, lambda: "ft-a  p9000  conversation 1/3" in screen_text(app))
        assert (screen.slot.persona_id, screen.slot.model_a, screen.slot.model_b) == ("p9000", "baseline", "ft-a")
        # `/` from there: the personas tab, built, its search field focused; typing filters at once.
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "persona-search")
        table = screen.query_one("#personas-table", DataTable)
        assert table.row_count == 9
        await pilot.press(*"grief")
        await wait_for(pilot, lambda: table.row_count == 3)


async def test_drill_down_into_an_unbuilt_personas_tab_applies_its_filter(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert not screen.query_one(PersonasPane).built
        overview = screen.query_one("#overview-table", DataTable)
        overview.focus()
        await pilot.press("down", "down", "enter")          # ft-b's row
        await wait_for(pilot, lambda: screen.query_one(PersonasPane).built)
        table = screen.query_one("#personas-table", DataTable)
        await wait_for(pilot, lambda: app.focused is table)
        assert screen.query_one("#filter-model", Select).value == "ft-b"
        assert screen.query_one("#persona-sort", Select).value == "mean"


async def test_a_view_request_for_a_hidden_tab_builds_it_with_the_filters(results_dir: Path) -> None:
    app = start(results_dir, tab="categories")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await wait_for(pilot, lambda: pane(app, "tab-categories").built)
        table = app.screen.query_one("#categories-table", DataTable)
        assert table.row_count == 3
        await wait_for(pilot, lambda: app.focused is table)   # keys go to the table, not the path field
        assert not pane(app, "tab-pairwise").built and not pane(app, "tab-personas").built



async def test_a_pane_built_late_does_not_take_the_tab_back(results_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A key moved the tab strip on while the previous pane was still being built: when that build ends, its
    table is not focused (TabbedContent follows the focus: under load the tab came back, and the key was
    lost), and the tab the key chose is shown and focused."""
    app = start(results_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        tabs = screen.query_one("#eval-tabs", TabbedContent)
        await show_tab(app, pilot, "tab-pairwise")
        screen.set_focus(None)
        await pilot.pause()
        focused: list[str | None] = []
        real_focus = DataTable.focus
        monkeypatch.setattr(DataTable, "focus", lambda self, *a, **k: (focused.append(self.id), real_focus(self, *a, **k))[1])
        tabs.query_one(Tabs).action_next_tab()   # what `]` does; the content follows on its message
        screen._focus_active_pane()              # the end of the pairwise pane's build, at that moment
        assert "pairwise-table" not in focused
        await wait_for(pilot, lambda: pane(app, "tab-categories").built)
        await wait_for(pilot, lambda: app.focused is screen.query_one("#categories-table", DataTable))
        assert tabs.active == "tab-categories"
