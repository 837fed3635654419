"""From what a user typed (CLI flags or the TUI's run form) to a validated `RunConfig`.

One place for the rules both front ends follow: models as NAME=URL or NAME=PORT (baseline first unless
named), system prompts as text or @file, the `[eval]` config table as defaults for everything left
out, personas from a file or generated (seeds from 9000, disjoint from training). Every problem is a
one-line `TunerError` naming the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safe_json
from core.errors import TunerError
from core.redact import register_secret_env

DEFAULTS: dict[str, Any] = {
    "conversations": 3, "turns": 4, "seed": 1234, "max_tokens": 256, "simulator_max_tokens": 128,
    "temperature": 0.7, "default_slots": 1, "judge_reason_chars": 200,
}
"""The guide's protocol defaults (K = 3 conversations per persona and model, a fixed number of turns)."""


@dataclass
class RunSpec:
    """The user's choices, as typed. None means "use the `[eval]` config value, else the default"."""

    output_dir: Path
    personas: Path | None = None
    """personas.json; None with `persona_count` generates that many instead."""
    persona_count: int | None = None
    models: list[str] = field(default_factory=list)
    """NAME=URL entries (a URL may also be a bare port)."""
    ports: list[str] = field(default_factory=list)
    """NAME=PORT entries (llama-server on this machine, as in the guide)."""
    baseline: str | None = None
    system_prompts: list[str] = field(default_factory=list)
    """NAME=TEXT or NAME=@FILE; NAME `*` applies to every model without its own."""
    model_ids: list[str] = field(default_factory=list)
    simulator: str | None = None
    judge: str | None = None
    rubric: Path | None = None
    conversations: int | None = None
    turns: int | None = None
    seed: int | None = None
    max_tokens: int | None = None
    simulator_max_tokens: int | None = None
    judge_max_tokens: int | None = None
    temperature: float | None = None
    max_parallel: int | None = None
    default_slots: int | None = None
    api_key_env: str | None = None
    extra_body: str | None = None
    """A JSON object merged into every request body."""


MAX_PROMPT_BYTES = 1024 * 1024
"""A system prompt file (`--system-prompt NAME=@FILE`) larger than this is not a prompt."""

def pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise TunerError(f"{value!r}: expected NAME=VALUE", field=flag)
        out.append((name.strip(), rest.strip()))
    return out


def split_entries(text: str) -> list[str]:
    """`baseline=8080, coach=8081` or one entry a line → entries (the TUI's one-field model list)."""
    return [part.strip() for part in re.split(r"[,\n]", text) if part.strip()]


def system_prompt_text(value: str) -> str:
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:  # not UTF-8, a directory, a FIFO (never waited on), megabytes of text: one line
            return safe_json.read_text(path, max_bytes=MAX_PROMPT_BYTES).strip()
        except safe_json.JsonInputError as exc:
            raise TunerError(f"{path}: cannot read the system prompt ({exc.detail})", field="system-prompt",
                             hint=exc.hint) from None
    return value


def named_endpoints(models: list[str], ports: list[str]) -> list[tuple[str, str]]:
    """NAME=URL and NAME=PORT entries → (name, normalised endpoint), in that order; a bad port is an error."""
    from core.eval.openai_client import normalize_endpoint

    out = [(name, normalize_endpoint(url)) for name, url in pairs(models, "model")]
    for name, port in pairs(ports, "port"):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise TunerError(f"{name}={port}: not a port number", field="port")
        out.append((name, f"http://127.0.0.1:{port}/v1"))
    return out


def _judge_settings(section: Mapping[str, Any], max_tokens: int | None, temperature: float = 0.0) -> Any:
    from core.eval.judge import JudgeSettings

    reason_chars = int(section.get("judge_reason_chars", DEFAULTS["judge_reason_chars"]))
    return JudgeSettings(max_tokens=max_tokens, reason_chars=reason_chars, temperature=temperature)


def _load_personas(spec: RunSpec) -> tuple[list[Any], str]:
    from core.eval.personas import generate_personas, load_personas

    if spec.personas is not None:
        return load_personas(spec.personas), str(spec.personas)
    if spec.persona_count is not None:
        if not 0 < spec.persona_count <= 10_000:
            raise TunerError(f"persona count must be 1-10000 (got {spec.persona_count})", field="personas")
        return generate_personas(spec.persona_count), ""
    raise TunerError("no personas", field="personas",
                     hint="give a personas.json (tui-tuner eval personas) or a number of personas to generate")


