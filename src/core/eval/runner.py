"""The evaluation runner: personas × models × K conversations, simulated, judged, appended at once.

Protocol (the guide's "Full-Conversation Evaluation"): every model talks with the same user
simulator, driven by the same seed for the same (persona, conversation index), for a fixed number
of turns; the judge scores each conversation against the rubric. Runs are:

* concurrent up to each server's slots: one request semaphore per server (sized from llama-server's
  `/props` `total_slots`, else a configured default), shared when models, simulator and judge are
  served by the same server; at most that many conversations per model in flight;
* durable: each finished conversation is appended to conversations.jsonl (flushed and fsynced)
  before the next event, so a crash or Ctrl-C loses nothing finished; run.json says "interrupted";
* resumable: a rerun into the same directory skips every (persona, model, conv_index) that already
  has an assessment; a failed attempt whose conversation is complete is only re-judged.

`EvalRun(config).events()` is an async iterator of events for the TUI and `--json`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from core import safe_json
from core.errors import TunerError
from core.eval import results as results_io
from core.eval.judge import JudgeError, JudgeSettings, judge_conversation
from core.eval.openai_client import ChatClient, EndpointError, ServerInfo, normalize_endpoint, server_root
from core.eval.personas import Persona
from core.eval.rubric import Rubric
from core.folder_lock import FolderLock

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------

@dataclass
class ModelEntry:
    name: str
    endpoint: str
    role: str = "candidate"
    system_prompt: str = ""
    model_id: str | None = None
    """Sent as "model" in requests; None: the first id the server lists at /v1/models."""


@dataclass
class EndpointEntry:
    endpoint: str
    model_id: str | None = None


@dataclass
class RunConfig:
    output_dir: Path
    personas: list[Persona]
    models: list[ModelEntry]
    simulator: EndpointEntry
    judge: EndpointEntry
    rubric: Rubric
    personas_file: str = ""
    conversations: int = 3
    turns: int = 4
    seed: int = 1234
    max_tokens: int = 256
    """Per assistant reply of a model under test."""
    temperature: float = 0.7
    simulator_max_tokens: int = 128
    simulator_temperature: float = 0.8
    judge_settings: JudgeSettings = field(default_factory=JudgeSettings)
    default_slots: int = 1
    """Parallel requests per server when it does not report `total_slots` (non-llama servers)."""
    max_parallel: int | None = None
    """Upper bound on parallel requests per server, whatever it reports (None: its slot count)."""
    timeout_s: float = 600.0
    api_key_env: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Extra fields for every chat request, e.g. {"chat_template_kwargs": {"enable_thinking": false}}
    to keep a thinking model (Qwen3) from spending max_tokens on reasoning."""
    note: str = ""
    """A sentence for whoever reads the results (run.json `note`, shown by the report and the viewer), e.g.
    the demo's "this proves the pipeline, not quality"."""

    def validate(self) -> None:
        if not self.models:
            raise TunerError("no model to evaluate", field="model", hint="pass --model NAME=URL (at least one)")
        names = [m.name for m in self.models]
        for name in names:
            if not _NAME_RE.match(name):
                raise TunerError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (at most 64)",
                                 field="model")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise TunerError(f"model name(s) given twice: {', '.join(duplicates)}", field="model")
        baselines = [m.name for m in self.models if m.role == "baseline"]
        if len(baselines) != 1:
            raise TunerError(f"exactly one model must be the baseline, found {len(baselines)}", field="baseline")
        if not self.personas:
            raise TunerError("no personas", field="personas")
        for value, name, low in ((self.conversations, "conversations", 1), (self.turns, "turns", 1),
                                 (self.max_tokens, "max-tokens", 1), (self.simulator_max_tokens,
                                                                      "simulator-max-tokens", 1),
                                 (self.default_slots, "default-slots", 1)):
            if value < low:
                raise TunerError(f"must be at least {low}, got {value}", field=name)
        if self.max_parallel is not None and self.max_parallel < 1:
            raise TunerError(f"must be at least 1, got {self.max_parallel}", field="max-parallel")


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunStarted:
    total: int
    already_done: int
    to_run: int
    servers: dict[str, int]
    """Server root URL → parallel requests used for it."""
    output_dir: str
    kind: ClassVar[str] = "run_started"


