"""The job list as a model (k9s `model.Table`): refresh on an interval, back off on errors, report changes.

One refresh = the Hub's jobs of each namespace (user + the namespaces the launcher used) merged with the
store. A failed Hub call keeps the last good rows (marked stale) and doubles the interval up to a cap;
the first success resets it. Stage changes between two refreshes become `StageChange` events for
notifications. Blocking: the TUI runs `refresh()` in a thread worker, never two at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import TunerError
from core.jobs.jobs_source import HubJobs
from core.jobs.local_jobs import merge_rows, stored_jobs
from core.jobs.model import JobRow
from core.store import Store


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


class Backoff:
    def __init__(self, interval: float, max_interval: float) -> None:
        self.interval, self.max_interval = interval, max_interval
        self.current = interval
        self.failures = 0

    def success(self) -> float:
        self.failures, self.current = 0, self.interval
        return self.current

    def failure(self, retry_after: float | None = None) -> float:
        self.failures += 1
        self.current = min(self.max_interval, self.current * 2)
        if retry_after is not None:
            self.current = max(self.current, min(retry_after, self.max_interval * 2))
        return self.current


class JobList:
    def __init__(self, hub: HubJobs | None, *, store: Store | None = None, interval: float = 5.0,
                 max_interval: float = 120.0, namespaces: list[str] | None = None,
                 include_hub: bool = True, deadline_s: float = 15.0) -> None:
        self.deadline_s = deadline_s
        self.hub = hub
        self.store = store
        self.include_hub = include_hub and hub is not None
        self.extra_namespaces = namespaces or []
        self.backoff = Backoff(interval, max_interval)
        self._last_hub: dict[str, list[JobRow]] = {}
        self._stages: dict[str, str] = {}
        self._busy = threading.Lock()
        self.first = True

    def namespaces(self, stored: list[JobRow]) -> list[str]:
        assert self.hub is not None
        names = [self.hub.namespace(), *self.extra_namespaces]
        names += [r.namespace for r in stored if r.backend == "hf-jobs" and r.namespace]
        return list(dict.fromkeys(n for n in names if n))

    def refresh(self) -> RefreshResult:
        """One refresh; a call while another is running returns at once with the last rows (no overlap)."""
        if not self._busy.acquire(blocking=False):
            return RefreshResult(rows=self._merged(stored_jobs(self.store)), error=None,
                                 path=self.hub.state.describe() if self.hub else "local only",
                                 next_in_s=self.backoff.current)
        try:
            return self._refresh()
        finally:
            self._busy.release()

    def _refresh(self) -> RefreshResult:
        stored = stored_jobs(self.store)
        error: str | None = None
        if self.include_hub:
            assert self.hub is not None
            try:
                self._last_hub.update(self._list_with_deadline(stored))
                next_in = self.backoff.success()
            except TunerError as exc:
                error = exc.one_line()
                next_in = self.backoff.failure(getattr(exc, "retry_after", None))
        else:
            next_in = self.backoff.success()
        rows = self._merged(stored)
        changes = self._changes(rows)
        return RefreshResult(rows, changes, error, self.hub.state.describe() if self.include_hub and self.hub
                             else "local only", next_in)

    def _list_with_deadline(self, stored: list[JobRow]) -> dict[str, list[JobRow]]:
        """List every namespace, giving up after `deadline_s`: huggingface_hub retries a dropped connection
        for ~23 s on its own, and the status bar must say "not answering" long before that."""
        assert self.hub is not None
        hub = self.hub
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["rows"] = {ns: hub.list_jobs(ns) for ns in self.namespaces(stored)}
            except BaseException as exc:
                box["error"] = exc

        worker = threading.Thread(target=run, name="monitor-list", daemon=True)
        worker.start()
        worker.join(self.deadline_s)
        if worker.is_alive():
            raise TunerError(f"the Hub did not answer within {self.deadline_s:g}s", hint="it is slow or down")
        if "error" in box:
            raise box["error"]
        return box["rows"]

    def _merged(self, stored: list[JobRow]) -> list[JobRow]:
        hub_rows = [row for rows in self._last_hub.values() for row in rows]
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
    """Poll until the stage is terminal; TunerError on timeout. Transient errors are retried."""
    from core.jobs.model import is_terminal

    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    last: str | None = None
    while True:
        try:
            stage = get_stage()
        except TunerError:
            if deadline is not None and time.monotonic() > deadline:
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
