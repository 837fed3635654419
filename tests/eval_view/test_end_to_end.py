"""The two halves together: `tui-tuner eval run` (real runner, loopback OpenAI-compatible fake) writes a
results directory; `eval report` and the viewer read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.eval.report import build_report
from core.eval.results import load_results
from tests.conftest import assert_no_canary
from tests.eval_run.conftest import SMALL_RUBRIC_TOML
from tests.eval_run.fake_openai import FakeOpenAI
from tui_tuner.app import TunerApp
from tui_tuner.cli import main
from tui_tuner.screens.eval import screen as evals
from tui_tuner.screens.eval.transcript import TranscriptPane


@pytest.fixture
def server():
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def _run(server: FakeOpenAI, tmp_path: Path) -> Path:
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
    personas = tmp_path / "personas.json"
    assert main(["eval", "personas", "--count", "4", "--out", str(personas)]) == 0
    out = tmp_path / "results"
    assert main(["eval", "run", "--personas", str(personas), "--output-dir", str(out),
                 "--model", f"baseline={server.url}", "--model", f"coach={server.url}",
                 "--system-prompt", "coach=Be a coach.", "--simulator", server.url, "--judge", server.url,
                 "--rubric", str(rubric), "--conversations", "2", "--turns", "2"]) == 0
    return out


@pytest.fixture
def finished_run(server: FakeOpenAI, tmp_path: Path) -> Path:
    return _run(server, tmp_path)   # the runner owns its event loop, so it runs outside the test's


async def test_run_then_report_then_view(finished_run: Path, capsys) -> None:
    out = finished_run
    results = load_results(out)
    assert [p for p in results.problems if p.severity != "info"] == []
    assert results.models == ["baseline", "coach"] and results.baseline == "baseline" and results.is_complete
    report = build_report(results)
    assert report.comparison("coach", "baseline").n == 4
    assert [m.n_conversations for m in report.models] == [8, 8] and report.pass_threshold == 0.6

    capsys.readouterr()
    assert main(["eval", "report", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdicts"][0]["candidate"] == "coach" and data["complete"] is True
    assert (out / "evaluation_report.md").read_text().startswith("# Evaluation Report")
    assert_no_canary(json.dumps(data), (out / "evaluation_report.md").read_text())

    app = TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(out)}})
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        assert screen.report is not None and screen.report.progress == "16 of 16 conversations done"
        first = results.persona_ids[0]
        screen.show_side_by_side(first, 1)
        await pilot.pause()
        coach = screen.query_one("#pane-b", TranscriptPane)
        assert coach.border_title == "coach"
        record = results.record(first, "coach", 1)
        assert record is not None and record.messages[0].content == "Be a coach."