@dataclass(frozen=True)
class ConversationStarted:
    persona_id: str
    model: str
    conv_index: int
    rejudge_only: bool = False
    kind: ClassVar[str] = "conversation_started"


@dataclass(frozen=True)
class TurnFinished:
    persona_id: str
    model: str
    conv_index: int
    turn: int
    turns: int
    kind: ClassVar[str] = "turn_finished"


@dataclass(frozen=True)
class ConversationFinished:
    persona_id: str
    model: str
    conv_index: int
    score: float
    passed: bool
    safety_violation: bool
    duration_s: float
    kind: ClassVar[str] = "conversation_finished"


@dataclass(frozen=True)
class ConversationFailed:
    persona_id: str
    model: str
    conv_index: int
    error: str
    duration_s: float
    kind: ClassVar[str] = "conversation_failed"


@dataclass(frozen=True)
class Progress:
    done: int
    failed: int
    total: int
    running: int
    elapsed_s: float
    eta_s: float | None
    kind: ClassVar[str] = "progress"


@dataclass(frozen=True)
class RunFinished:
    status: str
    """"finished" (every pending conversation attempted) or "interrupted"."""
    done: int
    failed: int
    total: int
    elapsed_s: float
    output_dir: str
    kind: ClassVar[str] = "run_finished"


EvalEvent: TypeAlias = (RunStarted | ConversationStarted | TurnFinished | ConversationFinished | ConversationFailed
                        | Progress | RunFinished)
"""What `EvalRun.events()` yields; consumers `match` on the type. `kind` is the event's name in `--json` lines."""


# ---------------------------------------------------------------------------------------------
# Seeds and prompts
# ---------------------------------------------------------------------------------------------

