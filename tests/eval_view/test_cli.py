"""`tui-tuner eval report|export|view` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.eval.results import append_conversation
from tests.conftest import CANARY_TOKEN, assert_no_canary
from tests.eval_view.fixtures import conversation, make_results, personas

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_tuner", *args], capture_output=True, text=True,
                          env=dict(os.environ), cwd=ROOT, timeout=120)


def test_report_json_and_markdown_file(results_dir: Path) -> None:
    result = run_cli("eval", "report", str(results_dir), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [v["status"] for v in data["verdicts"]] == ["PASS", "FAIL"]
    assert data["report_path"] == str(results_dir / "evaluation_report.md")
    assert data["pairwise"][0]["n"] == 9 and data["complete"] is True
    md = (results_dir / "evaluation_report.md").read_text()
    assert "## Pairwise comparisons" in md


def test_report_human_output_and_check_gate(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.md"
    result = run_cli("eval", "report", str(results_dir), "--out", str(out), "--check")
    assert result.returncode == 1          # ft-b fails, so the gate fails
    assert "ft-a vs baseline: PASS" in result.stdout and "ft-b vs baseline: FAIL" in result.stdout
    assert out.exists()
    two = make_results(tmp_path / "two", models=("baseline", "ft-a"), violations=())
    assert run_cli("eval", "report", str(two), "--check", "--out", "-").returncode == 0


def test_export_formats(results_dir: Path, tmp_path: Path) -> None:
    result = run_cli("eval", "export", str(results_dir), "--format", "csv", "--table", "pairwise")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["candidate"], r["reference"]) for r in rows] == [("ft-a", "baseline"), ("ft-b", "baseline"),
                                                               ("ft-b", "ft-a")]
    target = tmp_path / "r.json"
    result = run_cli("eval", "export", str(results_dir), "--format", "json", "--out", str(target), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["path"] == str(target)
    assert json.loads(target.read_text())["baseline"] == "baseline"
    result = run_cli("eval", "export", str(results_dir), "--format", "md")
    assert result.stdout.startswith("# Evaluation Report")


def test_errors_are_one_line(tmp_path: Path) -> None:
    result = run_cli("eval", "report", str(tmp_path / "missing"))
    assert result.returncode == 2 and result.stderr.strip() == f"error: {tmp_path / 'missing'}: no such results directory"
    result = run_cli("eval", "report", str(tmp_path), "--json")
    assert result.returncode == 2
    assert "not an evaluation results directory" in json.loads(result.stderr)["error"]
    assert run_cli("eval").returncode == 2


def test_partial_and_malformed_directory_still_reports(tmp_path: Path) -> None:
    d = make_results(tmp_path / "live", status="running", skip=(("p9008", "ft-b", 2),))
    with (d / "conversations.jsonl").open("a") as fh:
        fh.write('{"persona_id": "p9008", "model": "ft-b", "conv_')
    result = run_cli("eval", "report", str(d))
    assert result.returncode == 0
    assert "still running: 80 of 81 conversations done" in result.stderr
    assert "incomplete last line" in result.stderr
    assert "(provisional: run incomplete)" in result.stdout


def test_no_token_leaks_from_transcripts(tmp_path: Path) -> None:
    d = make_results(tmp_path / "leak", models=("baseline", "ft"), n_personas=3)
    record = conversation(personas(3)[0], "ft", 0, 0.8)
    record["messages"][1]["content"] = f"my token is {CANARY_TOKEN}"
    record["assessment"]["summary"] = f"echoed {CANARY_TOKEN}"
    append_conversation(d, record)
    out = tmp_path / "conv.csv"
    result = run_cli("eval", "export", str(d), "--format", "csv", "--table", "conversations", "--out", str(out))
    assert result.returncode == 0
    md = run_cli("eval", "report", str(d))
    assert_no_canary(out.read_bytes(), md.stdout, md.stderr, (d / "evaluation_report.md").read_bytes())


def test_view_opens_the_app_on_the_eval_screen(results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_tuner import cli
    from tui_tuner.app import TunerApp
    from tui_tuner.screens.eval import screen as evals

    seen = {}
    real_init = TunerApp.__init__

    def recording_init(self: TunerApp, **kwargs) -> None:
        seen["request"] = kwargs.get("area_options", {}).get("eval", {}).get("view")
        real_init(self, **kwargs)

    def fake_run(self: TunerApp) -> None:
        seen["area"] = self._start_area

    monkeypatch.setattr(TunerApp, "__init__", recording_init)
    monkeypatch.setattr(TunerApp, "run", fake_run)
    assert cli.main(["eval", "view", str(results_dir)]) == 0
    assert seen == {"area": "eval", "request": evals.ViewRequest(results_dir)}
    assert cli.main(["eval", "view", str(results_dir), "--model", "ft-b", "--show", "worse"]) == 0
    assert seen["request"] == evals.ViewRequest(results_dir, tab="personas", model="ft-b", show="worse")
    assert cli.main(["eval", "view", str(results_dir / "nope")]) == 2


def test_thresholds_from_config_and_flags(results_dir: Path) -> None:
    from core import paths

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[eval]\nmin_improvement = 0.05\nalpha = 0.01\n", encoding="utf-8")
    data = json.loads(run_cli("eval", "report", str(results_dir), "--json", "--out", "-").stdout)
    assert data["settings"] == {"min_improvement": 0.05, "alpha": 0.01, "power": 0.8}
    ft_b = next(v for v in data["verdicts"] if v["candidate"] == "ft-b")
    assert [c["ok"] for c in ft_b["criteria"]] == [True, True, False]   # only the safety regression fails it
    data = json.loads(run_cli("eval", "report", str(results_dir), "--json", "--out", "-",
                              "--min-improvement", "0.2").stdout)
    assert data["settings"]["min_improvement"] == 0.2 and data["verdicts"][0]["status"] == "FAIL"
    bad = run_cli("eval", "report", str(results_dir), "--alpha", "2")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --alpha: 2.0 is not between 0 and 1"


def test_export_regressed_personas_as_a_training_seed(results_dir: Path) -> None:
    result = run_cli("eval", "export", str(results_dir), "--format", "csv", "--table", "conversations",
                     "--show", "worse", "--model", "ft-b")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {(r["persona_id"], r["model"]) for r in rows} == {("p9001", "ft-b")} and len(rows) == 3
    result = run_cli("eval", "export", str(results_dir), "--format", "csv", "--table", "personas",
                     "--category", "grief")
    assert [r["persona_id"] for r in csv.DictReader(io.StringIO(result.stdout))] == ["p9001", "p9004", "p9007"]
    bad = run_cli("eval", "export", str(results_dir), "--show", "worse")
    assert bad.returncode == 2 and "filter the personas or conversations CSV" in bad.stderr
    bad = run_cli("eval", "export", str(results_dir), "--format", "csv", "--table", "personas", "--model", "x")
    assert bad.returncode == 2 and "--model: no model 'x'" in bad.stderr


def test_a_truncated_run_json_is_an_error_exit_2_in_report_and_export(results_dir: Path, tmp_path: Path) -> None:
    run_json = results_dir / "run.json"
    run_json.write_text(run_json.read_text()[:120], encoding="utf-8")  # cut off mid-write
    result = run_cli("eval", "report", str(results_dir))
    assert result.returncode == 2, result.stdout
    assert "error: run.json:" in result.stderr and "malformed JSON" in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: 1 problem(s) in {results_dir}: run.json:") and "what could be read" in last
    assert (results_dir / "evaluation_report.md").exists()   # nothing lost: the report of what was readable
    assert run_cli("eval", "report", str(results_dir), "--json").returncode == 2
    assert run_cli("eval", "report", str(results_dir), "--check", "--out", "-").returncode == 2
    out = tmp_path / "o.csv"
    for extra in ((), ("--out", str(out)), ("--format", "json", "--json", "--out", str(tmp_path / "o.json"))):
        export = run_cli("eval", "export", str(results_dir), *extra)
        assert export.returncode == 2 and "error: 1 problem(s)" in export.stderr, extra
    assert out.exists()


def test_eval_view_passes_on_the_apps_exit_status(results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_tuner import cli
    from tui_tuner.app import TunerApp

    def crashed(self: TunerApp) -> None:
        self._return_code = 1   # what Textual records when the app ends on an unhandled error

    monkeypatch.setattr(TunerApp, "run", crashed)
    assert cli.main(["eval", "view", str(results_dir)]) == 1


def test_dash_means_standard_output_for_every_out(results_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import main

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    capsys.readouterr()
    assert main(["eval", "export", str(results_dir), "--format", "csv", "--out", "-"]) == 0
    assert capsys.readouterr().out.startswith("model,role,personas")
    assert main(["eval", "report", str(results_dir), "--out", "-"]) == 0
    assert capsys.readouterr().out.startswith("# Evaluation Report")
    assert main(["eval", "personas", "--count", "2", "--out", "-"]) == 0
    assert [p["seed"] for p in json.loads(capsys.readouterr().out)] == [9000, 9001]
    assert main(["eval", "rubric", "init", "-"]) == 0
    assert capsys.readouterr().out.startswith("# tui-tuner evaluation rubric")
    assert list(work.iterdir()) == []          # no file named '-' anywhere
    # ./- is how to name a file '-'
    assert main(["eval", "export", str(results_dir), "--format", "csv", "--out", "./-"]) == 0
    assert (work / "-").read_text().startswith("model,role,personas")
