"""Running an evaluation from the Evaluate screen (R): the form, the live run, stop and resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Button, DataTable, Input, Static

from core.eval.results import CONVERSATIONS_FILE, RUN_FILE
from tests.conftest import assert_no_canary
from tests.eval_run.fake_openai import FakeOpenAI
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner.app import TunerApp
from tui_tuner.screens.eval.run_dialog import EvalRunDialog
from tui_tuner.screens.eval.screen import EvalScreen

SIZE = (160, 48)


def plain(widget: Static) -> str:
    content = widget.content
    return getattr(content, "plain", str(content))


async def fill(pilot, values: dict[str, str]) -> EvalRunDialog:  # type: ignore[no-untyped-def]
    if isinstance(pilot.app.focused, Input):
        await pilot.press("escape")   # the empty screen starts in the directory field, as a user sees it
    await pilot.press("R")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, EvalRunDialog), what="the run dialog open")
    dialog = pilot.app.screen
    assert isinstance(dialog, EvalRunDialog)
    for key, value in values.items():
        dialog.query_one(f"#{key}", Input).value = value
    return dialog


async def wait_back(pilot, screen: EvalScreen) -> None:  # type: ignore[no-untyped-def]
    """Until the dialog has closed (dismissing takes a few turns of the message loop)."""
    await wait_for(pilot, lambda: pilot.app.screen is screen, what="the dialog closed")


async def wait_run(pilot, screen: EvalScreen) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: not screen.run_in_progress, timeout=60, what="the run ended")
    await wait_for_workers(pilot)


def form(server: FakeOpenAI, out: Path, rubric: Path, personas: str = "2") -> dict[str, str]:
    return {"run-output": str(out), "run-personas": personas,
            "run-models": f"baseline={server.url}, coach={server.url}", "run-simulator": server.url,
            "run-judge": server.url, "run-rubric": str(rubric), "run-system": "You are a supportive coach.",
            "run-conversations": "1", "run-turns": "2"}


async def test_run_from_the_form_opens_the_results_as_they_come(fake_server: FakeOpenAI, small_rubric_file: Path,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "results"
    app = ScreenHost(EvalScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        # A wrong field keeps the dialog up with one line saying what is wrong.
        dialog = await fill(pilot, {**form(fake_server, out, small_rubric_file), "run-models": ""})
        await pilot.click("#run-start")
        await pilot.pause()
        assert app.screen is dialog
        assert plain(dialog.query_one("#run-error", Static)).startswith("model: no model to evaluate")
        dialog.query_one("#run-models", Input).value = f"baseline={fake_server.url}, coach={fake_server.url}"
        start = dialog.query_one("#run-start", Button)
        # A Button ignores a press during its 0.2 s press effect, which the first click started.
        await wait_for(pilot, lambda: not start.has_class("-active"), what="the start button's press effect over")
        await pilot.click("#run-start")
        await wait_back(pilot, screen)
        assert app.screen is screen, plain(dialog.query_one("#run-error", Static))
        await wait_run(pilot, screen)
        status = plain(screen.query_one("#eval-run-status", Static))
        assert status.startswith("finished: 4/4 conversations"), status
        assert screen.directory == out and screen.query_one("#overview-table", DataTable).row_count == 2
        assert len((out / CONVERSATIONS_FILE).read_text().splitlines()) == 4
        assert json.loads((out / RUN_FILE).read_text())["status"] == "finished"
        # The model under test got the system prompt from the form.
        assert any(r.role == "model" and "supportive coach" in json.dumps(r.body) for r in fake_server.requests)
        assert_no_canary(status, app.export_screenshot(), (out / CONVERSATIONS_FILE).read_text())
        # The next run starts from the same form.
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, EvalRunDialog))
        assert app.screen.query_one("#run-output", Input).value == str(out)
        await pilot.press("escape")


async def test_stop_keeps_finished_work_and_the_same_directory_resumes(small_rubric_file: Path,
                                                                       tmp_path: Path) -> None:
    server = FakeOpenAI(slots=1, delay_s=0.05).start()
    out = tmp_path / "results"
    try:
        app = ScreenHost(EvalScreen)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, EvalScreen)
            await fill(pilot, form(server, out, small_rubric_file, personas="4"))
            await pilot.click("#run-start")
            await wait_back(pilot, screen)
            conversations = out / CONVERSATIONS_FILE
            await wait_for(pilot, lambda: conversations.exists() and conversations.read_text().strip(), timeout=30)
            assert screen.run_in_progress
            await pilot.press("K")
            await wait_run(pilot, screen)
            assert plain(screen.query_one("#eval-run-status", Static)).startswith("stopped:")
            assert json.loads((out / RUN_FILE).read_text())["status"] == "interrupted"
            saved = len((out / CONVERSATIONS_FILE).read_text().splitlines())
            assert 1 <= saved < 8
            # R on the unfinished run offers Resume, with the settings the run recorded.
            await pilot.press("R")
            await wait_for(pilot, lambda: isinstance(app.screen, EvalRunDialog))
            note = plain(app.screen.query_one("#run-resume-note", Static))
            assert f"{saved} of 8 conversations done" in note
            await pilot.click("#run-resume")
            await wait_back(pilot, screen)
            await wait_run(pilot, screen)
            status = plain(screen.query_one("#eval-run-status", Static))
            assert status.startswith("finished: 8/8"), status
            records = [json.loads(line) for line in (out / CONVERSATIONS_FILE).read_text().splitlines()]
            keys = {(r["persona_id"], r["model"], r["conv_index"]) for r in records if r["assessment"]}
            assert len(keys) == 8   # nothing redone twice for a finished conversation, nothing lost
    finally:
        server.stop()


async def test_a_dead_server_is_one_line_and_the_screen_stays_up(small_rubric_file: Path, tmp_path: Path) -> None:
    from core.eval.server import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    app = ScreenHost(EvalScreen)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await fill(pilot, {"run-output": str(tmp_path / "r"), "run-personas": "1", "run-models": f"baseline={dead}",
                           "run-simulator": dead, "run-judge": dead, "run-rubric": str(small_rubric_file)})
        await pilot.click("#run-start")
        await wait_back(pilot, screen)
        await wait_run(pilot, screen)
        status = plain(screen.query_one("#eval-run-status", Static))
        assert status.startswith("run not started:") and "\n" not in status
        assert app.screen is screen and app.is_running


def test_snapshot_run_form_with_an_error(snap_compare, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tui_tuner import areas
    from tui_tuner.screens import base

    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await fill(pilot, {"run-output": "evals/coach-vs-base", "run-personas": "15", "run-models": "baseline=8080",
                           "run-simulator": "", "run-judge": "8090", "run-rubric": "", "run-system": "",
                           "run-conversations": "", "run-turns": ""})
        # Enter in a field starts too; a click would leave the button's press effect in the image.
        pilot.app.screen.query_one("#run-models", Input).focus()
        await pilot.press("enter")
        await pilot.pause()

    app = TunerApp(start_area="eval")
    app.animation_level = "none"
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
