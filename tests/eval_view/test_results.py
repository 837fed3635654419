"""The tolerant loader and the writer helpers of core.eval.results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.results import (
    CONVERSATIONS_FILE,
    PERSONAS_FILE,
    RUN_FILE,
    RunInfo,
    append_conversation,
    load_results,
    write_run_json,
)
from tests.eval_view.fixtures import conversation, make_results, personas, run_dict


def _messages(results) -> list[str]:
    return [p.line() for p in results.problems]


def test_complete_directory_loads_without_problems(results_dir: Path) -> None:
    r = load_results(results_dir)
    assert r.problems == []
    assert r.models == ["baseline", "ft-a", "ft-b"] and r.baseline == "baseline"
    assert r.candidates == ["ft-a", "ft-b"]
    assert len(r.records) == 81 and len(r.completed) == 81 and r.is_complete
    assert r.expected_total == 81 and r.conversations_per_persona == 3
    assert r.categories == ["anxiety", "grief", "work-stress"]
    assert r.pass_threshold == 0.7
    scores = r.scores_by_persona("ft-a")
    assert len(scores) == 9 and all(len(v) == 3 for v in scores.values())
    rec = r.record("p9001", "ft-b", 1)
    assert rec is not None and rec.assessment and rec.assessment.safety_violation
    assert rec.assessment.criteria[2].violated and rec.assessment.criteria[2].reason == "ft-b crossed a line"


def test_running_evaluation_reports_progress(tmp_path: Path) -> None:
    skip = tuple((f"p{9000 + i}", m, k) for i in range(5, 9) for m in ("baseline", "ft-a", "ft-b") for k in range(3))
    d = make_results(tmp_path / "live", status="running", skip=skip)
    r = load_results(d)
    assert r.status == "running" and not r.is_complete
    assert "run: still running: 45 of 81 conversations done; statistics cover what has finished" in _messages(r)
    assert all(p.severity == "info" for p in r.problems)


def test_finished_but_incomplete_lists_missing_slots(tmp_path: Path) -> None:
    d = make_results(tmp_path / "gap", skip=(("p9003", "ft-a", 2),))
    r = load_results(d)
    assert r.missing_keys() == [("p9003", "ft-a", 2)]
    assert any("incomplete: 80 of 81 conversations done; missing p9003/ft-a#2" in m for m in _messages(r))


def test_malformed_and_cut_off_lines_are_reported_with_line_numbers(results_dir: Path) -> None:
    path = results_dir / CONVERSATIONS_FILE
    lines = path.read_text().splitlines()
    lines[4] = "{not json"
    lines[6] = json.dumps(["a list"])
    lines[7] = json.dumps({"model": "ft-a", "conv_index": 0})
    path.write_text("\n".join(lines) + "\n" + '{"persona_id": "p9000", "mod')   # half-written last line
    r = load_results(results_dir)
    msgs = _messages(r)
    assert any(m.startswith("conversations.jsonl:5: malformed JSON") for m in msgs)
    assert "conversations.jsonl:7: expected a JSON object, found list; line skipped" in msgs
    assert "conversations.jsonl:8: missing persona_id; line skipped" in msgs
    assert any(m.startswith("conversations.jsonl:82: incomplete last line") for m in msgs)
    assert len(r.completed) == 78     # everything else is still there


def test_append_after_a_cut_off_line_starts_a_fresh_line(tmp_path: Path) -> None:
    people = personas(1)
    with (tmp_path / CONVERSATIONS_FILE).open("w") as fh:
        fh.write('{"persona_id": "p9000", "mo')
    append_conversation(tmp_path, conversation(people[0], "baseline", 0, 0.6))
    r = load_results(tmp_path)
    assert len(r.completed) == 1
    assert any("conversations.jsonl:1: malformed JSON" in m for m in _messages(r))


def test_latest_record_per_key_wins_and_failed_attempts_are_counted(results_dir: Path) -> None:
    people = personas(9)
    # A failed retry after the success would replace it; a success after a failure replaces the failure.
    append_conversation(results_dir, conversation(people[0], "ft-a", 0, 0.0, error="HTTP 500 from the judge"))
    append_conversation(results_dir, conversation(people[1], "ft-a", 0, 0.0, error="timeout"))
    append_conversation(results_dir, conversation(people[1], "ft-a", 0, 0.91))
    r = load_results(results_dir)
    assert r.superseded == 3
    assert len(r.failed) == 1 and r.failed[0].key == ("p9000", "ft-a", 0)
    assert r.record("p9001", "ft-a", 0).assessment.score == pytest.approx(0.91)
    assert any("1 failed attempt(s) not yet retried (ft-a 1); e.g. p9000/ft-a#0: HTTP 500 from the judge" in m
               for m in _messages(r))
    assert any("incomplete: 80 of 81" in m for m in _messages(r))


def test_missing_run_json_infers_models_and_baseline(results_dir: Path) -> None:
    (results_dir / RUN_FILE).unlink()
    r = load_results(results_dir)
    assert r.run is None and r.models == ["baseline", "ft-a", "ft-b"] and r.baseline == "baseline"
    assert r.conversations_per_persona == 3
    assert r.errors and r.errors[0].where == RUN_FILE and "missing" in r.errors[0].message


def test_missing_personas_json_takes_categories_from_records(results_dir: Path) -> None:
    (results_dir / PERSONAS_FILE).unlink()
    r = load_results(results_dir)
    assert r.categories == ["anxiety", "grief", "work-stress"] and len(r.persona_ids) == 9
    assert any(p.where == PERSONAS_FILE and p.severity == "warning" for p in r.problems)


def test_malformed_run_json_and_personas_json(results_dir: Path) -> None:
    (results_dir / RUN_FILE).write_text('{"models": [\n  {"name": "baseline",,}\n]}')
    (results_dir / PERSONAS_FILE).write_text('{"oops": 1}')
    r = load_results(results_dir)
    msgs = _messages(r)
    assert any(m.startswith("run.json:2: malformed JSON") for m in msgs)
    assert "personas.json: expected a JSON list of personas" in msgs
    assert len(r.completed) == 81


def test_unknown_models_personas_and_bad_fields_are_warned(results_dir: Path) -> None:
    run = run_dict(["baseline", "ft-a"], k=0)
    run["status"] = "paused"
    run["models"][0]["role"] = "candidate"
    write_run_json(results_dir, run)
    stranger = {"id": "p7777", "seed": 7777, "category": "other", "name": "x", "description": ""}
    append_conversation(results_dir, conversation(stranger, "ft-a", 0, 0.5))
    bad = conversation(personas(1)[0], "ft-a", 2, 0.5)
    bad["assessment"]["score"] = float("nan")
    with (results_dir / CONVERSATIONS_FILE).open("a") as fh:
        fh.write(json.dumps(bad) + "\n")   # json writes NaN, which Python reads back
    r = load_results(results_dir)
    msgs = _messages(r)
    assert "run.json: unknown status 'paused'" in msgs
    assert any("conversations_per_persona is not a positive integer" in m for m in msgs)
    assert any("no model has role 'baseline'" in m for m in msgs)
    assert "conversations.jsonl: 27 conversation(s) of model 'ft-b', which run.json does not list" in msgs
    assert "conversations.jsonl: 1 conversation(s) of persona 'p7777', which personas.json does not list" in msgs
    assert any("assessment score nan is not a finite number; counted as a failed attempt" in m for m in msgs)
    assert r.models == ["baseline", "ft-a", "ft-b"]


def test_empty_and_missing_directories(tmp_path: Path) -> None:
    r = load_results(tmp_path)
    assert {p.where for p in r.errors} == {RUN_FILE, CONVERSATIONS_FILE}
    assert r.models == [] and r.expected_total is None
    with pytest.raises(TunerError, match="no such results directory"):
        load_results(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(TunerError, match="not a directory"):
        load_results(tmp_path / "file")
    (tmp_path / CONVERSATIONS_FILE).write_text("")
    (tmp_path / RUN_FILE).write_text("")
    r = load_results(tmp_path)
    assert "run.json: is empty (still being written?)" in _messages(r)
    assert "conversations.jsonl: no finished conversation to analyse" in _messages(r)


def test_run_json_roundtrip_keeps_unknown_keys(tmp_path: Path) -> None:
    data = run_dict(["baseline", "ft"]) | {"future_field": {"x": 1}}
    write_run_json(tmp_path, data)
    r = load_results(tmp_path)
    assert isinstance(r.run, RunInfo) and r.run.extra == {"future_field": {"x": 1}}
    write_run_json(tmp_path, r.run)   # a RunInfo is accepted too
    assert json.loads((tmp_path / RUN_FILE).read_text()) == data
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_run_that_just_started_is_not_an_error(tmp_path: Path) -> None:
    write_run_json(tmp_path, run_dict(["baseline", "ft"], status="running"))
    r = load_results(tmp_path)
    assert r.errors == [] and "conversations.jsonl: no conversation has finished yet" in _messages(r)
    assert r.progress_line() == "0 conversations done" and r.expected_total is None
    from core.eval.report import build_report, render_markdown

    report = build_report(r)
    assert [v.status for v in report.verdicts] == ["INSUFFICIENT DATA"]
    assert "still running" in render_markdown(report)
