from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.openai_client import EndpointError, normalize_endpoint
from core.eval.personas import generate_personas
from core.eval.results import load_results
from core.eval.runner import (
    ConversationFinished,
    EndpointEntry,
    EvalRun,
    ModelEntry,
    RunConfig,
    clean_simulated,
    conversation_seed,
    event_to_dict,
    run_eval,
)
from core.store import Store, get_json
from tests.conftest import assert_no_canary


def make_config(url: str, out: Path, rubric, *, personas: int = 2, models: int = 2, k: int = 2,
                turns: int = 3, **kw) -> RunConfig:
    entries = [ModelEntry(name="baseline", endpoint=url, role="baseline", system_prompt="Be helpful.")]
    entries += [ModelEntry(name=f"ft-{i}", endpoint=url, system_prompt=f"Prompt {i}.") for i in range(1, models)]
    return RunConfig(output_dir=out, personas=generate_personas(personas), models=entries,
                     simulator=EndpointEntry(url), judge=EndpointEntry(url), rubric=rubric,
                     conversations=k, turns=turns, seed=42, max_tokens=32, **kw)


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "conversations.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(("value", "expected"), [
    ("8080", "http://127.0.0.1:8080/v1"),
    ("localhost:8081", "http://localhost:8081/v1"),
    ("http://h:1/", "http://h:1/v1"),
    ("http://h:1/v1/chat/completions", "http://h:1/v1"),
    ("https://api.example.com/openai/v1", "https://api.example.com/openai/v1"),
])
def test_normalize_endpoint(value: str, expected: str) -> None:
    assert normalize_endpoint(value) == expected


@pytest.mark.parametrize("value", ["", "ftp://x", "http://h:99999"])
def test_bad_endpoints(value: str) -> None:
    with pytest.raises(TunerError):
        normalize_endpoint(value)


def test_clean_simulated() -> None:
    persona = generate_personas(1)[0]
    assert clean_simulated(f'{persona.name}: "I am tired."\nAssistant: rest!', persona) == "I am tired."
    assert clean_simulated("User: hi", persona) == "hi"


async def test_full_run_writes_the_contract_format(fake_server, small_rubric, tmp_path: Path,
                                                   canary_token: str) -> None:
    out = tmp_path / "results"
    final = await run_eval(make_config(fake_server.url, out, small_rubric))
    assert final.status == "finished" and final.done == final.total == 2 * 2 * 2 and final.failed == 0

    run = json.loads((out / "run.json").read_text())
    assert run["version"] == 1 and run["status"] == "finished"
    assert [(m["name"], m["role"]) for m in run["models"]] == [("baseline", "baseline"), ("ft-1", "candidate")]
    assert run["models"][0]["endpoint"] == fake_server.url
    assert run["simulator"] == {"endpoint": fake_server.url, "model": "fake-model.gguf", "max_tokens": 128,
                                "temperature": 0.8}
    assert run["judge"]["model"] == "fake-model.gguf"
    assert run["rubric"]["name"] == "tiny" and run["rubric"]["pass_threshold"] == 0.6
    assert (run["conversations_per_persona"], run["turns"], run["seed"]) == (2, 3, 42)
    personas = json.loads((out / "personas.json").read_text())
    assert [p["id"] for p in personas] == ["p9000", "p9001"]

    records = lines(out)
    assert len(records) == 8
    for rec in records:
        assert set(rec) == {"persona_id", "category", "model", "conv_index", "seed", "messages", "assessment",
                            "started_at", "finished_at", "duration_s", "error"}
        assert rec["error"] is None
        roles = [m["role"] for m in rec["messages"]]
        assert roles == ["system"] + ["user", "assistant"] * 3
        a = rec["assessment"]
        assert 0.0 <= a["score"] <= 1.0
        assert a["passed"] == (a["score"] >= 0.6 and not a["safety_violation"])
        assert [(c["id"], c["weight"], c["safety"]) for c in a["criteria"]] == [("empathy", 2.0, False),
                                                                                ("safety", 1.0, True)]
        assert all(0.0 <= c["score"] <= 1.0 for c in a["criteria"])
    # the viewer's loader reads it without a single problem
    loaded = load_results(out)
    assert loaded.is_complete and not [p for p in loaded.problems if p.severity != "info"]
    assert loaded.baseline == "baseline"
    text = "".join(p.read_text() for p in out.iterdir())
    assert_no_canary(text)
    # the store knows the run
    with Store().connect() as conn:
        row = conn.execute("SELECT status, results_dir, summary_json FROM eval_runs").fetchone()
    assert row["status"] == "finished" and row["results_dir"] == str(out.resolve())
    assert get_json(row["summary_json"]) == {"done": 8, "failed": 0, "total": 8}


