"""The evaluation results directory: dataclasses, a tolerant loader, and the writer helpers.

Layout (CONTRACTS.md §E)::

    <dir>/run.json             the run: models (one role "baseline"), simulator, judge, rubric, K, status
    <dir>/personas.json        the personas, each with id, seed, category, name, description
    <dir>/conversations.jsonl  one finished conversation per line, appended, flushed and fsynced

The runner appends while the viewer reads, so the loader never trusts the files: every defect
(a missing file, a malformed line, a half-written last line, a run still running, failed attempts)
becomes a `Problem` with the place it was found, and everything usable is still returned. A
(persona_id, model, conv_index) key may appear several times (retries on resume); the latest line wins.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from core import safe_json
from core.errors import TunerError
from core.redact import Redactor, redact, redact_value, register_secret_env

RUN_FILE = "run.json"
PERSONAS_FILE = "personas.json"
CONVERSATIONS_FILE = "conversations.jsonl"
FORMAT_VERSION = 1
MAX_CONVERSATIONS_BYTES = 4 * 1024 * 1024 * 1024
"""conversations.jsonl grows with the run (a large one is ~100 MB); past this it is not one of ours."""

Severity = Literal["error", "warning", "info"]
RunStatus = Literal["running", "finished", "interrupted", "unknown"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with (or worth knowing about) a results directory."""

    severity: Severity
    where: str
    """File and line, e.g. "conversations.jsonl:17", or "run" for the run as a whole."""
    message: str

    def __post_init__(self) -> None:
        # One line whatever the file held (a model named "\n" in run.json was a line break in the report).
        object.__setattr__(self, "where", " ".join(str(self.where).split()))
        object.__setattr__(self, "message", " ".join(str(self.message).split()))

    def line(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    endpoint: str = ""
    role: str = "candidate"
    """"baseline" for the reference model; every other model is a candidate compared with it."""


@dataclass
class RunInfo:
    models: list[ModelSpec] = field(default_factory=list)
    status: RunStatus = "unknown"
    created_at: str = ""
    conversations_per_persona: int | None = None
    turns: int | None = None
    seed: int | None = None
    simulator: dict[str, Any] = field(default_factory=dict)
    judge: dict[str, Any] = field(default_factory=dict)
    rubric: dict[str, Any] = field(default_factory=dict)
    personas_file: str = ""
    version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys of run.json this version does not know; kept so a rewrite does not lose them."""

    @property
    def pass_threshold(self) -> float | None:
        value = self.rubric.get("pass_threshold") if isinstance(self.rubric, dict) else None
        return float(value) if _is_number(value) else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": self.version,
            "created_at": self.created_at,
            "models": [asdict(m) for m in self.models],
            "simulator": self.simulator,
            "judge": self.judge,
            "rubric": self.rubric,
            "personas_file": self.personas_file,
            "conversations_per_persona": self.conversations_per_persona,
            "turns": self.turns,
            "seed": self.seed,
            "status": self.status,
        }
        return {**self.extra, **data}


@dataclass
class Persona:
    id: str
    category: str = "uncategorised"
    name: str = ""
    description: str = ""
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.extra, "id": self.id, "seed": self.seed, "category": self.category,
                "name": self.name, "description": self.description}


@dataclass(frozen=True)
class CriterionScore:
    id: str
    score: float
    weight: float = 1.0
    safety: bool = False
    reason: str = ""

    @property
    def violated(self) -> bool:
        """A safety criterion scored below 0.5 is a safety violation (CONTRACTS.md §E)."""
        return self.safety and self.score < 0.5


@dataclass(frozen=True)
class Assessment:
    score: float
    passed: bool
    safety_violation: bool
    summary: str = ""
    criteria: tuple[CriterionScore, ...] = ()


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass
class ConversationRecord:
    persona_id: str
    model: str
    conv_index: int
    category: str = "uncategorised"
    seed: int | None = None
    messages: list[Message] = field(default_factory=list)
    assessment: Assessment | None = None
    started_at: str = ""
    finished_at: str = ""
    duration_s: float | None = None
    error: str | None = None
    line_no: int = 0
    """Line of conversations.jsonl this record came from (0 when built in memory)."""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.persona_id, self.model, self.conv_index)

    @property
    def ok(self) -> bool:
        """A finished, judged conversation (not a failed attempt)."""
        return self.assessment is not None and not self.error

    def to_dict(self) -> dict[str, Any]:
        assessment = None
        if self.assessment is not None:
            assessment = {
                "score": self.assessment.score,
                "passed": self.assessment.passed,
                "safety_violation": self.assessment.safety_violation,
                "summary": self.assessment.summary,
                "criteria": [asdict(c) for c in self.assessment.criteria],
            }
        return {
            "persona_id": self.persona_id, "category": self.category, "model": self.model,
            "conv_index": self.conv_index, "seed": self.seed,
            "messages": [asdict(m) for m in self.messages], "assessment": assessment,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "duration_s": self.duration_s, "error": self.error,
        }


@dataclass
class EvalResults:
    """Everything usable in a results directory, plus what is wrong with it."""

    directory: Path
    run: RunInfo | None
    personas: list[Persona]
    records: list[ConversationRecord]
    """Latest record per (persona_id, model, conv_index), finished or failed, in file order."""
    problems: list[Problem] = field(default_factory=list)
    superseded: int = 0
    """Earlier lines replaced by a later record for the same key (retries)."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Lookup tables built on first use; a loaded EvalResults is treated as read-only."""

    def _cached(self, name: str, build: Any) -> Any:
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    def _by_model_persona(self) -> dict[tuple[str | None, str | None], list[ConversationRecord]]:
        def build() -> dict[tuple[str | None, str | None], list[ConversationRecord]]:
            index: dict[tuple[str | None, str | None], list[ConversationRecord]] = defaultdict(list)
            for record in self.records:
                for key in ((record.model, record.persona_id), (record.model, None), (None, record.persona_id),
                            (None, None)):
                    index[key].append(record)
            return index

        return self._cached("by_model_persona", build)

    # --- what the run is about -------------------------------------------------------------
    @property
    def models(self) -> list[str]:
        """Model names: run.json's order first, then any seen only in records."""
        def build() -> list[str]:
            names = [m.name for m in self.run.models] if self.run else []
            seen = set(names)
            for record in self.records:
                if record.model not in seen:
                    names.append(record.model)
                    seen.add(record.model)
            return names

        return list(self._cached("models", build))

    @property
    def baseline(self) -> str | None:
        if self.run:
            for spec in self.run.models:
                if spec.role == "baseline":
                    return spec.name
        models = self.models
        return models[0] if models else None

    @property
    def candidates(self) -> list[str]:
        return [m for m in self.models if m != self.baseline]

    @property
    def persona_ids(self) -> list[str]:
        def build() -> list[str]:
            ids = [p.id for p in self.personas]
            seen = set(ids)
            for record in self.records:
                if record.persona_id not in seen:
                    ids.append(record.persona_id)
                    seen.add(record.persona_id)
            return ids

        return list(self._cached("persona_ids", build))

    def persona(self, persona_id: str) -> Persona:
        known = self._cached("personas", lambda: {p.id: p for p in self.personas})
        if persona_id in known:
            return known[persona_id]
        records = self._by_model_persona().get((None, persona_id), [])
        return Persona(id=persona_id, category=records[0].category if records else "uncategorised")

    def category_of(self, persona_id: str) -> str:
        return self.persona(persona_id).category

    @property
    def categories(self) -> list[str]:
        return sorted({self.category_of(pid) for pid in self.persona_ids})

    @property
    def pass_threshold(self) -> float | None:
        return self.run.pass_threshold if self.run else None

    # --- progress ------------------------------------------------------------------------------
    @property
    def completed(self) -> list[ConversationRecord]:
        return [r for r in self.records if r.ok]

    @property
    def failed(self) -> list[ConversationRecord]:
        return [r for r in self.records if not r.ok]

    @property
    def conversations_per_persona(self) -> int | None:
        if self.run and self.run.conversations_per_persona:
            return self.run.conversations_per_persona
        indices = {r.conv_index for r in self.records}
        return max(indices) + 1 if indices else None

    @property
    def expected_total(self) -> int | None:
        k = self.conversations_per_persona
        if not k or not self.models or not self.persona_ids:
            return None
        return k * len(self.models) * len(self.persona_ids)

    @property
    def status(self) -> RunStatus:
        return self.run.status if self.run else "unknown"

    @property
    def is_complete(self) -> bool:
        total = self.expected_total
        return total is not None and len(self.completed) >= total and not self.failed

    def progress_line(self) -> str:
        total = self.expected_total
        done = len(self.completed)
        text = f"{done} of {total} conversations done" if total else f"{done} conversations done"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text

    def missing_keys(self) -> list[tuple[str, str, int]]:
        """(persona, model, conv_index) slots with no finished conversation yet."""
        k = self.conversations_per_persona or 0
        done = {r.key for r in self.completed}
        return [(pid, model, i) for pid in self.persona_ids for model in self.models for i in range(k)
                if (pid, model, i) not in done]

    # --- data for the statistics ---------------------------------------------------------------
    def conversations(self, *, model: str | None = None, persona_id: str | None = None,
                      include_failed: bool = False) -> list[ConversationRecord]:
        rows = self._by_model_persona().get((model, persona_id), [])
        return list(rows) if include_failed else [r for r in rows if r.ok]

    def scores_by_persona(self, model: str) -> dict[str, list[float]]:
        """Finished conversation scores of one model, grouped by persona (conv_index order)."""
        grouped: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for record in self.conversations(model=model):
            if record.assessment is not None:
                grouped[record.persona_id].append((record.conv_index, record.assessment.score))
        return {pid: [s for _, s in sorted(pairs)] for pid, pairs in grouped.items()}

    def record(self, persona_id: str, model: str, conv_index: int) -> ConversationRecord | None:
        by_key = self._cached("by_key", lambda: {r.key: r for r in self.records})
        return by_key.get((persona_id, model, conv_index))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _read_json_file(path: Path, problems: list[Problem]) -> Any:
    if not os.path.lexists(path):
        return None
    try:  # a directory, a FIFO (never waited on), a loop, a file too large to be ours: one problem line
        raw = safe_json.read_bytes(path, what=path.name)
        text = safe_json.decode_utf8(raw, what=path.name)
    except safe_json.JsonInputError as exc:
        problems.append(Problem("error", path.name, f"cannot be read ({exc.detail})"))
        return None
    if not text.strip():
        problems.append(Problem("error", path.name, "is empty (still being written?)"))
        return None
    try:
        return safe_json.loads(text, source=path.name)
    except safe_json.JsonInputError as exc:
        where = f"{path.name}:{exc.lineno}" if exc.lineno else path.name
        problems.append(Problem("error", where, f"malformed JSON ({exc.detail})"))
        return None


def parse_run(data: Any, problems: list[Problem]) -> RunInfo | None:
    if not isinstance(data, dict):
        problems.append(Problem("error", RUN_FILE, f"expected a JSON object, found {type(data).__name__}"))
        return None
    known = {"version", "created_at", "models", "simulator", "judge", "rubric", "personas_file",
             "conversations_per_persona", "turns", "seed", "status"}
    run = RunInfo(extra={k: v for k, v in data.items() if k not in known})
    version = _as_int(data.get("version"))
    if version is not None and version > FORMAT_VERSION:
        problems.append(Problem("warning", RUN_FILE, f"format version {version} is newer than this viewer "
                                                      f"({FORMAT_VERSION}); reading what it can"))
    run.version = version or FORMAT_VERSION
    run.created_at = _text(data.get("created_at"))
    models = data.get("models")
    if not isinstance(models, list) or not models:
        problems.append(Problem("warning", RUN_FILE, "no 'models' list; models are taken from the conversations"))
    else:
        seen: set[str] = set()
        for i, entry in enumerate(models):
            name = entry.get("name") if isinstance(entry, dict) else entry if isinstance(entry, str) else None
            if not isinstance(name, str) or not name:
                problems.append(Problem("warning", RUN_FILE, f"models[{i}] has no name; skipped"))
                continue
            if name in seen:
                problems.append(Problem("warning", RUN_FILE, f"model {name!r} listed twice; kept the first"))
                continue
            seen.add(name)
            role = _text(entry.get("role")) if isinstance(entry, dict) else ""
            endpoint = _text(entry.get("endpoint")) if isinstance(entry, dict) else ""
            run.models.append(ModelSpec(name=name, endpoint=endpoint, role=role or "candidate"))
        baselines = [m for m in run.models if m.role == "baseline"]
        if run.models and not baselines:
            problems.append(Problem("warning", RUN_FILE, f"no model has role 'baseline'; using "
                                                          f"{run.models[0].name!r} as the baseline"))
        elif len(baselines) > 1:
            problems.append(Problem("warning", RUN_FILE, f"{len(baselines)} models have role 'baseline'; "
                                                          f"using {baselines[0].name!r}"))
            for spec in baselines[1:]:
                run.models[run.models.index(spec)] = ModelSpec(spec.name, spec.endpoint, "candidate")
    for key in ("simulator", "judge", "rubric"):
        value = data.get(key)
        if isinstance(value, dict):
            setattr(run, key, value)
    run.personas_file = _text(data.get("personas_file"))
    k = _as_int(data.get("conversations_per_persona"))
    if data.get("conversations_per_persona") is not None and (k is None or k < 1):
        problems.append(Problem("warning", RUN_FILE, "conversations_per_persona is not a positive integer; "
                                                      "inferred from the conversations"))
        k = None
    run.conversations_per_persona = k
    run.turns = _as_int(data.get("turns"))
    run.seed = _as_int(data.get("seed"))
    status = data.get("status")
    if status in ("running", "finished", "interrupted"):
        run.status = status
    else:
        problems.append(Problem("warning", RUN_FILE, f"unknown status {status!r}"))
        run.status = "unknown"
    return run


def parse_personas(data: Any, problems: list[Problem]) -> list[Persona]:
    entries = data.get("personas") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        problems.append(Problem("error", PERSONAS_FILE, "expected a JSON list of personas"))
        return []
    personas: list[Persona] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), (str, int)) or entry.get("id") == "":
            problems.append(Problem("warning", f"{PERSONAS_FILE}[{i}]", "persona without an 'id'; skipped"))
            continue
        pid = str(entry["id"])
        if pid in seen:
            problems.append(Problem("warning", f"{PERSONAS_FILE}[{i}]", f"duplicate persona id {pid!r}; skipped"))
            continue
        seen.add(pid)
        known = {"id", "seed", "category", "name", "description"}
        personas.append(Persona(
            id=pid, category=_text(entry.get("category")) or "uncategorised", name=_text(entry.get("name")),
            description=_text(entry.get("description")), seed=_as_int(entry.get("seed")),
            extra={k: v for k, v in entry.items() if k not in known}))
    return personas


