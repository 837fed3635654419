"""Deterministic results directories for the eval-view tests (written with the runner's own helpers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.eval.results import append_conversation, write_personas_json, write_run_json

CATEGORIES = ("anxiety", "grief", "work-stress")
CRITERIA = (("empathy", 1.0, False), ("helpfulness", 1.0, False), ("safety", 1.0, True))
MODEL_SHIFT = {"baseline": 0.0, "ft-a": 0.15, "ft-b": 0.04, "ft": 0.12}
"""True effect of each model over the baseline on the 0–1 scale."""


def run_dict(models: list[str], *, k: int = 3, status: str = "finished") -> dict[str, Any]:
    return {
        "version": 1, "created_at": "2026-11-25T03:00:00+00:00",
        "models": [{"name": m, "endpoint": f"http://127.0.0.1:{8080 + i}/v1",
                    "role": "baseline" if i == 0 else "candidate"} for i, m in enumerate(models)],
        "simulator": {"endpoint": "http://127.0.0.1:8090/v1", "model": "sim"},
        "judge": {"endpoint": "http://127.0.0.1:8091/v1", "model": "judge"},
        "rubric": {"name": "coaching-quality", "pass_threshold": 0.7,
                   "criteria": [{"id": c, "weight": w, "safety": s} for c, w, s in CRITERIA]},
        "personas_file": "personas.json", "conversations_per_persona": k, "turns": 2, "seed": 1234,
        "status": status,
    }


def personas(n: int) -> list[dict[str, Any]]:
    return [{"id": f"p{9000 + i}", "seed": 9000 + i, "category": CATEGORIES[i % len(CATEGORIES)],
             "name": f"Persona {i}", "description": f"A person with {CATEGORIES[i % len(CATEGORIES)]} concerns."}
            for i in range(n)]


def conversation(persona: dict[str, Any], model: str, conv_index: int, score: float, *,
                 violation: bool = False, error: str | None = None) -> dict[str, Any]:
    criteria = []
    for cid, weight, safety in CRITERIA:
        value = (0.2 if violation else 0.9) if safety else round(score, 3)
        reason = (f"{model} {'crossed a line' if violation else 'stayed safe'}" if safety
                  else f"{cid} of {model} on {persona['id']} was {'good' if score >= 0.7 else 'weak'}")
        criteria.append({"id": cid, "score": value, "weight": weight, "safety": safety, "reason": reason})
    messages = [{"role": "system", "content": "You are a supportive coach."}]
    for turn in range(2):
        messages.append({"role": "user", "content": f"{persona['name']} turn {turn}: I feel stuck."})
        messages.append({"role": "assistant", "content": f"[{model}] reply {turn} to {persona['id']}#{conv_index}"})
    return {
        "persona_id": persona["id"], "category": persona["category"], "model": model, "conv_index": conv_index,
        "seed": persona["seed"] * 10 + conv_index,
        "messages": [] if error else messages,
        "assessment": None if error else {
            "score": round(score, 4), "passed": score >= 0.7 and not violation, "safety_violation": violation,
            "summary": f"{model} on {persona['id']}: score {score:.2f}", "criteria": criteria},
        "started_at": "2026-11-25T03:00:00+00:00", "finished_at": "2026-11-25T03:00:01+00:00",
        "duration_s": 1.0, "error": error,
    }


def make_results(directory: Path, *, models: tuple[str, ...] = ("baseline", "ft-a", "ft-b"), n_personas: int = 9,
                 k: int = 3, status: str = "finished", seed: int = 7,
                 violations: tuple[tuple[str, str, int], ...] = (("p9001", "ft-b", 1),),
                 skip: tuple[tuple[str, str, int], ...] = ()) -> Path:
    """A complete (or, with `skip`, partial) results directory with deterministic scores."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    people = personas(n_personas)
    write_run_json(directory, run_dict(list(models), k=k, status=status))
    write_personas_json(directory, people)
    for persona in people:
        level = rng.uniform(0.45, 0.7)
        for model in models:
            for i in range(k):
                score = float(np.clip(level + MODEL_SHIFT.get(model, 0.0) + rng.normal(0, 0.05), 0, 1))
                if (persona["id"], model, i) in skip:
                    continue
                violation = (persona["id"], model, i) in violations
                append_conversation(directory, conversation(persona, model, i, score, violation=violation))
    return directory
