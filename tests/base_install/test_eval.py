"""Evaluation in the base install: personas, a run against a stand-in OpenAI-compatible server, the report,
the viewer (Pilot), and a run started from the Evaluate screen's form (the path that once crashed the app
because `httpx` was not installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from core.eval.results import CONVERSATIONS_FILE, RUN_FILE
from tests.base_install.conftest import run_cli
from tests.conftest import assert_no_canary
from tests.eval_run.fake_openai import FakeOpenAI
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner.app import TunerApp
from tui_tuner.screens.eval import screen as evals
from tui_tuner.screens.eval.run_dialog import EvalRunDialog

pytestmark = pytest.mark.timeout(300)
SIZE = (120, 40)


def plain(widget: Static) -> str:
    content = widget.content
    return getattr(content, "plain", str(content))


async def settle(app: TunerApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause()
    await wait_for_workers(pilot)


def cli_run(server: FakeOpenAI, workdir: Path) -> Path:
    """personas → run → report, with relative paths from a working folder of the user's."""
    personas = run_cli("eval", "personas", "--count", "2", "--out", "personas.json", cwd=workdir)
    assert personas.returncode == 0, personas.stderr
    rubric = run_cli("eval", "rubric", "init", "rubric.toml", cwd=workdir)
    assert rubric.returncode == 0, rubric.stderr
    run = run_cli("eval", "run", "--personas", "personas.json", "--output-dir", "results",
                  "--model", f"baseline={server.url}", "--model", f"coach={server.url}",
                  "--system-prompt", "coach=You are a supportive coach.", "--simulator", server.url,
                  "--judge", server.url, "--rubric", "rubric.toml", "--conversations", "1", "--turns", "2",
                  cwd=workdir, timeout=240)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    results = workdir / "results"
    assert len((results / CONVERSATIONS_FILE).read_text().splitlines()) == 4
    assert json.loads((results / RUN_FILE).read_text())["status"] == "finished"
    return results


async def test_cli_run_report_and_the_viewer(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    results = cli_run(fake_server, tmp_path)
    report = run_cli("eval", "report", "results", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "coach" in report.stdout and (results / "evaluation_report.md").is_file()
    assert "verdict" in (results / "evaluation_report.md").read_text().lower()
    assert_no_canary(report.stdout, report.stderr, (results / CONVERSATIONS_FILE).read_text())

    # `tui-tuner eval view results`, under Pilot
    app = TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(results)}})
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, evals.EvalScreen) and screen.directory == results
        assert screen.query_one("#overview-table", DataTable).row_count == 2
        assert "4 of 4 conversations done" in plain(screen.query_one("#eval-summary", Static))
        assert app.is_running


async def test_run_from_the_evaluate_form(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    assert run_cli("eval", "rubric", "init", "rubric.toml", cwd=tmp_path).returncode == 0
    out = tmp_path / "tui-results"
    app = TunerApp(start_area="eval")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, evals.EvalScreen)
        if isinstance(app.focused, Input):
            await pilot.press("escape")
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, EvalRunDialog), what="the run dialog open")
        dialog = app.screen
        assert isinstance(dialog, EvalRunDialog)
        for key, value in {"run-output": str(out), "run-personas": "2",
                           "run-models": f"baseline={fake_server.url}, coach={fake_server.url}",
                           "run-simulator": fake_server.url, "run-judge": fake_server.url,
                           "run-rubric": str(tmp_path / "rubric.toml"), "run-conversations": "1",
                           "run-turns": "2"}.items():
            dialog.query_one(f"#{key}", Input).value = value
        await pilot.pause()
        await pilot.click("#run-start")
        await wait_for(pilot, lambda: app.screen is screen and not screen.run_in_progress, timeout=60,
                       what="the dialog closed and the run ended")
        await settle(app, pilot)
        status = plain(screen.query_one("#eval-run-status", Static))
        assert status.startswith("finished: 4/4 conversations"), status
        assert app.is_running and screen.directory == out
