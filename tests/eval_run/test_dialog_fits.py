"""The Evaluate area and its run dialog read whole at 80x24 and 160x48 (issue 11: "nothing essential is
clipped"): what the dialog says about an unfinished run, every field under its label, the directory hint."""

from __future__ import annotations

from pathlib import Path

from textual.containers import VerticalScroll
from textual.widgets import Input

from tests.app.test_snapshots import make_app, settle, stable  # noqa: F401 (stable: the fixture)
from tests.eval_view.fixtures import make_results
from tests.support.screen_text import screen_lines


def _text(lines: list[str]) -> str:
    return " ".join(" ".join(lines).split())


async def _open_run_dialog(pilot, directory: Path) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    pilot.app.screen.directory = directory
    await pilot.press("escape", "R")
    await settle(pilot)


async def test_resume_dialog_at_80x24_says_how_far_the_run_got(stable: None) -> None:  # noqa: F811
    unfinished = make_results(Path("unfinished"), models=("baseline", "ft"), n_personas=3, k=2, status="running",
                              skip=(("p9000", "ft", 1), ("p9002", "baseline", 0)))
    app = make_app("eval", "tuner-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_run_dialog(pilot, unfinished)
        lines = screen_lines(app)
        assert "(10 of 12 conversations done)" in _text(lines)
        dialog = app.screen.query_one("EvalRunDialog > Vertical")
        assert dialog.region.right <= 80, dialog.region  # the whole dialog, its right border included
        for button in ("Cancel", "Resume", "Start"):
            assert button in _text(lines), button


async def test_run_form_shows_every_field_under_its_label_at_160x48(stable: None) -> None:  # noqa: F811
    app = make_app("eval", "tuner-dark")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "R")
        await settle(pilot)
        scroll = app.screen.query_one(VerticalScroll)
        hidden = [field.id for field in app.screen.query(Input) if not scroll.region.contains_region(field.region)]
        assert hidden == [], f"fields out of view: {hidden}"
        text = _text(screen_lines(app))
        assert "e.g. @system.txt" in text and "e.g. rubrics/coaching.toml" in text


async def test_directory_hint_reads_whole_at_80x24(stable: None) -> None:  # noqa: F811
    app = make_app("eval", "tuner-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#eval-dir", Input)
        rows = screen_lines(app)[field.region.y:field.region.bottom]
        assert any(str(field.placeholder) in row[:field.region.right] for row in rows), rows