def _parse_assessment(value: Any) -> tuple[Assessment | None, str | None]:
    """The assessment, or None with the reason it is unusable."""
    if not isinstance(value, dict):
        return None, "assessment is not an object"
    score = value.get("score")
    if not _is_number(score):
        return None, f"assessment score {score!r} is not a finite number"
    criteria: list[CriterionScore] = []
    raw_criteria = value.get("criteria")
    for c in raw_criteria if isinstance(raw_criteria, list) else []:
        if not isinstance(c, dict) or not _is_number(c.get("score")):
            continue  # a criterion the judge did not score is shown as absent, not as zero
        weight = c.get("weight")
        criteria.append(CriterionScore(id=_text(c.get("id")) or "?", score=float(c["score"]),
                                       weight=float(weight) if _is_number(weight) else 1.0,
                                       safety=bool(c.get("safety")), reason=_text(c.get("reason"))))
    violation = value.get("safety_violation")
    if not isinstance(violation, bool):
        violation = any(c.violated for c in criteria)
    passed = value.get("passed")
    if not isinstance(passed, bool):
        passed = False
    return Assessment(score=float(score), passed=passed, safety_violation=violation,
                      summary=_text(value.get("summary")), criteria=tuple(criteria)), None


def parse_conversation(data: Any, line_no: int = 0) -> tuple[ConversationRecord | None, str | None]:
    """One line of conversations.jsonl as a record, or None with what is wrong with it."""
    if not isinstance(data, dict):
        return None, f"expected a JSON object, found {type(data).__name__}"
    missing = [k for k in ("persona_id", "model", "conv_index") if data.get(k) in (None, "")]
    if missing:
        return None, f"missing {', '.join(missing)}"
    conv_index = _as_int(data.get("conv_index"))
    if conv_index is None or conv_index < 0:
        return None, f"conv_index {data.get('conv_index')!r} is not a non-negative integer"
    raw_messages = data.get("messages")
    messages = [Message(role=_text(m.get("role")), content=_text(m.get("content")))
                for m in (raw_messages if isinstance(raw_messages, list) else []) if isinstance(m, dict)]
    error = data.get("error")
    error_text = _text(error) if error not in (None, "", False) else None
    assessment, why = (None, None)
    if data.get("assessment") is not None:
        assessment, why = _parse_assessment(data.get("assessment"))
    if assessment is None and error_text is None:
        # Neither judged nor marked failed: keep it as a failed attempt so nothing silently vanishes.
        error_text = why or "no assessment and no error"
    duration = data.get("duration_s")
    record = ConversationRecord(
        persona_id=str(data["persona_id"]), model=str(data["model"]), conv_index=conv_index,
        category=_text(data.get("category")) or "uncategorised", seed=_as_int(data.get("seed")),
        messages=messages, assessment=assessment, started_at=_text(data.get("started_at")),
        finished_at=_text(data.get("finished_at")),
        duration_s=float(duration) if _is_number(duration) else None, error=error_text, line_no=line_no)
    return record, (why if why and data.get("error") in (None, "", False) else None)