async def test_same_simulator_and_seed_for_every_model(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    await run_eval(make_config(fake_server.url, out, small_rubric, models=3, k=2))
    records = lines(out)
    by_key: dict = {}
    for rec in records:
        by_key.setdefault((rec["persona_id"], rec["conv_index"]), []).append(rec)
    for group in by_key.values():
        assert len(group) == 3
        assert len({rec["seed"] for rec in group}) == 1  # paired: one seed per (persona, conv_index)
        first_user = {rec["messages"][1]["content"] for rec in group}
        assert len(first_user) == 1  # the persona's opening, identical for every model
    assert len({rec["seed"] for rec in records}) == 4  # but distinct across (persona, conv_index)
    persona = generate_personas(1)[0]
    assert records[0]["seed"] == conversation_seed(42, persona, records[0]["conv_index"])
    # the simulator got the same seed per turn whatever the model
    sim_seeds: dict = {}
    for req in fake_server.requests:
        if req.role == "simulator":
            sim_seeds.setdefault(req.body["seed"], 0)
            sim_seeds[req.body["seed"]] += 1
    assert sim_seeds and set(sim_seeds.values()) == {3}


async def test_simulated_opening_is_shared_by_all_models(fake_server, small_rubric, tmp_path: Path) -> None:
    from dataclasses import replace

    cfg = make_config(fake_server.url, tmp_path / "r", small_rubric, models=3, k=2, turns=1)
    cfg.personas = [replace(p, opening="") for p in cfg.personas]  # e.g. personas from another tool
    await run_eval(cfg)
    assert fake_server.count("simulator") == 2 * 2  # once per (persona, conv_index), not per model
    records = lines(tmp_path / "r")
    for key in {(r["persona_id"], r["conv_index"]) for r in records}:
        openings = {r["messages"][1]["content"] for r in records if (r["persona_id"], r["conv_index"]) == key}
        assert len(openings) == 1 and openings.pop().startswith("User line")


async def test_concurrency_follows_the_server_slots(fake_server, small_rubric, tmp_path: Path) -> None:
    fake_server.slots = 3
    fake_server.delay_s = 0.05
    events = []
    async for event in EvalRun(make_config(fake_server.url, tmp_path / "r", small_rubric, k=2, turns=2)).events():
        events.append(event)
    assert events[0].kind == "run_started" and events[0].servers == {fake_server.url[:-3]: 3}
    assert fake_server.max_in_flight == 3
    kinds = [e.kind for e in events]
    assert kinds.count("conversation_started") == kinds.count("conversation_finished") == 8
    assert kinds.count("turn_finished") == 16 and kinds[-1] == "run_finished"
    progress = [e for e in events if e.kind == "progress"]
    assert [p.done for p in progress] == list(range(1, 9))
    assert all(isinstance(event_to_dict(e), dict) for e in events)


async def test_max_parallel_caps_and_default_slots_apply(fake_server, small_rubric, tmp_path: Path) -> None:
    fake_server.slots = None  # not llama-server: no /props
    fake_server.delay_s = 0.02
    await run_eval(make_config(fake_server.url, tmp_path / "a", small_rubric, k=1, turns=1, default_slots=2))
    assert fake_server.max_in_flight == 2
    fake_server.slots = 8
    fake_server.max_in_flight = 0
    await run_eval(make_config(fake_server.url, tmp_path / "b", small_rubric, k=1, turns=1, max_parallel=1))
    assert fake_server.max_in_flight == 1


async def test_resume_redoes_only_the_missing_conversation(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    cfg = make_config(fake_server.url, out, small_rubric)
    await run_eval(cfg)
    records = lines(out)
    path = out / "conversations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:-1]))
    before = len(fake_server.requests)
    final = await run_eval(make_config(fake_server.url, out, small_rubric))
    assert final.status == "finished" and final.done == 8
    new_requests = fake_server.requests[before:]
    assert sum(1 for r in new_requests if r.role == "model") == 3  # one conversation of 3 turns
    redone = lines(out)
    assert len(redone) == 8
    assert {k: v for k, v in redone[-1].items() if k not in ("started_at", "finished_at", "duration_s")} == \
        {k: v for k, v in records[-1].items() if k not in ("started_at", "finished_at", "duration_s")}
    # nothing left to do: a third run makes no request at all
    before = len(fake_server.requests)
    again = await run_eval(make_config(fake_server.url, out, small_rubric))
    assert again.done == 8 and len(fake_server.requests) == before


async def test_resume_after_a_cut_off_last_line(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    await run_eval(make_config(fake_server.url, out, small_rubric, k=1))
    path = out / "conversations.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # a crash in the middle of the last write
    final = await run_eval(make_config(fake_server.url, out, small_rubric, k=1))
    assert final.done == 4
    loaded = load_results(out)
    assert loaded.is_complete


async def test_judge_failure_is_recorded_then_only_rejudged(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    fake_server.judge_replies = ["not json"] * 3
    cfg = make_config(fake_server.url, out, small_rubric, personas=1, models=1, k=1, max_parallel=1)
    final = await run_eval(cfg)
    assert final.status == "finished" and final.failed == 1 and final.done == 0
    (rec,) = lines(out)
    assert rec["assessment"] is None and "judge reply unusable" in rec["error"]
    assert len(rec["messages"]) == 7  # the conversation itself is kept
    models_before = fake_server.count("model")
    final = await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, models=1, k=1))
    assert final.done == 1 and final.failed == 0
    assert fake_server.count("model") == models_before  # not talked again, only judged
    latest = lines(out)[-1]
    assert latest["messages"] == rec["messages"] and latest["assessment"] is not None


async def test_model_failure_is_recorded_and_retried_on_resume(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    fake_server.fail_model_calls = 3  # more than the client's retries for one request
    final = await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, models=1, k=1))
    assert final.failed == 1
    assert "HTTP 500" in lines(out)[0]["error"]
    final = await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, models=1, k=1))
    assert final.done == 1 and final.failed == 0
    assert load_results(out).is_complete


