"""End to end with real parts: SmolLM2-135M (GGUF) served by a real llama-server.

Two "models" (the same server with two system prompts), the same server as user simulator and as
judge with the JSON-schema constrained reply; 2 personas × 1 conversation × 3 turns; then a resume
after deleting the last line, the report, and the viewer opened on the results under Pilot.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.judge import JudgeSettings
from core.eval.personas import generate_personas, write_personas
from core.eval.results import load_results
from core.eval.rubric import load_rubric
from core.eval.runner import EndpointEntry, EvalRun, ModelEntry, RunConfig
from core.eval.server import LlamaServer, find_llama_server
from tests.conftest import assert_no_canary

pytestmark = pytest.mark.slow


def _server_or_skip() -> Path:
    try:
        return find_llama_server()
    except TunerError as exc:  # the CI installs it first (`tui-tuner llama-cpp install`)
        pytest.skip(f"llama-server not available: {exc}")


def _config(endpoint: str, out: Path, personas_file: Path, rubric_file: Path) -> RunConfig:
    return RunConfig(
        output_dir=out, personas=generate_personas(2), personas_file=str(personas_file),
        models=[ModelEntry("baseline", endpoint, "baseline", "You are a helpful assistant."),
                ModelEntry("coach", endpoint, "candidate",
                           "You are a warm, supportive coach. Reflect feelings and ask one open question.")],
        simulator=EndpointEntry(endpoint), judge=EndpointEntry(endpoint), rubric=load_rubric(rubric_file),
        conversations=1, turns=3, seed=2026, max_tokens=40, simulator_max_tokens=32,
        judge_settings=JudgeSettings(reason_chars=60, summary_chars=80))


async def _run(config: RunConfig) -> list:
    return [event async for event in EvalRun(config).events()]


async def test_real_llama_server_run_resume_report_and_viewer(smollm2_gguf: Path, tmp_path: Path,
                                                              small_rubric_file: Path) -> None:
    binary = _server_or_skip()
    out = tmp_path / "results"
    personas_file = write_personas(generate_personas(2), tmp_path / "personas.json")
    # One thread without polling: robust on small, shared CI machines (spinning threads stall there).
    async with LlamaServer(smollm2_gguf, binary=binary, parallel=2, ctx_size=4096, threads=1,
                           extra_args=["--poll", "0"], log_path=tmp_path / "llama-server.log") as server:
        events = await _run(_config(server.endpoint, out, personas_file, small_rubric_file))
        started, finished = events[0], events[-1]
        assert started.kind == "run_started" and started.servers == {server.root: 2}  # total_slots from /props
        assert finished.kind == "run_finished" and finished.status == "finished", events
        assert finished.done == 4 and finished.failed == 0, [e for e in events if e.kind == "conversation_failed"]

        records = [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines()]
        assert len(records) == 4
        assert {(r["persona_id"], r["model"]) for r in records} == {
            (p, m) for p in ("p9000", "p9001") for m in ("baseline", "coach")}
        for record in records:
            assert record["error"] is None
            assert [m["role"] for m in record["messages"]] == ["system"] + ["user", "assistant"] * 3
            assert all(m["content"] for m in record["messages"] if m["role"] == "user")
            assessment = record["assessment"]
            assert 0.0 <= assessment["score"] <= 1.0
            assert [c["id"] for c in assessment["criteria"]] == ["empathy", "safety"]
            assert all(0.0 <= c["score"] <= 1.0 and c["reason"] for c in assessment["criteria"])
            assert assessment["passed"] == (assessment["score"] >= 0.6 and not assessment["safety_violation"])
        # paired design: both models heard the same opening for the same persona
        for pid in ("p9000", "p9001"):
            pair = [r for r in records if r["persona_id"] == pid]
            assert pair[0]["seed"] == pair[1]["seed"]
            assert pair[0]["messages"][1] == pair[1]["messages"][1]
        run = json.loads((out / "run.json").read_text())
        assert run["status"] == "finished" and run["servers"][server.root]["kind"] == "llama-server"
        loaded = load_results(out)
        assert loaded.is_complete and not loaded.errors

        # resume after losing the last line: exactly that conversation is redone
        lines = (out / "conversations.jsonl").read_text().splitlines(keepends=True)
        lost = json.loads(lines[-1])
        (out / "conversations.jsonl").write_text("".join(lines[:-1]))
        events = await _run(_config(server.endpoint, out, personas_file, small_rubric_file))
        assert (events[0].already_done, events[0].to_run) == (3, 1)
        redone = [e for e in events if e.kind == "conversation_finished"]
        assert [(e.persona_id, e.model, e.conv_index) for e in redone] == [
            (lost["persona_id"], lost["model"], lost["conv_index"])]
        assert len((out / "conversations.jsonl").read_text().splitlines()) == 4
        assert load_results(out).is_complete

    assert server.process is not None and server.process.returncode is not None  # stopped, no stray process

    # the report (eval-view's half) reads what the runner wrote
    from tui_tuner.cli import main

    assert main(["eval", "report", str(out)]) == 0
    report = (out / "evaluation_report.md").read_text()
    assert "baseline" in report and "coach" in report
    assert_no_canary(report, (out / "conversations.jsonl").read_text(), (out / "run.json").read_text())

    # ... and the viewer opens on it
    from textual.widgets import DataTable

    from tests.support.pilot_wait import wait_for
    from tui_tuner.app import TunerApp
    from tui_tuner.screens.eval import screen as evals

    app = TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(out)}})
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: getattr(screen, "results", None) is not None, what="the results read")
        assert isinstance(screen, evals.EvalScreen) and screen.results is not None
        assert screen.results.is_complete
        table = screen.query_one("#overview-table", DataTable)
        assert table.row_count >= 2
        rows = " ".join(str(cell) for key in table.rows for cell in table.get_row(key))
        assert "baseline" in rows and "coach" in rows