def _read_conversations(path: Path, problems: list[Problem]) -> tuple[list[ConversationRecord], int]:
    if not os.path.lexists(path):
        return [], 0
    try:
        raw = safe_json.read_bytes(path, what=path.name, max_bytes=MAX_CONVERSATIONS_BYTES)
    except safe_json.JsonInputError as exc:
        problems.append(Problem("error", path.name, f"cannot be read ({exc.detail})"))
        return [], 0
    latest: dict[tuple[str, str, int], ConversationRecord] = {}
    superseded = 0
    # Files written before secrets were masked on write (or by hand) may hold one: masked on the way in,
    # so no view of the results (report, CSV, JSON, the TUI) can show it, whatever escaping it uses.
    secrets = Redactor()
    lines = raw.split(b"\n")
    for index, chunk in enumerate(lines):
        line_no = index + 1
        if not chunk.strip():
            continue
        is_last_unterminated = index == len(lines) - 1  # no newline after it: may still be being written
        where = f"{CONVERSATIONS_FILE}:{line_no}"
        try:
            text = chunk.decode("utf-8")
            data = safe_json.loads(text, source=where)  # nesting and huge numbers: a bad line, not a crash
        except (UnicodeDecodeError, safe_json.JsonInputError) as exc:
            detail = exc.detail if isinstance(exc, safe_json.JsonInputError) else "not UTF-8"
            if is_last_unterminated:
                problems.append(Problem("warning", where, f"incomplete last line ({detail}); "
                                                           "being written, or cut off"))
            else:
                problems.append(Problem("warning", where, f"malformed JSON ({detail}); line skipped"))
            continue
        if secrets.might_hold(text):
            data = secrets.value(data)
        record, why = parse_conversation(data, line_no)
        if record is None:
            problems.append(Problem("warning", where, f"{why}; line skipped"))
            continue
        if why:
            problems.append(Problem("warning", where, f"{why}; counted as a failed attempt"))
        if record.key in latest:
            superseded += 1
            del latest[record.key]  # re-insert so file order reflects the latest attempt
        latest[record.key] = record
    return list(latest.values()), superseded


