"""What the CLI and the TUI both do with one job: find it, follow its log, inspect it, cancel it.

`MonitorSession` holds the Hub access (one `HubJobs`, so the path in use is shared) and the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import load_config
from core.errors import TunerError
from core.hub import RetryNotice, RetryPolicy
from core.hub_ids import is_job_id, namespace_problem
from core.jobs.completion import CompletionCheck, check_completion, needs_check
from core.jobs.diagnosis import Diagnoser, Diagnosis, diagnose_command, diagnose_loss, diagnose_status
from core.jobs.events import LogLine, StreamEnd, StreamFinished, StreamIncomplete
from core.jobs.jobs_source import HTTP_PATH, LOG_READ_TIMEOUT_S, HubJobs
from core.jobs.local_jobs import cancel_local, local_log_path, stored_job
from core.jobs.log_buffer import (
    DiskLog,
    decode_event,
    hub_log_path,
    open_disk_log,
    read_tail,
    read_tail_events,
)
from core.jobs.log_follow import FileLogFollower, HubLogSource, LogFollower, pid_alive
from core.jobs.model import JobRow, is_terminal, parse_hub_time
from core.jobs.progress import ProgressTracker
from core.jobs.ranks import RankTracker
from core.store import Store

NO_FOLLOW_READ_TIMEOUT_S = 5.0

DEFAULTS: dict[str, Any] = {
    "refresh_s": 5.0,
    "max_refresh_s": 120.0,
    "log_buffer_lines": 20_000,
    "namespace": "",
    "namespaces": [],
    "http_fallback": False,
    "reconnect_s": 2.0,
    "trackio_poll_s": 2.0,
    "list_deadline_s": 15.0,
    "max_requests_per_s": 0.2,
}


def monitor_settings() -> dict[str, Any]:
    """`[jobs]` of the config (`[monitor]` still read) over the defaults: `namespace` (default: whoami), `namespaces` (orgs to list
    too), `refresh_s`/`max_refresh_s` (list refresh and its backoff cap), `list_deadline_s`, `log_buffer_lines`,
    `reconnect_s`, `trackio_poll_s`, `http_fallback` (start on plain HTTP), `max_requests_per_s` (the polling
    budget, see `core.jobs.polling`), `retry_attempts`/`retry_max_backoff_s`/`retry_max_wait_s` (see
    `core.hub.RetryPolicy`)."""
    return {**DEFAULTS, **load_config().section("jobs")}


def extra_namespaces(settings: dict[str, Any]) -> list[str]:
    value = settings.get("namespaces") or []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass
class JobInsight:
    """Everything `inspect` says about a job beyond its row."""

    row: JobRow
    diagnoses: list[Diagnosis] = field(default_factory=list)
    progress: str = ""
    step: int | None = None
    completion: CompletionCheck | None = None
    log_lines: int = 0
    ranks: RankTracker = field(default_factory=RankTracker)
    """Multi-GPU jobs: the device every rank trains on (progress is the global step)."""

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.row.to_dict(), "diagnoses": [d.to_dict() for d in self.diagnoses],
                "progress": self.progress, "step": self.step, "log_lines": self.log_lines,
                "ranks": self.ranks.to_dict(),
                "completion": self.completion.to_dict() if self.completion else None}


class MonitorSession:
    def __init__(self, *, namespace: str | None = None, force_http: bool | None = None,
                 store: Store | None = None, on_retry: Callable[[RetryNotice], None] | None = None) -> None:
        settings = monitor_settings()
        self.settings = settings
        force = force_http if force_http is not None else bool(settings.get("http_fallback"))
        self.hub = HubJobs(force_path=HTTP_PATH if force else None,
                           namespace=namespace or settings.get("namespace") or None,
                           retry=RetryPolicy.from_settings(settings), on_retry=on_retry)
        self.store = store or Store()
        self.final_notice: StreamEnd | None = None
        """How the last `iter_log` ended ('finished' / 'incomplete'), for the CLI's exit status."""
        self.final_stage: str | None = None
        """The terminal stage the last followed job was seen in (None if it was not followed to its end)."""

    # --- finding a job ---

    def resolve(self, ref: str) -> JobRow:
        """A job from `id`, `namespace/id` or a local id; the store first, then the Hub."""
        typed = ref = ref.strip()
        namespace = None
        if "/" in ref:
            namespace, ref = ref.split("/", 1)
        stored = stored_job(ref, self.store)
        if stored is not None and stored.backend != "hf-jobs":
            return stored
        if stored is not None:
            namespace = namespace or stored.namespace
        if ref.startswith("local-") and stored is None:
            raise TunerError(f"no local job {ref!r} in the store", hint="tui-tuner jobs ps lists them")
        # Checked before any request (even whoami): the id and the namespace become URL path segments.
        if not is_job_id(ref) or (namespace is not None and namespace_problem(namespace)):
            raise TunerError(f"{typed!r} is not a job: give an HF job id (24 hexadecimal characters), "
                             "namespace/id, or a local job id", hint="`tui-tuner jobs ps` lists them")
        live = self.hub.inspect(namespace or self.hub.namespace(), ref)
        if stored is not None:
            live.extra = {**stored.extra, **live.extra}
            live.in_store = True
        return live

    # --- logs ---

    def log_follower(self, row: JobRow, *, follow: bool, start_index: int = 0, reconnect_s: float | None = None,
                     tail: int | None = None) -> LogFollower | FileLogFollower:
        if row.backend == "hf-jobs":
            # Without follow, a live job's stream never closes: like huggingface_hub, 5 s of silence after
            # the replay means "that is all there is for now" (and an event newer than the stream ends it).
            source = HubLogSource(self.hub, row.namespace or self.hub.namespace(), row.id,
                                  read_timeout=LOG_READ_TIMEOUT_S if follow else NO_FOLLOW_READ_TIMEOUT_S)
            delay = float(reconnect_s if reconnect_s is not None else self.settings["reconnect_s"])
            return LogFollower(source, start_index=start_index, follow=follow, reconnect_delay=delay, tail=tail,
                               stage_hint=row.stage)
        path = local_log_path(row)
        job_id = row.id

        def running() -> bool:
            current = stored_job(job_id, self.store)
            if current is None or is_terminal(current.stage):
                return False
            if current.pid is None:  # just inserted: the launcher is starting its supervisor
                return (current.age() or 0.0) < 60.0
            return pid_alive(current.pid)

        return FileLogFollower(path, is_running=running, start_index=start_index, follow=follow)

    def open_log(self, row: JobRow, max_lines: int) -> tuple[list[LogLine], int, DiskLog | None]:
        """The saved tail to show at once (as events with their positions and timestamps), the position to
        resume from, and the disk log to append to (HF)."""
        if row.backend == "hf-jobs":
            disk, count = open_disk_log(row.id)
            events, total = read_tail_events(disk.path, max_lines)
            saved = [LogLine(total - len(events) + i, text, ts) for i, (text, ts) in enumerate(events)]
            if not disk.writable:  # another monitor is saving this log: show and follow, don't write
                disk.close()
                return saved, total, None
            return saved, count, disk
        path = local_log_path(row)
        lines, total = read_tail(path, max_lines)
        return [LogLine(total - len(lines) + i, text) for i, text in enumerate(lines)], total, None

    def iter_log(self, row: JobRow, *, follow: bool, tail: int | None = None) -> Iterator[LogLine]:
        """Every log line of a job from the start (saved HF lines first, then the live stream), no duplicates.

        `tail=N`: only the last N lines, then (with `follow`) what comes next. For HF jobs that is the Hub's
        own `?tail=N` (N lines cross the network, not the whole log); their positions are unknown
        (`index` None) until a later replay places them.
        """
        self.final_notice = None
        self.final_stage = None
        if row.backend != "hf-jobs":
            start = 0
            if tail is not None:
                start = max(0, _local_line_count(row) - max(tail, 0))
            follower = self.log_follower(row, follow=follow, start_index=start)
            for event in follower:
                match event:
                    case LogLine():
                        yield event
                    case StreamFinished() | StreamIncomplete():
                        self.final_notice = event
                    case _:
                        pass  # the unfinished last line and the stream's state: not log lines
            if follow:
                self.final_stage = self.stage(row)
            return
        disk, count = open_disk_log(row.id)
        try:
            index = 0
            if tail is None and disk.writable and count:
                with disk.path.open(encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        text, ts = decode_event(line.rstrip("\n"))
                        yield LogLine(index, text, ts)
                        index += 1
            if tail is not None:
                follower = self.log_follower(row, follow=follow, tail=max(tail, 0))
            else:
                follower = self.log_follower(row, follow=follow, start_index=index if disk.writable else 0)
            saved = count if disk.writable else -1
            for event in follower:
                match event:
                    case LogLine():
                        if event.index is not None and event.index == saved:  # the disk log stays gap-free
                            disk.append([event])
                            saved += 1
                        yield event
                    case StreamFinished() | StreamIncomplete():
                        self.final_notice = event
                    case _:
                        pass
            if isinstance(follower, LogFollower):
                self.final_stage = follower.final_stage
        finally:
            disk.close()

    # --- inspect / cancel ---

    def insight(self, row: JobRow, *, check_hub_repo: bool = True) -> JobInsight:
        """Diagnoses, progress and completion from the job's log (saved + current) and status."""
        diagnoser = Diagnoser(flavor=row.flavor)
        tracker = ProgressTracker(expected_steps=row.expected_steps, epochs=_float(row.extra.get("epochs")))
        ranks = RankTracker()
        count = 0
        for line in self.iter_log(row, follow=False):
            ranks.feed_line(line.text)
            diagnoser.feed([(line.index, line.text)])
            tracker.feed_line(line.text, parse_hub_time(line.timestamp))
            count += 1
        diagnoses = diagnose_command(row.command) + diagnoser.found
        diagnoses += diagnose_status(row.stage, row.message, _float(row.extra.get("timeout_s")))
        loss = [(p.step, p.value) for p in tracker.points if p.name == "train/loss"]
        diagnoses += diagnose_loss(loss, expected_steps=row.expected_steps)
        # No ETA once the job has ended: there is nothing left to wait for.
        insight = JobInsight(row, diagnoses, tracker.summary(with_eta=not row.is_terminal), tracker.step, None, count,
                             ranks)
        if check_hub_repo and needs_check(row):
            insight.completion = self.completion(row)
        return insight

    def completion(self, row: JobRow) -> CompletionCheck:
        repo = str(row.extra.get("output_repo"))
        titles = [c.title for c in self.hub.repo_commits(repo)]
        return check_completion(row, titles)

    def cancel(self, row: JobRow) -> None:
        if row.backend == "hf-jobs":
            if is_terminal(row.stage):
                raise TunerError(f"job {row.id} already ended ({row.stage})")
            self.hub.cancel(row.namespace or self.hub.namespace(), row.id)
        else:
            cancel_local(row)

    def stage(self, row: JobRow) -> str:
        if row.backend == "hf-jobs":
            return self.hub.inspect(row.namespace or self.hub.namespace(), row.id).stage
        current = stored_job(row.id, self.store)
        if current is None:
            raise TunerError(f"job {row.id} vanished from the store")
        return current.stage


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def saved_log_path(row: JobRow) -> Path:
    return hub_log_path(row.id) if row.backend == "hf-jobs" else local_log_path(row)


def _local_line_count(row: JobRow) -> int:
    from core.jobs.log_follow import count_lines

    return count_lines(local_log_path(row))