def build_run_config(spec: RunSpec, section: Mapping[str, Any] | None = None) -> Any:
    """A RunConfig; `section` is the `[eval]` config table (defaults for whatever `spec` leaves None)."""
    from core.eval.openai_client import normalize_endpoint
    from core.eval.rubric import load_rubric
    from core.eval.runner import EndpointEntry, ModelEntry, RunConfig

    section = section or {}

    def setting(name: str) -> Any:
        value = getattr(spec, name, None)
        return value if value is not None else section.get(name, DEFAULTS.get(name))

    models = named_endpoints(spec.models, spec.ports)
    if not models:
        raise TunerError("no model to evaluate", field="model",
                         hint="give NAME=URL or NAME=PORT, once per model (baseline first)")
    names = [n for n, _ in models]
    baseline = spec.baseline or ("baseline" if "baseline" in names else names[0])
    if baseline not in names:
        raise TunerError(f"{baseline!r} is not one of the models ({', '.join(names)})", field="baseline")
    prompts = {n: system_prompt_text(v) for n, v in pairs(spec.system_prompts, "system-prompt")}
    model_ids = dict(pairs(spec.model_ids, "model-id"))
    for name in [*prompts, *model_ids]:
        if name not in names and name not in ("*", "@simulator"):
            raise TunerError(f"{name!r} is not one of the models ({', '.join(names)})", field="system-prompt")
    entries = [ModelEntry(name=n, endpoint=url, role="baseline" if n == baseline else "candidate",
                          system_prompt=prompts.get(n, prompts.get("*", "")), model_id=model_ids.get(n))
               for n, url in models]

    simulator = spec.simulator or section.get("simulator")
    judge = spec.judge or section.get("judge")
    for value, flag in ((simulator, "simulator"), (judge, "judge")):
        if not value:
            raise TunerError("an endpoint is required", field=flag,
                             hint=f"the endpoint of the {flag} model (URL or local port), or set [eval].{flag}")
    extra_body: Any = section.get("extra_body") or {}
    if spec.extra_body:
        try:
            extra_body = safe_json.loads(spec.extra_body, source="--extra-body")
        except safe_json.JsonInputError as exc:
            raise TunerError(exc.detail if exc.detail.startswith("not ") else f"not valid JSON ({exc.detail})",
                             field="extra-body") from None
    if not isinstance(extra_body, dict):
        raise TunerError("must be a JSON object", field="extra-body")
    rubric_path = spec.rubric or (Path(section["rubric"]) if section.get("rubric") else None)
    judge_max = spec.judge_max_tokens or section.get("judge_max_tokens")
    personas, personas_file = _load_personas(spec)
    config = RunConfig(
        output_dir=spec.output_dir, personas=personas, personas_file=personas_file,
        models=entries, simulator=EndpointEntry(normalize_endpoint(str(simulator)), model_ids.get("@simulator")),
        judge=EndpointEntry(normalize_endpoint(str(judge))), rubric=load_rubric(rubric_path),
        conversations=int(setting("conversations")), turns=int(setting("turns")), seed=int(setting("seed")),
        max_tokens=int(setting("max_tokens")), simulator_max_tokens=int(setting("simulator_max_tokens")),
        temperature=float(setting("temperature")), default_slots=int(setting("default_slots")),
        max_parallel=setting("max_parallel"), api_key_env=setting("api_key_env"),
        judge_settings=_judge_settings(section, judge_max), extra_body=extra_body)
    config.validate()  # the form shows the problem before anything starts
    register_secret_env(config.api_key_env)  # from the flag, the [eval] table or the form: masked from now on
    return config