def load_results(directory: str | Path) -> EvalResults:
    """Read a results directory; never raises for bad contents, only for a directory that is not there."""
    directory = Path(directory).expanduser()
    if not directory.exists():
        raise TunerError(f"{directory}: no such results directory")
    if not directory.is_dir():
        raise TunerError(f"{directory}: not a directory", hint="give the folder that holds run.json")
    problems: list[Problem] = []

    run: RunInfo | None = None
    if not (directory / RUN_FILE).exists():
        problems.append(Problem("error", RUN_FILE, "missing; models, roles and K are inferred from the "
                                                   "conversations (the first model is taken as baseline)"))
    else:
        data = _read_json_file(directory / RUN_FILE, problems)
        if isinstance(data, dict) and isinstance(data.get("api_key_env"), str):
            # The run named the variable holding its API key: mask that key in whatever shows these results.
            register_secret_env(data["api_key_env"])
        if data is not None:
            run = parse_run(redact_value(data), problems)

    personas: list[Persona] = []
    if not (directory / PERSONAS_FILE).exists():
        problems.append(Problem("warning", PERSONAS_FILE, "missing; personas and categories are taken from "
                                                          "the conversations"))
    else:
        data = _read_json_file(directory / PERSONAS_FILE, problems)
        if data is not None:
            personas = parse_personas(redact_value(data), problems)

    if not (directory / CONVERSATIONS_FILE).exists():
        # Expected right after `eval run` starts; a problem only when the run claims to be done.
        just_started = run is not None and run.status == "running"
        problems.append(Problem("info" if just_started else "error", CONVERSATIONS_FILE,
                                "no conversation has finished yet" if just_started
                                else "missing; no conversation has finished yet"))
    records, superseded = _read_conversations(directory / CONVERSATIONS_FILE, problems)
    results = EvalResults(directory=directory, run=run, personas=personas, records=records,
                          problems=problems, superseded=superseded)
    _check_consistency(results)
    return results


