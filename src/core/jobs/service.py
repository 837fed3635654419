"""What the CLI and the TUI both do with one job: find it, follow its log, inspect it, cancel it.

`MonitorSession` holds the Hub access (one `HubJobs`, so the path in use is shared) and the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import load_config
from core.errors import TunerError
from core.jobs.completion import CompletionCheck, check_completion, needs_check
from core.jobs.diagnosis import Diagnoser, Diagnosis, diagnose_command, diagnose_loss, diagnose_status
from core.jobs.jobs_source import HTTP_PATH, LOG_READ_TIMEOUT_S, HubJobs
from core.jobs.local_jobs import cancel_local, local_log_path, stored_job
from core.jobs.log_buffer import DiskLog, hub_log_path, open_disk_log, read_tail
from core.jobs.log_follow import FileLogFollower, HubLogSource, LogFollower, LogLine, pid_alive
from core.jobs.model import JobRow, is_terminal, parse_hub_time
from core.jobs.progress import ProgressTracker
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
}


def monitor_settings() -> dict[str, Any]:
    """`[jobs]` of the config (`[monitor]` still read) over the defaults: `namespace` (default: whoami), `namespaces` (orgs to list
    too), `refresh_s`/`max_refresh_s` (list refresh and its backoff cap), `list_deadline_s`, `log_buffer_lines`,
    `reconnect_s`, `trackio_poll_s`, `http_fallback` (start on plain HTTP)."""
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

    def to_dict(self) -> dict[str, Any]:
        return {"job": self.row.to_dict(), "diagnoses": [d.to_dict() for d in self.diagnoses],
                "progress": self.progress, "step": self.step, "log_lines": self.log_lines,
                "completion": self.completion.to_dict() if self.completion else None}


class MonitorSession:
    def __init__(self, *, namespace: str | None = None, force_http: bool | None = None,
                 store: Store | None = None) -> None:
        settings = monitor_settings()
        self.settings = settings
        force = force_http if force_http is not None else bool(settings.get("http_fallback"))
        self.hub = HubJobs(force_path=HTTP_PATH if force else None,
                           namespace=namespace or settings.get("namespace") or None)
        self.store = store or Store()

    # --- finding a job ---

    def resolve(self, ref: str) -> JobRow:
        """A job from `id`, `namespace/id` or a local id; the store first, then the Hub."""
        ref = ref.strip()
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
        live = self.hub.inspect(namespace or self.hub.namespace(), ref)
        if stored is not None:
            live.extra = {**stored.extra, **live.extra}
            live.in_store = True
        return live

    # --- logs ---

    def log_follower(self, row: JobRow, *, follow: bool, start_index: int = 0,
                     reconnect_s: float | None = None) -> LogFollower | FileLogFollower:
        if row.backend == "hf-jobs":
            # Without follow, a live job's stream never closes: like huggingface_hub, 5 s of silence after
            # the replay means "that is all there is for now".
            source = HubLogSource(self.hub, row.namespace or self.hub.namespace(), row.id,
                                  read_timeout=LOG_READ_TIMEOUT_S if follow else NO_FOLLOW_READ_TIMEOUT_S)
            delay = float(reconnect_s if reconnect_s is not None else self.settings["reconnect_s"])
            return LogFollower(source, start_index=start_index, follow=follow, reconnect_delay=delay)
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

    def open_log(self, row: JobRow, max_lines: int) -> tuple[list[str], int, DiskLog | None]:
        """The saved tail to show at once, the position to resume from, and the disk log to append to (HF)."""
        if row.backend == "hf-jobs":
            disk, count = open_disk_log(row.id)
            lines, total = read_tail(disk.path, max_lines)
            if not disk.writable:  # another monitor is saving this log: show and follow, don't write
                disk.close()
                return lines, total, None
            return lines, count, disk
        path = local_log_path(row)
        lines, total = read_tail(path, max_lines)
        return lines, total, None

    def iter_log(self, row: JobRow, *, follow: bool) -> Iterator[LogLine]:
        """Every log line of a job from the start (saved HF lines first, then the live stream), no duplicates."""
        if row.backend != "hf-jobs":
            for event in self.log_follower(row, follow=follow):
                if isinstance(event, LogLine):
                    yield event
            return
        disk, count = open_disk_log(row.id)
        try:
            index = 0
            if disk.writable and count:
                with disk.path.open(encoding="utf-8", errors="replace") as handle:
                    for text in handle:
                        yield LogLine(index, text.rstrip("\n"))
                        index += 1
            follower = self.log_follower(row, follow=follow, start_index=index if disk.writable else 0)
            for event in follower:
                if isinstance(event, LogLine):
                    disk.append([event.text])
                    yield event
        finally:
            disk.close()

    # --- inspect / cancel ---

    def insight(self, row: JobRow, *, check_hub_repo: bool = True) -> JobInsight:
        """Diagnoses, progress and completion from the job's log (saved + current) and status."""
        diagnoser = Diagnoser(flavor=row.flavor)
        tracker = ProgressTracker(expected_steps=row.expected_steps, epochs=_float(row.extra.get("epochs")))
        count = 0
        for line in self.iter_log(row, follow=False):
            diagnoser.feed([(line.index, line.text)])
            tracker.feed_line(line.text, parse_hub_time(line.timestamp))
            count += 1
        diagnoses = diagnose_command(row.command) + diagnoser.found
        diagnoses += diagnose_status(row.stage, row.message, _float(row.extra.get("timeout_s")))
        loss = [(p.step, p.value) for p in tracker.points if p.name == "train/loss"]
        diagnoses += diagnose_loss(loss, expected_steps=row.expected_steps)
        insight = JobInsight(row, diagnoses, tracker.summary(), tracker.step, None, count)
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