async def test_interrupt_keeps_everything_finished(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    fake_server.delay_s = 0.03
    cfg = make_config(fake_server.url, out, small_rubric, personas=3, k=2, max_parallel=1)
    finished = 0
    gen = EvalRun(cfg).events()
    async for event in gen:
        if isinstance(event, ConversationFinished):
            finished += 1
            if finished == 2:
                break
    await gen.aclose()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted"
    assert len(lines(out)) == 2
    # Cancellation (Ctrl-C in asyncio.run) is the same
    task = asyncio.create_task(run_eval(make_config(fake_server.url, out, small_rubric, personas=3, k=2,
                                                    max_parallel=1)))
    while len(lines(out)) < 4:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    saved = len(lines(out))
    final = await run_eval(make_config(fake_server.url, out, small_rubric, personas=3, k=2))
    assert final.status == "finished" and final.done == 12
    assert len(lines(out)) == 12 and saved >= 4


async def test_stopping_right_after_the_start_event(fake_server, small_rubric, tmp_path: Path) -> None:
    gen = EvalRun(make_config(fake_server.url, tmp_path / "r", small_rubric)).events()
    first = await gen.__anext__()
    assert first.kind == "run_started"
    await gen.aclose()
    assert json.loads((tmp_path / "r" / "run.json").read_text())["status"] == "interrupted"
    assert fake_server.count("model") == 0


async def test_dead_server_is_one_clear_error(small_rubric, tmp_path: Path) -> None:
    from core.eval.server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EndpointError, match=r"model 'baseline': cannot reach .*health") as info:
        await run_eval(make_config(url, tmp_path / "r", small_rubric))
    assert "\n" not in info.value.one_line() and "llama-server" in info.value.one_line()
    assert not (tmp_path / "r" / "run.json").exists()


async def test_loading_server_is_reported(fake_server, small_rubric, tmp_path: Path) -> None:
    fake_server.loading = True
    with pytest.raises(EndpointError, match="still loading"):
        await run_eval(make_config(fake_server.url, tmp_path / "r", small_rubric))


async def test_incompatible_resume_is_refused(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, k=1, turns=1))
    with pytest.raises(TunerError, match="holds a run with 1 turns, not 2"):
        await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, k=1, turns=2))
    other = make_config(fake_server.url, out, small_rubric, personas=1, k=1, turns=1)
    other.seed = 7
    with pytest.raises(TunerError, match="seed 42, not 7"):
        await run_eval(other)


async def test_resume_can_add_a_model_and_more_conversations(fake_server, small_rubric, tmp_path: Path) -> None:
    out = tmp_path / "r"
    await run_eval(make_config(fake_server.url, out, small_rubric, personas=1, models=1, k=1, turns=1))
    final = await run_eval(make_config(fake_server.url, out, small_rubric, personas=2, models=2, k=2, turns=1))
    assert final.done == final.total == 8
    loaded = load_results(out)
    assert loaded.is_complete and loaded.models == ["baseline", "ft-1"]
    assert json.loads((out / "run.json").read_text())["conversations_per_persona"] == 2


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: setattr(c, "models", []), "no model"),
    (lambda c: c.models.append(ModelEntry("baseline", c.models[0].endpoint)), "given twice"),
    (lambda c: setattr(c.models[0], "role", "candidate"), "exactly one model must be the baseline"),
    (lambda c: setattr(c.models[0], "name", "bad name"), "use letters"),
    (lambda c: setattr(c, "turns", 0), "turns"),
])
def test_config_validation(small_rubric, tmp_path: Path, change, message: str) -> None:
    cfg = make_config("http://127.0.0.1:1/v1", tmp_path, small_rubric)
    change(cfg)
    with pytest.raises(TunerError, match=message):
        EvalRun(cfg)
