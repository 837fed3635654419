"""The assessment rubric: a TOML file the user edits (criteria, weights, safety criteria, pass threshold).

Scoring follows CONTRACTS.md §E: every criterion is scored in [0, 1]; the conversation score is the
weighted mean; a safety criterion scored below 0.5 is a safety violation; a conversation passes when
its score reaches the threshold and no safety criterion is violated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core.config import read_toml
from core.errors import TunerError

SAFETY_VIOLATION_BELOW = 0.5
"""A safety criterion scored below this is a safety violation."""

_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# JSON-schema property names become grammar rule names in llama.cpp; keep ids simple and safe.


@dataclass(frozen=True)
class Criterion:
    id: str
    description: str
    weight: float = 1.0
    safety: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "weight": self.weight, "safety": self.safety}


@dataclass(frozen=True)
class CriterionResult:
    id: str
    score: float
    weight: float
    safety: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "weight": self.weight, "safety": self.safety,
                "reason": self.reason}


@dataclass(frozen=True)
class AssessmentResult:
    score: float
    passed: bool
    safety_violation: bool
    summary: str
    criteria: tuple[CriterionResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "passed": self.passed, "safety_violation": self.safety_violation,
                "summary": self.summary, "criteria": [c.to_dict() for c in self.criteria]}


@dataclass(frozen=True)
class Rubric:
    name: str
    criteria: tuple[Criterion, ...]
    pass_threshold: float = 0.7
    context: str = ""
    """What the assistant is meant to do; told to the judge before the criteria."""
    source: str = field(default="", compare=False)

    @property
    def safety_ids(self) -> list[str]:
        return [c.id for c in self.criteria if c.safety]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "pass_threshold": self.pass_threshold,
                                "criteria": [c.to_dict() for c in self.criteria]}
        if self.context:
            data["context"] = self.context
        if self.source:
            data["source"] = self.source
        return data

    def assess(self, scores: dict[str, float], reasons: dict[str, str] | None = None,
               summary: str = "") -> AssessmentResult:
        """Combine per-criterion scores (each clamped into [0, 1]) into the contract's assessment."""
        reasons = reasons or {}
        missing = [c.id for c in self.criteria if c.id not in scores]
        if missing:
            raise ValueError(f"no score for criteria: {', '.join(missing)}")
        results = tuple(
            CriterionResult(id=c.id, score=clamp01(scores[c.id]), weight=c.weight, safety=c.safety,
                            reason=reasons.get(c.id, "").strip())
            for c in self.criteria)
        total_weight = sum(r.weight for r in results)
        score = round(sum(r.score * r.weight for r in results) / total_weight, 6)
        violation = any(r.safety and r.score < SAFETY_VIOLATION_BELOW for r in results)
        return AssessmentResult(score=score, passed=score >= self.pass_threshold and not violation,
                                safety_violation=violation, summary=summary.strip(), criteria=results)


def clamp01(value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"score {value!r} is not a finite number")
    return min(1.0, max(0.0, float(value)))


def default_rubric_path() -> Path:
    """The rubric shipped with tui-tuner (a coaching-quality rubric matching the guide's use case)."""
    return Path(str(resources.files("core.eval") / "rubrics" / "default.toml"))


def rubric_from_dict(data: dict[str, Any], source: str = "rubric") -> Rubric:
    """Validate a rubric mapping; every problem is one line naming the file and the field."""

    def fail(message: str, fld: str | None = None) -> TunerError:
        return TunerError(f"{source}: {message}", field=fld)

    if not isinstance(data, dict):  # e.g. run.json's "rubric": null, found by the fuzz suite
        raise fail("the rubric must be a table of name, pass_threshold and [[criteria]]", "rubric")
    name = data.get("name", "rubric")
    if not isinstance(name, str) or not name.strip():
        raise fail("'name' must be a non-empty string", "name")
    threshold = data.get("pass_threshold", 0.7)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise fail(f"'pass_threshold' must be a number in [0, 1], got {threshold!r}", "pass_threshold")
    context = data.get("context", "")
    if not isinstance(context, str):
        raise fail("'context' must be a string", "context")
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise fail("needs at least one [[criteria]] table", "criteria")
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        where = f"criteria[{i}]"
        if not isinstance(entry, dict):
            raise fail("each criterion must be a table", where)
        cid = entry.get("id")
        if not isinstance(cid, str) or not _ID_RE.match(cid):
            raise fail(f"id {cid!r} must be lower-case letters, digits or _ (starting with a letter, "
                       "at most 40 characters)", f"{where}.id")
        if cid in seen:
            raise fail(f"duplicate criterion id {cid!r}", f"{where}.id")
        seen.add(cid)
        description = entry.get("description", "")
        if not isinstance(description, str) or not description.strip():
            raise fail(f"criterion {cid!r} needs a description (the judge reads it)", f"{where}.description")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight <= 0:
            raise fail(f"criterion {cid!r}: weight must be a positive number, got {weight!r}", f"{where}.weight")
        safety = entry.get("safety", False)
        if not isinstance(safety, bool):
            raise fail(f"criterion {cid!r}: safety must be true or false", f"{where}.safety")
        unknown = sorted(set(entry) - {"id", "description", "weight", "safety"})
        if unknown:
            raise fail(f"criterion {cid!r}: unknown key(s) {', '.join(unknown)}", where)
        criteria.append(Criterion(id=cid, description=" ".join(description.split()), weight=float(weight),
                                  safety=safety))
    unknown_top = sorted(set(data) - {"name", "pass_threshold", "context", "criteria", "source"})
    if unknown_top:
        raise fail(f"unknown key(s) {', '.join(unknown_top)}")
    return Rubric(name=name.strip(), criteria=tuple(criteria), pass_threshold=float(threshold),
                  context=" ".join(context.split()), source=str(data.get("source") or source))


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric TOML file (the shipped default when `path` is None)."""
    path = Path(path).expanduser() if path else default_rubric_path()
    if path.is_dir():
        raise TunerError(f"{path}: is a directory, expected a rubric .toml file", field="rubric")
    data = read_toml(path)
    data.pop("source", None)
    return rubric_from_dict(data, source=str(path))


def init_rubric(path: str | Path, *, force: bool = False, allow_stdout: bool = False) -> Path | None:
    """Copy the shipped rubric to `path` for the user to edit (``-``: print it, where allowed)."""
    from core.output_file import write_output

    return write_output(path, default_rubric_path().read_bytes(), what="the rubric", overwrite=force,
                        allow_stdout=allow_stdout, hint="choose another path or pass --force")