def resume_config(directory: Path, section: Mapping[str, Any] | None = None, *,
                  endpoints: Mapping[str, str] | None = None, simulator: str | None = None,
                  judge: str | None = None) -> Any:
    """The RunConfig an earlier run recorded in DIR/run.json, to finish it exactly as it was set up:
    the same models, system prompts, seed, turns, K, token limits, rubric and personas (DIR/personas.json).

    Servers restart on other ports, so `endpoints` (model name → URL or port), `simulator` and `judge`
    may move them; nothing else can change, or the finished and the new conversations would not compare.
    """
    from core.eval.openai_client import normalize_endpoint
    from core.eval.personas import load_personas
    from core.eval.results import PERSONAS_FILE, RUN_FILE
    from core.eval.rubric import rubric_from_dict
    from core.eval.runner import EndpointEntry, ModelEntry, RunConfig

    section = section or {}
    directory = Path(directory).expanduser()
    run_path = directory / RUN_FILE
    if not os.path.lexists(run_path):
        raise TunerError(f"{run_path}: no such file; nothing to resume", field="resume",
                         hint="resume takes a results directory written by an evaluation run")
    try:
        doc = safe_json.load_file(run_path)
    except safe_json.JsonInputError as exc:
        raise TunerError(f"{run_path}: cannot be read ({exc.detail})", field="resume") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list) or not doc["models"]:
        raise TunerError(f"{run_path}: no models recorded; nothing to resume", field="resume")
    moved = {name: normalize_endpoint(url) for name, url in (endpoints or {}).items()}
    models = []
    for entry in doc["models"]:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("endpoint"):
            raise TunerError(f"{run_path}: a model entry has no name or endpoint", field="resume")
        name = str(entry["name"])
        # The recorded model id is sent again (a multi-model server needs it), unless the model moved to
        # another server: then that server is asked which model it serves.
        url = moved.pop(name, None)
        models.append(ModelEntry(name=name, endpoint=url or str(entry["endpoint"]),
                                 role=str(entry.get("role") or "candidate"),
                                 system_prompt=str(entry.get("system_prompt") or ""),
                                 model_id=None if url else entry.get("model")))
    if moved:
        raise TunerError(f"{', '.join(sorted(moved))}: not a model of this run "
                         f"({', '.join(m.name for m in models)})", field="model")

    def endpoint(key: str, override: str | None) -> EndpointEntry:
        recorded = doc.get(key) if isinstance(doc.get(key), dict) else {}
        url = override or recorded.get("endpoint")
        if not url:
            raise TunerError(f"{run_path}: no {key} endpoint recorded", field=key, hint=f"give the {key} endpoint")
        return EndpointEntry(normalize_endpoint(str(url)), None if override else recorded.get("model"))

    sim_doc = doc.get("simulator") if isinstance(doc.get("simulator"), dict) else {}
    try:
        rubric = rubric_from_dict(doc["rubric"], source=str(run_path))
    except (KeyError, TypeError):
        raise TunerError(f"{run_path}: no rubric recorded", field="resume") from None
    config = RunConfig(
        output_dir=directory, personas=load_personas(directory / PERSONAS_FILE),
        personas_file=str(doc.get("personas_file") or ""), models=models,
        simulator=endpoint("simulator", simulator), judge=endpoint("judge", judge), rubric=rubric,
        conversations=int(doc.get("conversations_per_persona") or DEFAULTS["conversations"]),
        turns=int(doc.get("turns") or DEFAULTS["turns"]), seed=int(doc.get("seed") or DEFAULTS["seed"]),
        max_tokens=int(doc.get("max_tokens") or DEFAULTS["max_tokens"]),
        temperature=float(doc.get("temperature", DEFAULTS["temperature"])),
        simulator_max_tokens=int(sim_doc.get("max_tokens") or DEFAULTS["simulator_max_tokens"]),
        simulator_temperature=float(sim_doc.get("temperature", 0.8)),
        judge_settings=_judge_settings(section, section.get("judge_max_tokens"),
                                       float((doc.get("judge") or {}).get("temperature", 0.0))),
        default_slots=int(section.get("default_slots", DEFAULTS["default_slots"])),
        max_parallel=section.get("max_parallel"),
        api_key_env=section.get("api_key_env") or _text_or_none(doc.get("api_key_env")),
        extra_body=doc.get("extra_body") if isinstance(doc.get("extra_body"), dict) else {})
    config.validate()
    register_secret_env(config.api_key_env)
    return config


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def unfinished_run(directory: Path) -> tuple[int, int] | None:
    """(done, total) when DIR holds a run that did not finish every conversation, else None.

    Counted from the directory, as `resume_config` would resume it: the finished conversations in
    conversations.jsonl against K × models × personas of run.json. run.json's own counts are written when
    the runner starts and ends, so a run that was killed (or one written without counts) would say 0 done.
    """
    from core.eval.results import RUN_FILE, load_results

    if not (Path(directory) / RUN_FILE).is_file():
        return None
    try:
        results = load_results(directory)
    except TunerError:
        return None
    if results.run is None:
        return None
    done = len({record.key for record in results.completed})
    total = results.expected_total or 0
    if results.status != "finished" or done < total:
        return done, total
    return None