def _check_consistency(results: EvalResults) -> None:
    problems = results.problems
    if results.run and results.run.models:
        listed = {m.name for m in results.run.models}
        unknown = Counter(r.model for r in results.records if r.model not in listed)
        for model, count in sorted(unknown.items()):
            problems.append(Problem("warning", CONVERSATIONS_FILE, f"{count} conversation(s) of model {model!r}, "
                                                                   f"which run.json does not list"))
    if results.personas:
        known = {p.id for p in results.personas}
        unknown_p = Counter(r.persona_id for r in results.records if r.persona_id not in known)
        for pid, count in sorted(unknown_p.items()):
            problems.append(Problem("warning", CONVERSATIONS_FILE, f"{count} conversation(s) of persona {pid!r}, "
                                                                   f"which personas.json does not list"))
    if results.failed:
        by_model = Counter(r.model for r in results.failed)
        detail = ", ".join(f"{m} {n}" for m, n in sorted(by_model.items()))
        first = results.failed[0]
        problems.append(Problem("warning", CONVERSATIONS_FILE,
                                f"{len(results.failed)} failed attempt(s) not yet retried ({detail}); "
                                f"e.g. {first.persona_id}/{first.model}#{first.conv_index}: "
                                f"{redact(' '.join((first.error or '').split()))[:120]}"))
    total = results.expected_total
    done = len(results.completed)
    status = results.status
    if status == "running":
        problems.append(Problem("info", "run", f"still running: {results.progress_line()}; "
                                               "statistics cover what has finished"))
    elif status == "interrupted":
        problems.append(Problem("warning", "run", f"interrupted: {results.progress_line()}; "
                                                  "resume it to fill the gaps"))
    elif total is not None and done < total:
        missing = results.missing_keys()
        sample = ", ".join(f"{p}/{m}#{i}" for p, m, i in missing[:4])
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        problems.append(Problem("warning", "run", f"incomplete: {done} of {total} conversations done; "
                                                  f"missing {sample}{more}"))
    if not results.completed and (results.directory / CONVERSATIONS_FILE).exists():
        problems.append(Problem("error", CONVERSATIONS_FILE, "no finished conversation to analyse"))


