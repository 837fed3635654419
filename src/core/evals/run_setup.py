"""From what a user typed (CLI flags or the TUI's run form) to a validated `RunConfig`.

One place for the rules both front ends follow: models as NAME=URL or NAME=PORT (baseline first unless
named), system prompts as text or @file, the `[eval]` config table as defaults for everything left
out, personas from a file or generated (seeds from 9000, disjoint from training). Every problem is a
one-line `TunerError` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import TunerError

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
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TunerError(f"{path}: cannot read the system prompt ({exc.strerror or exc})",
                             field="system-prompt") from None
    return value


def _model_endpoints(spec: RunSpec) -> list[tuple[str, str]]:
    from core.evals.openai_client import normalize_endpoint

    models = [(name, normalize_endpoint(url)) for name, url in pairs(spec.models, "model")]
    for name, port in pairs(spec.ports, "port"):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise TunerError(f"{name}={port}: not a port number", field="port")
        models.append((name, f"http://127.0.0.1:{port}/v1"))
    if not models:
        raise TunerError("no model to evaluate", field="model",
                         hint="give NAME=URL or NAME=PORT, once per model (baseline first)")
    return models


def _load_personas(spec: RunSpec) -> tuple[list[Any], str]:
    from core.evals.personas import generate_personas, load_personas

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
    from core.evals.judge import JudgeSettings
    from core.evals.openai_client import normalize_endpoint
    from core.evals.rubric import load_rubric
    from core.evals.runner import EndpointEntry, ModelEntry, RunConfig

    section = section or {}

    def setting(name: str) -> Any:
        value = getattr(spec, name, None)
        return value if value is not None else section.get(name, DEFAULTS.get(name))

    models = _model_endpoints(spec)
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
            extra_body = json.loads(spec.extra_body)
        except json.JSONDecodeError as exc:
            raise TunerError(f"not valid JSON ({exc.msg})", field="extra-body") from None
    if not isinstance(extra_body, dict):
        raise TunerError("must be a JSON object", field="extra-body")
    rubric_path = spec.rubric or (Path(section["rubric"]) if section.get("rubric") else None)
    judge_max = spec.judge_max_tokens or section.get("judge_max_tokens")
    reason_chars = int(section.get("judge_reason_chars", DEFAULTS["judge_reason_chars"]))
    personas, personas_file = _load_personas(spec)
    config = RunConfig(
        output_dir=spec.output_dir, personas=personas, personas_file=personas_file,
        models=entries, simulator=EndpointEntry(normalize_endpoint(str(simulator)), model_ids.get("@simulator")),
        judge=EndpointEntry(normalize_endpoint(str(judge))), rubric=load_rubric(rubric_path),
        conversations=int(setting("conversations")), turns=int(setting("turns")), seed=int(setting("seed")),
        max_tokens=int(setting("max_tokens")), simulator_max_tokens=int(setting("simulator_max_tokens")),
        temperature=float(setting("temperature")), default_slots=int(setting("default_slots")),
        max_parallel=setting("max_parallel"), api_key_env=setting("api_key_env"),
        judge_settings=JudgeSettings(max_tokens=judge_max, reason_chars=reason_chars), extra_body=extra_body)
    config.validate()  # the form shows the problem before anything starts
    return config
