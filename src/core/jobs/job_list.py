"""The job list as a model (k9s `model.Table`): refresh on an interval, back off on errors, report changes.

One refresh = the newest page of the Hub's jobs for each namespace (user + the namespaces the launcher used)
merged with the store; older pages are read once, when the user asks for more (`load_more`); a live job that
is not on the newest page (it scrolled off, or only the store knows it) is asked about on its own. The
pause before the next refresh keeps the whole list under the request budget of `core.jobs.polling`. A
failed Hub call keeps the last good rows (marked stale) and backs off; the first success resets it. Stage
changes between two refreshes become `StageChange` events for notifications. Blocking: the TUI runs
`refresh()` in a thread worker, never two at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import TunerError
from core.jobs.jobs_source import SINGLE_TRY, HubJobs, JobsPage
from core.jobs.local_jobs import merge_rows, stored_jobs
from core.jobs.model import JobRow, is_terminal
from core.jobs.polling import Backoff, PollBudget, is_permanent
from core.store import Store

__all__ = ["Backoff", "JobList", "RefreshResult", "StageChange", "wait_for"]

MAX_LONE_INSPECTS = 5
"""Live jobs off the newest page asked about per refresh (the rest wait for the next refresh)."""


@dataclass(frozen=True)
class StageChange:
    job_id: str
    name: str
    backend: str
    old: str | None
    new: str
    message: str | None = None

    def text(self) -> str:
        old = self.old or "new"
        tail = f" — {self.message}" if self.message else ""
        return f"{self.name} ({self.job_id[:12]}): {old} → {self.new}{tail}"


@dataclass
class RefreshResult:
    rows: list[JobRow]
    changes: list[StageChange] = field(default_factory=list)
    error: str | None = None
    """One line when the Hub could not be read (rows are then the last good ones plus the store)."""
    path: str = ""
    next_in_s: float = 0.0
    requests: int = 0
    """Hub requests this refresh made (pages, whoami, lone job lookups)."""
    more: bool = False
    """The Hub has older jobs than the pages read so far (`JobList.load_more` reads the next page)."""
    hub_rows: int = 0


class JobList:
    def __init__(self, hub: HubJobs | None, *, store: Store | None = None, interval: float = 5.0,
                 max_interval: float = 120.0, namespaces: list[str] | None = None,
                 include_hub: bool = True, deadline_s: float = 15.0, budget: PollBudget | None = None,
                 pages: int = 1, stages: list[str] | None = None) -> None:
        self.deadline_s = deadline_s
        self.hub = hub
        self.store = store
        self.include_hub = include_hub and hub is not None
        self.extra_namespaces = namespaces or []
        self.budget = budget or PollBudget(refresh_s=interval, max_refresh_s=max_interval)
        self.backoff = Backoff(self.budget.refresh_s, self.budget.max_refresh_s)
        self.stages = stages
        self.first_pages = max(1, pages)
        """Pages read the first time a namespace is listed (the CLI's `--limit` may need more than one)."""
        self._known: dict[str, dict[str, JobRow]] = {}
        """Per namespace, every Hub job seen (newest page refreshed each time, older ones as last seen)."""
        self._pages_loaded: dict[str, int] = {}
        self._more: dict[str, bool] = {}
        self._load: dict[str, int] = {}
        """Pages to read on the next refresh (set by `load_more`), per namespace."""
        self._lone: dict[str, JobRow] = {}
        """Live jobs known only from the store (or scrolled off the newest page), as last inspected."""
        self.unpollable: dict[str, str] = {}
        """Jobs the Hub refused (403/404...), by id, with why: never asked about again in this session."""
        self._stages: dict[str, str] = {}
        self._busy = threading.Lock()
        self.first = True

    @property
    def interval(self) -> float:
        return self.budget.refresh_s

    def namespaces(self, stored: list[JobRow]) -> list[str]:
        assert self.hub is not None
        names = [self.hub.namespace(), *self.extra_namespaces]
        names += [r.namespace for r in stored if r.backend == "hf-jobs" and r.namespace]
        return list(dict.fromkeys(n for n in names if n))

    @property
    def has_more(self) -> bool:
        return any(self._more.values())

    def load_more(self) -> bool:
        """Ask for the next older page of every namespace that has one (read on the next refresh)."""
        wanted = False
        for namespace, more in self._more.items():
            if more:
                self._load[namespace] = self._pages_loaded.get(namespace, 1) + 1
                wanted = True
        return wanted

    def refresh(self) -> RefreshResult:
        """One refresh; a call while another is running returns at once with the last rows (no overlap)."""
        if not self._busy.acquire(blocking=False):
            return RefreshResult(rows=self._merged(stored_jobs(self.store)), error=None,
                                 path=self.hub.state.describe() if self.hub else "local only",
                                 next_in_s=self.backoff.current, more=self.has_more)
        try:
            return self._refresh()
        finally:
            self._busy.release()

    def _refresh(self) -> RefreshResult:
        stored = stored_jobs(self.store)
        error: str | None = None
        requests = 0
        if self.include_hub:
            assert self.hub is not None
            before = self.hub.requests  # every attempt counts, retries and failures included
            try:
                self._list_with_deadline(stored)
                requests = self.hub.requests - before
                self.backoff.success()
            except TunerError as exc:
                requests = self.hub.requests - before
                error = exc.one_line()
                self.backoff.failure(getattr(exc, "retry_after", None), permanent=is_permanent(exc))
        else:
            self.backoff.success()
        rows = self._merged(stored)
        live = any(not r.is_terminal for r in rows if r.backend == "hf-jobs")
        if error is None:
            next_in = self.budget.interval(requests, live=live)
        else:
            next_in = max(self.backoff.current, self.budget.floor(requests))
        changes = self._changes(rows)
        return RefreshResult(rows, changes, error, self.hub.state.describe() if self.include_hub and self.hub
                             else "local only", next_in, requests, self.has_more,
                             sum(1 for r in rows if r.backend == "hf-jobs"))

    def _list_with_deadline(self, stored: list[JobRow]) -> None:
        """List every namespace, giving up after `deadline_s`: huggingface_hub retries a dropped connection
        for ~23 s on its own, and the status bar must say "not answering" long before that."""
        assert self.hub is not None
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                self._list(stored)
            except BaseException as exc:
                box["error"] = exc

        worker = threading.Thread(target=run, name="monitor-list", daemon=True)
        worker.start()
        worker.join(self.deadline_s)
        if worker.is_alive():
            raise TunerError(f"the Hub did not answer within {self.deadline_s:g}s", hint="it is slow or down")
        if "error" in box:
            raise box["error"]

    def _list(self, stored: list[JobRow]) -> None:
        assert self.hub is not None
        hub = self.hub
        names = self.namespaces(stored)
        fresh_ids: set[str] = set()
        for namespace in names:
            first_time = namespace not in self._pages_loaded
            pages = self._load.get(namespace) or (self.first_pages if first_time else 1)
            page: JobsPage = hub.list_page(namespace, self.stages, pages=pages)
            known = self._known.setdefault(namespace, {})
            for row in page.rows:
                known[row.id] = row
                fresh_ids.add(row.id)
            if pages >= self._pages_loaded.get(namespace, 0):
                self._pages_loaded[namespace] = pages
                self._more[namespace] = page.more
            self._load.pop(namespace, None)
        # Live jobs that are not on a page just read: ask about each (only while live, never if refused).
        candidates: dict[str, str] = {}
        for namespace, known in self._known.items():
            for row in known.values():
                if row.id not in fresh_ids and not row.is_terminal:
                    candidates[row.id] = namespace
        for row in stored:
            if row.backend == "hf-jobs" and row.namespace and not row.is_terminal and row.id not in fresh_ids \
                    and not self._is_known(row.id):
                current = self._lone.get(row.id)
                if current is None or not current.is_terminal:
                    candidates[row.id] = row.namespace
        lookups = 0
        for job_id, namespace in candidates.items():
            if job_id in self.unpollable or lookups >= MAX_LONE_INSPECTS:
                continue
            lookups += 1
            try:
                fresh = hub.inspect(namespace, job_id, retry=SINGLE_TRY)
            except TunerError as exc:
                if is_permanent(exc):
                    self.unpollable[job_id] = exc.one_line()
                continue
            if job_id in self._known.get(namespace, {}):
                self._known[namespace][job_id] = fresh
            else:
                self._lone[job_id] = fresh

    def _is_known(self, job_id: str) -> bool:
        return any(job_id in known for known in self._known.values())

    def _merged(self, stored: list[JobRow]) -> list[JobRow]:
        hub_rows = [row for known in self._known.values() for row in known.values()]
        seen = {row.id for row in hub_rows}
        hub_rows += [row for job_id, row in self._lone.items() if job_id not in seen]
        if self.stages:
            wanted = {s.upper() for s in self.stages}
            hub_rows = [row for row in hub_rows if row.stage in wanted]
        return merge_rows(hub_rows, stored)

    def _changes(self, rows: list[JobRow]) -> list[StageChange]:
        changes = []
        for row in rows:
            old = self._stages.get(row.key)
            if old != row.stage and not self.first and (old is not None or not row.is_terminal):
                changes.append(StageChange(row.id, row.name, row.backend, old, row.stage, row.message))
            self._stages[row.key] = row.stage
        self.first = False
        return changes


def wait_for(get_stage: Callable[[], str], *, timeout_s: float | None, poll_s: float = 5.0,
             on_change: Callable[[str | None, str], None] | None = None) -> str:
    """Poll until the stage is terminal; TunerError on timeout. Transient errors are retried, a refusal
    (401/403/404) is not: the job will not become visible by asking again."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: str | None = None
    while True:
        try:
            stage = get_stage()
        except TunerError as exc:
            if is_permanent(exc) or (deadline is not None and time.monotonic() > deadline):
                raise
            time.sleep(poll_s)
            continue
        if stage != last and on_change is not None:
            on_change(last, stage)
        last = stage
        if is_terminal(stage):
            return stage
        if deadline is not None and time.monotonic() > deadline:
            raise TunerError(f"still {stage} after {timeout_s:g}s", hint="raise --timeout or wait again")
        time.sleep(poll_s)
