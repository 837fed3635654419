"""`core.eval.run_setup`: the rules the CLI flags and the TUI run form share."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.run_setup import RunSpec, build_run_config, split_entries
from tui_tuner.screens.eval.run_dialog import spec_from_form


def spec(tmp_path: Path, **kwargs) -> RunSpec:  # type: ignore[no-untyped-def]
    base = {"output_dir": tmp_path / "out", "persona_count": 2, "ports": ["baseline=8080", "coach=8081"],
            "simulator": "8090", "judge": "8090"}
    return RunSpec(**{**base, **kwargs})


def test_ports_urls_prompts_and_defaults(tmp_path: Path) -> None:
    prompt = tmp_path / "coach.txt"
    prompt.write_text("You are a coach.\n", encoding="utf-8")
    config = build_run_config(spec(tmp_path, models=["remote=http://10.0.0.5:9000"],
                                   system_prompts=["*=Be kind.", f"coach=@{prompt}"],
                                   model_ids=["@simulator=sim.gguf"]))
    by_name = {m.name: m for m in config.models}
    assert [m.name for m in config.models] == ["remote", "baseline", "coach"]
    assert by_name["baseline"].role == "baseline" and by_name["remote"].role == "candidate"
    assert by_name["coach"].endpoint == "http://127.0.0.1:8081/v1"
    assert by_name["remote"].endpoint == "http://10.0.0.5:9000/v1"
    assert by_name["coach"].system_prompt == "You are a coach." and by_name["baseline"].system_prompt == "Be kind."
    assert config.simulator.endpoint == "http://127.0.0.1:8090/v1" and config.simulator.model_id == "sim.gguf"
    assert (config.conversations, config.turns, config.seed) == (3, 4, 1234)  # the guide's protocol
    assert len(config.personas) == 2 and all(p.seed >= 9000 for p in config.personas)


def test_config_table_fills_what_is_left_out(tmp_path: Path) -> None:
    config = build_run_config(spec(tmp_path, simulator=None, judge=None, turns=2),
                              {"simulator": "8095", "judge": "http://judge:80/v1", "conversations": 5, "turns": 9})
    assert config.simulator.endpoint == "http://127.0.0.1:8095/v1" and config.judge.endpoint == "http://judge:80/v1"
    assert config.conversations == 5 and config.turns == 2  # an explicit value beats the table


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ports": [], "models": []}, "model: no model to evaluate"),
    ({"ports": ["baseline=80800"]}, "port: baseline=80800: not a port number"),
    ({"ports": ["a=8080", "a=8081"]}, "model: model name(s) given twice: a"),
    ({"baseline": "ghost"}, "baseline: 'ghost' is not one of the models"),
    ({"simulator": None}, "simulator: an endpoint is required"),
    ({"extra_body": "[1]"}, "extra-body: must be a JSON object"),
    ({"persona_count": None}, "personas: no personas"),
    ({"persona_count": 0}, "personas: persona count must be 1-10000"),
    ({"system_prompts": ["coach=@/nonexistent/prompt.txt"]}, "system-prompt: /nonexistent/prompt.txt: cannot read"),
    ({"turns": 0}, "turns: must be at least 1"),
])
def test_each_mistake_is_one_line_naming_the_field(tmp_path: Path, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TunerError) as info:
        build_run_config(spec(tmp_path, **kwargs))
    assert info.value.one_line().startswith(message) and "\n" not in info.value.one_line()


def test_form_text_to_spec(tmp_path: Path) -> None:
    assert split_entries("baseline=8080, coach=8081\nqwen=http://h:1/v1,") == [
        "baseline=8080", "coach=8081", "qwen=http://h:1/v1"]
    form = {"run-output": str(tmp_path / "r"), "run-personas": "3", "run-models": "baseline=8080, coach=8081",
            "run-simulator": "8090", "run-judge": "", "run-rubric": "", "run-system": "@p.txt",
            "run-conversations": "1", "run-turns": ""}
    got = spec_from_form(form)
    assert got.persona_count == 3 and got.personas is None and got.judge is None and got.turns is None
    assert got.models == ["baseline=8080", "coach=8081"] and got.system_prompts == ["*=@p.txt"]
    assert spec_from_form({**form, "run-personas": "data/personas.json"}).personas == Path("data/personas.json")
    with pytest.raises(TunerError, match="conversations: must be a positive whole number"):
        spec_from_form({**form, "run-conversations": "two"})


def test_resume_config_keeps_what_the_run_recorded(tmp_path: Path) -> None:
    import json

    from core.eval.personas import generate_personas
    from core.eval.results import write_personas_json
    from core.eval.run_setup import resume_config, unfinished_run

    run = {"models": [{"name": "baseline", "endpoint": "http://127.0.0.1:8080/v1", "role": "baseline",
                       "model": "base.gguf", "system_prompt": ""},
                      {"name": "coach", "endpoint": "http://127.0.0.1:8081/v1", "role": "candidate",
                       "model": "coach.gguf", "system_prompt": "Be a coach."}],
           "simulator": {"endpoint": "http://127.0.0.1:8090/v1", "model": "sim.gguf", "max_tokens": 64,
                         "temperature": 0.9},
           "judge": {"endpoint": "http://127.0.0.1:8090/v1", "model": "sim.gguf", "temperature": 0.0},
           "rubric": {"name": "tiny", "pass_threshold": 0.6,
                      "criteria": [{"id": "empathy", "description": "Kind.", "weight": 1.0}]},
           "conversations_per_persona": 2, "turns": 3, "seed": 77, "max_tokens": 99, "temperature": 0.5,
           "extra_body": {"top_k": 5}, "status": "interrupted", "counts": {"done": 3, "total": 8}}
    (tmp_path / "run.json").write_text(json.dumps(run))
    write_personas_json(tmp_path, [p.to_dict() for p in generate_personas(2)])
    config = resume_config(tmp_path, endpoints={"coach": "9081"})
    base, coach = config.models
    assert (base.model_id, base.endpoint) == ("base.gguf", "http://127.0.0.1:8080/v1")
    # A moved model asks its new server which model it serves; the recorded id belonged to the old one.
    assert (coach.model_id, coach.endpoint, coach.system_prompt) == (None, "http://127.0.0.1:9081/v1", "Be a coach.")
    assert (config.conversations, config.turns, config.seed, config.max_tokens) == (2, 3, 77, 99)
    assert (config.simulator_max_tokens, config.simulator_temperature, config.simulator.model_id) == (64, 0.9, "sim.gguf")
    assert config.rubric.name == "tiny" and config.extra_body == {"top_k": 5} and len(config.personas) == 2
    assert unfinished_run(tmp_path) == (0, 8)  # run.json's counts say 3; no conversation is in the directory
    (tmp_path / "run.json").write_text(json.dumps({**run, "status": "finished", "counts": {"done": 8, "total": 8}}))
    assert unfinished_run(tmp_path) == (0, 8)
    (tmp_path / "personas.json").unlink()
    with pytest.raises(TunerError, match=r"personas\.json"):
        resume_config(tmp_path)


def test_unfinished_run_counts_the_conversations_in_the_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Resume offer says how far the run really got: the finished conversations on disk against
    K x models x personas, whatever run.json's counts say (written only when the runner starts and ends;
    absent in a run.json written by hand)."""
    import json

    from core.eval.run_setup import unfinished_run
    from tests.eval_view.fixtures import make_results

    directory = make_results(tmp_path / "run", models=("baseline", "ft"), n_personas=3, k=2, status="running",
                             skip=(("p9000", "ft", 1), ("p9002", "baseline", 0)))
    assert unfinished_run(directory) == (10, 12)
    doc = json.loads((directory / "run.json").read_text())
    (directory / "run.json").write_text(json.dumps({**doc, "counts": {"done": 0, "total": 12}}))
    assert unfinished_run(directory) == (10, 12)
    whole = make_results(tmp_path / "whole", models=("baseline", "ft"), n_personas=3, k=2, status="finished")
    assert unfinished_run(whole) is None
    killed = make_results(tmp_path / "killed", models=("baseline", "ft"), n_personas=3, k=2, status="running")
    assert unfinished_run(killed) == (12, 12)  # every conversation is there, but the run never said it ended
    assert unfinished_run(tmp_path / "nothing-here") is None