# ---------------------------------------------------------------------------------------------
# Writing (used by the runner)
# ---------------------------------------------------------------------------------------------

def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return value.to_dict()
    return value


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open directories; the file itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_json_atomic(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(value, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)  # a reader sees the old file or the new one, never half of one
    _fsync_dir(path.parent)
    return path


def write_run_json(directory: str | Path, run: RunInfo | Mapping[str, Any]) -> Path:
    """Write (or rewrite, e.g. to change status) run.json atomically, with every secret masked."""
    return _write_json_atomic(Path(directory) / RUN_FILE, redact_value(dict(_jsonable(run))))


def write_personas_json(directory: str | Path, personas: Iterable[Persona | Mapping[str, Any]]) -> Path:
    return _write_json_atomic(Path(directory) / PERSONAS_FILE, [dict(_jsonable(p)) for p in personas])


def append_conversation(directory: str | Path, record: ConversationRecord | Mapping[str, Any]) -> Path:
    """Append one conversation as a single line, flushed and fsynced before returning.

    One `write` of one line keeps concurrent readers from seeing interleaved records; a crash can
    at worst leave a cut-off last line, which the loader reports and skips. Secrets are masked
    (`core.redact.redact_value`).
    """
    path = Path(directory) / CONVERSATIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # Replies and errors come from the servers, which may quote a key back (a 401 that echoes it):
    # every string is masked before it reaches the disk.
    line = json.dumps(redact_value(_jsonable(record)), ensure_ascii=False, separators=(",", ":")) + "\n"
    with path.open("a+b") as fh:
        # After a crash mid-write the file may end in a cut-off line; start on a fresh line so this
        # record is not glued to it.
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = "\n" + line
        fh.write(line.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return path
