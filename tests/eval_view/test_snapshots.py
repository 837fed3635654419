"""Snapshots of the Evaluate screen (fixed data, fixed size, relative paths, all five areas in the bar)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Select, TabbedContent

from tests.eval_view.fixtures import make_results
from tests.support.pilot_wait import wait_for
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base
from tui_tuner.screens.eval import screen as evals
from tui_tuner.screens.eval.lazy_pane import LazyPane

SIZE = (160, 48)


@pytest.fixture
def snapshot_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The area bar lists the areas built so far; pin it so other areas landing does not churn the image.
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))
    monkeypatch.chdir(tmp_path)   # the path input shows "run1", not a random tmp path

    def build(name: str = "run1", **kwargs) -> TunerApp:
        make_results(tmp_path / name, **kwargs)
        app = TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(Path(name))}})
        app.animation_level = "none"
        return app

    return build


async def _settle(pilot: Pilot) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def _show_tab(pilot: Pilot, tab: str) -> None:
    """The tab shown, its pane built (on its first showing) and focused inside."""
    screen = pilot.app.screen
    screen.query_one("#eval-tabs", TabbedContent).active = tab
    pane = screen.query_one(f"#{tab}", LazyPane)
    await wait_for(pilot, lambda: pane.built and pilot.app.focused is not None and pane in pilot.app.focused.ancestors)
    await pilot.pause()


def test_overview(snap_compare, snapshot_app) -> None:
    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=_settle)


def test_pairwise(snap_compare, snapshot_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        await _show_tab(pilot, "tab-pairwise")

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_personas_filtered_with_drill_down(snap_compare, snapshot_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        screen = pilot.app.screen
        await _show_tab(pilot, "tab-personas")
        screen.query_one("#filter-model", Select).value = "ft-b"
        screen.query_one("#persona-sort", Select).value = "delta"
        table = screen.query_one("#personas-table")
        table.focus()
        await wait_for(pilot, lambda: table.border_title.startswith("9 of 9") and str(next(iter(table.rows)).value) == "p9001")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_side_by_side_with_safety_violation(snap_compare, snapshot_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        screen = pilot.app.screen
        screen.slot.model_b = "ft-b"
        screen.show_side_by_side("p9001", 1)
        pane = screen.query_one("#tab-transcripts", LazyPane)
        await wait_for(pilot, lambda: pane.built and pilot.app.focused is screen.query_one("#pane-a"))
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)


def test_running_partial_directory_banner(snap_compare, snapshot_app, tmp_path: Path) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)

    skip = tuple((f"p{9000 + i}", m, k) for i in range(4, 6) for m in ("baseline", "ft") for k in range(3))
    app = snapshot_app("live", models=("baseline", "ft"), n_personas=6, status="running", skip=skip)
    with (tmp_path / "live" / "conversations.jsonl").open("a") as fh:
        fh.write('{"persona_id": "p9004", "model": "ft", "conv_in')
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_export_dialog(snap_compare, snapshot_app) -> None:
    async def run_before(pilot: Pilot) -> None:
        await _settle(pilot)
        await _show_tab(pilot, "tab-personas")
        pilot.app.screen.query_one("#filter-show", Select).value = "safety"
        await pilot.press("x")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ExportDialog")
        await pilot.pause()

    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=run_before)