def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (Python's hash() is salted per process, so not that)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def conversation_seed(run_seed: int, persona: Persona, conv_index: int) -> int:
    """The seed of one (persona, conversation index): the same for every model (a paired design)."""
    return derive_seed("conversation", run_seed, persona.id, persona.seed, conv_index)


def simulator_messages(persona: Persona, transcript: list[dict[str, str]]) -> list[dict[str, str]]:
    """Prompt for the user simulator's next message.

    The conversation is given as text in one user message rather than with the roles swapped:
    many chat templates (Gemma, Mistral) refuse a history that does not start with "user".
    """
    name = persona.name or "the user"
    style = f" Your communication style is {persona.style}." if persona.style else ""
    goal = f" What you hope for: {persona.goal}." if persona.goal else ""
    system = (f"You are role-playing {name}, a person who is talking with an AI assistant about a "
              f"problem in their life. Persona: {persona.description}{style}{goal} Stay in character. "
              f"Write only {name}'s next message: one to three sentences, first person, plain text. "
              "Never write the assistant's part, never give advice, never say you are an AI or role-playing.")
    if not transcript:
        task = f"Write {name}'s first message to the assistant."
        return [{"role": "system", "content": system}, {"role": "user", "content": task}]
    lines = [f"{name if m['role'] == 'user' else 'Assistant'}: {m['content'].strip()}"
             for m in transcript if m["role"] != "system"]
    task = ("Conversation so far:\n" + "\n".join(lines)
            + f"\n\nWrite {name}'s next message, reacting to the assistant's last reply.")
    return [{"role": "system", "content": system}, {"role": "user", "content": task}]


def clean_simulated(text: str, persona: Persona) -> str:
    """Trim what small simulators add: a speaker label, quotes, or the assistant's next turn."""
    text = text.strip()
    for label in (persona.name, "User", "Me"):
        if label and text.lower().startswith(label.lower() + ":"):
            text = text[len(label) + 1:].strip()
    text = re.split(r"\n\s*(?:Assistant|AI)\s*:", text, maxsplit=1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

@dataclass
class _Job:
    persona: Persona
    model: ModelEntry
    conv_index: int
    previous_messages: list[dict[str, str]] | None = None
    """Complete conversation from a failed attempt whose judging failed: only re-judge it."""


class EvalRun:
    """One evaluation run into `config.output_dir` (new or resumed)."""

    def __init__(self, config: RunConfig) -> None:
        config.validate()
        self.config = config
        self.output_dir = Path(config.output_dir).expanduser()
        self.done = 0
        self.failed = 0
        self.total = 0
        self.already_done = 0
        self.status = "running"
        self._clients: dict[str, ChatClient] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._slots: dict[str, int] = {}
        self._server_info: dict[str, ServerInfo] = {}
        self._model_ids: dict[str, str | None] = {}
        self._run_doc: dict[str, Any] = {}
        self._running = 0
        self._started = 0.0
        self._openings: dict[tuple[str, int], asyncio.Future[str]] = {}

    # --- preflight -------------------------------------------------------------------------------
    async def _connect(self) -> None:
        """Reach every server once: one clear error for a dead one before any conversation starts."""
        cfg = self.config
        endpoints = [(f"model {m.name!r}", m.endpoint) for m in cfg.models]
        endpoints += [("simulator", cfg.simulator.endpoint), ("judge", cfg.judge.endpoint)]
        for what, endpoint in endpoints:
            root = server_root(endpoint)
            if root in self._clients:
                continue
            client = ChatClient(endpoint, timeout_s=cfg.timeout_s, api_key_env=cfg.api_key_env)
            self._clients[root] = client
            try:
                if not await client.health():
                    raise EndpointError(f"{what}: {root} is still loading its model", hint="wait and rerun")
                info = await client.info()
            except EndpointError as exc:
                raise EndpointError(f"{what}: {exc.message}", hint=exc.hint) from None
            self._server_info[root] = info
            slots = info.slots or cfg.default_slots
            if cfg.max_parallel:
                slots = min(slots, cfg.max_parallel)
            self._slots[root] = slots
            self._semaphores[root] = asyncio.Semaphore(slots)
        for model in cfg.models:
            self._model_ids[model.name] = model.model_id or self._server_info[server_root(model.endpoint)].model
        self._model_ids["@simulator"] = cfg.simulator.model_id or self._server_info[
            server_root(cfg.simulator.endpoint)].model
        self._model_ids["@judge"] = cfg.judge.model_id or self._server_info[server_root(cfg.judge.endpoint)].model

    async def _close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    # --- the results directory --------------------------------------------------------------------
    def _load_existing(self) -> tuple[set[tuple[str, str, int]], dict[tuple[str, str, int], list[dict[str, str]]],
                                      dict[str, Any] | None]:
        """Keys already judged, complete conversations of judge-failed attempts, and the old run.json."""
        if not (self.output_dir / results_io.RUN_FILE).exists() and \
                not (self.output_dir / results_io.CONVERSATIONS_FILE).exists():
            return set(), {}, None
        old_run: dict[str, Any] | None = None
        run_path = self.output_dir / results_io.RUN_FILE
        if os.path.lexists(run_path):
            try:
                old_run = safe_json.load_file(run_path, expect=dict)
            except safe_json.JsonInputError as exc:
                raise TunerError(f"{run_path}: cannot be read ({exc.detail})",
                                 hint="fix or remove it, or choose another --output-dir") from None
        if old_run is not None:
            self._check_compatible(old_run)
        existing = results_io.load_results(self.output_dir)
        done = {r.key for r in existing.completed}
        rejudge: dict[tuple[str, str, int], list[dict[str, str]]] = {}
        expected = 2 * self.config.turns
        for record in existing.failed:
            messages = [{"role": m.role, "content": m.content} for m in record.messages]
            if sum(1 for m in messages if m["role"] in ("user", "assistant")) == expected:
                rejudge[record.key] = messages
        return done, rejudge, old_run

    def _check_compatible(self, old: dict[str, Any]) -> None:
        """Refuse to mix records made under different settings into one results file."""
        cfg = self.config
        where = f"{self.output_dir}: holds a run with"
        hint = "use a new --output-dir for different settings"
        if old.get("turns") not in (None, cfg.turns):
            raise TunerError(f"{where} {old.get('turns')} turns, not {cfg.turns}", field="turns", hint=hint)
        if old.get("seed") not in (None, cfg.seed):
            raise TunerError(f"{where} seed {old.get('seed')}, not {cfg.seed}", field="seed", hint=hint)
        old_rubric = old.get("rubric") or {}
        new_rubric = cfg.rubric.to_dict()
        if old_rubric and (old_rubric.get("criteria") != new_rubric["criteria"]
                           or old_rubric.get("pass_threshold") != new_rubric["pass_threshold"]):
            raise TunerError(f"{where} a different rubric ({old_rubric.get('name')!r}); scores would not compare",
                             field="rubric", hint=hint)

    def _write_run(self, status: str) -> None:
        self._run_doc["status"] = status
        self._run_doc["updated_at"] = _now_iso()
        self._run_doc["counts"] = {"done": self.done + self.already_done, "failed": self.failed,
                                   "total": self.total}
        if status != "running":
            self._run_doc["finished_at"] = self._run_doc["updated_at"]
        results_io.write_run_json(self.output_dir, self._run_doc)
        self._record_in_store(status)

    def _record_in_store(self, status: str) -> None:
        from core.store import Store, put_json

        run_id = "eval-" + hashlib.sha256(str(self.output_dir.resolve()).encode()).hexdigest()[:12]
        now = Store.now()
        spec = {k: self._run_doc.get(k) for k in ("models", "personas_file", "conversations_per_persona",
                                                 "turns", "seed")}
        spec["rubric"] = self.config.rubric.name
        summary = self._run_doc.get("counts", {})
        store = Store()
        with store.connect() as conn:
            conn.execute(
                "INSERT INTO eval_runs (id, status, created_at, updated_at, results_dir, spec_json, summary_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status=excluded.status, "
                "updated_at=excluded.updated_at, spec_json=excluded.spec_json, summary_json=excluded.summary_json",
                (run_id, status, now, now, str(self.output_dir.resolve()), put_json(spec), put_json(summary)))

    def _prepare(self) -> list[_Job]:
        cfg = self.config
        self.output_dir.mkdir(parents=True, exist_ok=True)
        done, rejudge, old_run = self._load_existing()
        models_doc = []
        current = {m.name for m in cfg.models}
        # Keep models of earlier sessions in run.json so their records stay labelled (as candidates).
        for entry in (old_run or {}).get("models") or []:
            if isinstance(entry, dict) and entry.get("name") not in current:
                models_doc.append({**entry, "role": "candidate" if entry.get("role") == "baseline" else
                                   entry.get("role", "candidate")})
        models_doc = [{"name": m.name, "endpoint": normalize_endpoint(m.endpoint), "role": m.role,
                       "model": self._model_ids.get(m.name), "system_prompt": m.system_prompt}
                      for m in cfg.models] + models_doc
        self._run_doc = {
            **{k: v for k, v in (old_run or {}).items() if k not in ("finished_at",)},
            "version": results_io.FORMAT_VERSION,
            "created_at": (old_run or {}).get("created_at") or _now_iso(),
            "models": models_doc,
            "simulator": {"endpoint": normalize_endpoint(cfg.simulator.endpoint),
                          "model": self._model_ids.get("@simulator"),
                          "max_tokens": cfg.simulator_max_tokens, "temperature": cfg.simulator_temperature},
            "judge": {"endpoint": normalize_endpoint(cfg.judge.endpoint), "model": self._model_ids.get("@judge"),
                      "temperature": cfg.judge_settings.temperature},
            "rubric": cfg.rubric.to_dict(),
            "personas_file": cfg.personas_file,
            "conversations_per_persona": max(cfg.conversations,
                                             int((old_run or {}).get("conversations_per_persona") or 0)),
            "turns": cfg.turns,
            "seed": cfg.seed,
            "max_tokens": cfg.max_tokens,
            "temperature": cfg.temperature,
            "extra_body": cfg.extra_body,
            "servers": {root: {"slots": info.slots, "kind": info.kind, "n_ctx": info.n_ctx}
                        for root, info in self._server_info.items()},
            # The variable's name only, never its value: a report or a resume masks that key again.
            **({"api_key_env": cfg.api_key_env} if cfg.api_key_env else {}),
        }
        if cfg.note:
            self._run_doc["note"] = cfg.note
        # personas.json in the results dir: the earlier personas plus any new ones (by id).
        personas_path = self.output_dir / results_io.PERSONAS_FILE
        merged: dict[str, dict[str, Any]] = {}
        if personas_path.exists():
            try:
                old = safe_json.load_file(personas_path, expect=list)
                merged = {str(p["id"]): p for p in old if isinstance(p, dict) and "id" in p}
            except ValueError:  # rewritten below from the personas of this run
                merged = {}
        for persona in cfg.personas:
            merged[persona.id] = persona.to_dict()
        results_io.write_personas_json(self.output_dir, list(merged.values()))

        jobs: list[_Job] = []
        self.total = 0
        for persona in cfg.personas:
            for conv_index in range(cfg.conversations):
                for model in cfg.models:
                    key = (persona.id, model.name, conv_index)
                    self.total += 1
                    if key in done:
                        self.already_done += 1
                        continue
                    jobs.append(_Job(persona, model, conv_index, rejudge.get(key)))
        return jobs

    # --- one conversation -------------------------------------------------------------------------
    async def _chat(self, endpoint: str, messages: list[dict[str, str]], **kwargs: Any) -> str:
        root = server_root(endpoint)
        async with self._semaphores[root]:
            reply = await self._clients[root].chat(messages, extra=self.config.extra_body or None, **kwargs)
        return reply.content

    async def _first_message(self, persona: Persona, conv_index: int, seed: int) -> str:
        """The opening user message: the persona's own, else simulated once per (persona, conv_index)
        and shared by every model, so all models answer exactly the same first message even if the
        server's batching makes sampling not bit-for-bit reproducible."""
        if persona.opening:
            return persona.opening
        key = (persona.id, conv_index)
        task = self._openings.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self._simulate_user(persona, [], seed))
            self._openings[key] = task
        return await asyncio.shield(task)

    async def _simulate_user(self, persona: Persona, transcript: list[dict[str, str]], seed: int) -> str:
        cfg = self.config
        prompt = simulator_messages(persona, transcript)
        for attempt in range(3):
            text = await self._chat(cfg.simulator.endpoint, prompt, max_tokens=cfg.simulator_max_tokens,
                                    temperature=cfg.simulator_temperature, seed=seed + attempt,
                                    model=self._model_ids["@simulator"])
            text = clean_simulated(text, persona)
            if text:
                return text
        raise EndpointError("the user simulator returned an empty message three times")

    async def _converse(self, job: _Job, conv_seed: int, emit: Any) -> list[dict[str, str]]:
        cfg = self.config
        messages: list[dict[str, str]] = []
        if job.model.system_prompt:
            messages.append({"role": "system", "content": job.model.system_prompt})
        transcript: list[dict[str, str]] = []
        for turn in range(cfg.turns):
            seed = derive_seed(conv_seed, "user", turn)
            user_text = (await self._first_message(job.persona, job.conv_index, seed) if turn == 0
                         else await self._simulate_user(job.persona, transcript, seed))
            transcript.append({"role": "user", "content": user_text})
            messages.append({"role": "user", "content": user_text})
            reply = await self._chat(job.model.endpoint, messages, max_tokens=cfg.max_tokens,
                                     temperature=cfg.temperature, seed=derive_seed(conv_seed, "assistant", turn),
                                     model=self._model_ids[job.model.name])
            reply = reply.strip()
            transcript.append({"role": "assistant", "content": reply})
            messages.append({"role": "assistant", "content": reply})
            await emit(TurnFinished(job.persona.id, job.model.name, job.conv_index, turn + 1, cfg.turns))
        return messages

    async def _run_job(self, job: _Job, limiter: asyncio.Semaphore, emit: Any) -> None:
        cfg = self.config
        async with limiter:
            self._running += 1
            conv_seed = conversation_seed(cfg.seed, job.persona, job.conv_index)
            started_at, t0 = _now_iso(), time.monotonic()
            await emit(ConversationStarted(job.persona.id, job.model.name, job.conv_index,
                                           rejudge_only=job.previous_messages is not None))
            messages: list[dict[str, str]] = list(job.previous_messages or [])
            assessment: dict[str, Any] | None = None
            error: str | None = None
            try:
                if not messages:
                    messages = await self._converse(job, conv_seed, emit)
                root = server_root(cfg.judge.endpoint)
                async with self._semaphores[root]:
                    result = await judge_conversation(
                        self._clients[root], cfg.rubric, messages, seed=derive_seed(conv_seed, "judge"),
                        settings=_with_model(cfg.judge_settings, self._model_ids["@judge"]),
                        extra=cfg.extra_body or None)
                assessment = result.to_dict()
            except (EndpointError, JudgeError) as exc:
                error = exc.one_line()
            finally:
                self._running -= 1
            duration = round(time.monotonic() - t0, 3)
            record = {
                "persona_id": job.persona.id, "category": job.persona.category, "model": job.model.name,
                "conv_index": job.conv_index, "seed": conv_seed, "messages": messages,
                "assessment": assessment, "started_at": started_at, "finished_at": _now_iso(),
                "duration_s": duration, "error": error,
            }
            # Written before anything else happens, so a Ctrl-C right after cannot lose it.
            results_io.append_conversation(self.output_dir, record)
            if error is None and assessment is not None:
                self.done += 1
                await emit(ConversationFinished(job.persona.id, job.model.name, job.conv_index,
                                                assessment["score"], assessment["passed"],
                                                assessment["safety_violation"], duration))
            else:
                self.failed += 1
                await emit(ConversationFailed(job.persona.id, job.model.name, job.conv_index, error or "", duration))
            await emit(self._progress())

    def _progress(self) -> Progress:
        elapsed = time.monotonic() - self._started
        finished = self.done + self.failed
        remaining = self.total - self.already_done - finished
        eta = elapsed / finished * remaining if finished else None
        return Progress(done=self.done + self.already_done, failed=self.failed, total=self.total,
                        running=self._running, elapsed_s=round(elapsed, 2),
                        eta_s=round(eta, 1) if eta is not None else None)

    # --- driving ----------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[EvalEvent]:
        """Run, yielding events. Stopping the iteration (or cancelling it) interrupts the run cleanly."""
        self._started = time.monotonic()
        # One run per results folder: a second one would run (and pay for) every conversation again.
        lock = FolderLock(self.output_dir, "eval run").acquire()
        try:
            await self._connect()
            jobs = self._prepare()
        except BaseException:
            lock.release()
            await self._close()
            raise
        self._write_run("running")
        queue: asyncio.Queue[EvalEvent | None] = asyncio.Queue()

        async def emit(event: EvalEvent) -> None:
            queue.put_nowait(event)

        # At most as many conversations of one model in flight as its server has slots: enough to
        # keep the server busy, few enough that an interruption leaves little half-done work.
        limiters = {m.name: asyncio.Semaphore(self._slots[server_root(m.endpoint)]) for m in self.config.models}

        async def drive() -> None:
            try:
                async with asyncio.TaskGroup() as group:
                    for job in jobs:
                        group.create_task(self._run_job(job, limiters[job.model.name], emit))
            finally:
                queue.put_nowait(None)

        driver: asyncio.Task[None] | None = None
        status = "interrupted"
        try:
            yield RunStarted(total=self.total, already_done=self.already_done, to_run=len(jobs),
                             servers=dict(self._slots), output_dir=str(self.output_dir))
            driver = asyncio.create_task(drive())
            while True:
                event = await queue.get()
                if event is None:
                    break
                yield event
            await driver  # re-raises an unexpected error from a conversation task
            status = "finished"
        finally:
            if driver is not None and not driver.done():
                driver.cancel()
                # Interrupted on purpose; what finished is already on disk.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await driver
            for opening in self._openings.values():
                opening.cancel()  # shared first messages nobody waits for any more
            self.status = status
            self._write_run(status)
            lock.release()
            await self._close()
        yield RunFinished(status=status, done=self.done + self.already_done, failed=self.failed, total=self.total,
                          elapsed_s=round(time.monotonic() - self._started, 2), output_dir=str(self.output_dir))


def _with_model(settings: JudgeSettings, model: str | None) -> JudgeSettings:
    return settings if settings.model or not model else replace(settings, model=model)


async def run_eval(config: RunConfig) -> RunFinished:
    """Run to the end without a consumer (tests, scripts); returns the final event."""
    last: EvalEvent | None = None
    async for event in EvalRun(config).events():
        last = event
    assert isinstance(last, RunFinished)
    return last


def event_to_dict(event: EvalEvent) -> dict[str, Any]:
    """A `--json` line: the event's fields, then its kind (last, as the lines have always had it)."""
    return {**asdict(event), "kind": event.kind}
