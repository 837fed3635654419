"""Follow a job's log: reconnect until the job ends, never show a line twice, never lose one.

HF Jobs replays the *whole* log on every connection to `/logs` (the real server and huggingface_hub's own
client both work this way, reference §6.2), so after a reconnect the first N events are ones we already
have. They are skipped by **position** (the count of complete `data: {…}` events), never by text: two
identical lines ("loss: nan", a blank separator) are both legitimate. A line cut mid-way by a dropped
connection fails to parse, is not counted, and arrives whole on the next connection.

After each connection ends (clean close, read timeout, cut), the job's stage decides: terminal → done,
else wait (backoff) and reconnect. Local jobs are followed by tailing their log file the same way.

The iterators here block; `follow_async` runs one in a thread and hands batches to asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.errors import OfflineError, TunerError
from core.hub import DEFAULT_RETRY, RetryPolicy
from core.jobs.events import (
    FollowEvent,
    LogLine,
    PartialLine,
    StreamConnected,
    StreamDisconnected,
    StreamFailed,
    StreamFinished,
    StreamIncomplete,
    StreamNotice,  # noqa: F401 - the events were defined here first; still importable
    StreamRetrying,
)
from core.jobs.jobs_source import LOG_READ_TIMEOUT_S, SINGLE_TRY, HttpStatusError, HubJobs, parse_sse_data
from core.jobs.model import is_terminal, parse_hub_time
from core.redact import live_secrets, redact

JOB_STARTED_PREFIX = "===== Job started"

try:  # orjson (installed with trackio) parses a log event ~3× faster; the stdlib is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    from json import loads as _loads


def line_redactor() -> Callable[[str], str]:
    """`core.redact.redact`, skipped for lines that cannot contain a token (the hot path of log ingest).

    `redact` masks the live secret values of this process and `hf_…` / `bearer …` patterns; a line with
    none of those substrings comes out unchanged, so checking for them first is exact, and ~10× cheaper.
    The secrets are read once per connection instead of once per line.
    """
    secrets = live_secrets()

    def clean(text: str) -> str:
        if "hf_" in text or "earer" in text.lower() or any(secret in text for secret in secrets):
            return redact(text)
        return text

    return clean


RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

STREAM_END_SLACK_S = 2.0
"""How close (server clock) a clean end of stream must be to the job's `finishedAt` to count as "the Hub
closed it because the job ended" rather than an idle proxy closing it just before."""


class LogSource(Protocol):
    """One way to read a job's log: open one connection (`tail`: only the last N events), and ask whether
    the job has ended."""

    def connect(self) -> contextlib.AbstractContextManager[Any]: ...

    def stage(self) -> str: ...


class HubLogSource:
    """The `/logs` SSE route of one HF job, on whichever path `HubJobs` uses now."""

    def __init__(self, jobs: HubJobs, namespace: str, job_id: str, *, read_timeout: float = LOG_READ_TIMEOUT_S,
                 route: str = "logs") -> None:
        self.jobs, self.namespace, self.job_id = jobs, namespace, job_id
        self.read_timeout = read_timeout
        self.route = route
        self.finished_at: float | None = None
        """The job's `finishedAt` (epoch) from the last stage check."""

    def connect(self, tail: int | None = None) -> contextlib.AbstractContextManager[Any]:
        url = (self.jobs.log_url if self.route == "logs" else self.jobs.metrics_url)(self.namespace, self.job_id)
        tolerated = (406, 500) if self.route == "metrics" else ()
        params = {"tail": int(tail)} if tail is not None else None
        return self.jobs.open_stream(url, read_timeout=self.read_timeout, tolerated=tolerated, params=params)

    def stage(self) -> str:
        # One try: the follower's own reconnect loop is the retry (and stays stoppable meanwhile).
        row = self.jobs.inspect(self.namespace, self.job_id, retry=SINGLE_TRY)
        self.finished_at = row.finished_at
        return row.stage


class _TailAnchor:
    """Where a `?tail=N` read ended, so that the next (full) replay resumes right after it.

    The Hub replays the whole log on a reconnect; the tail's events are found in it as one contiguous run of
    (timestamp, text) pairs — the first such run, so two identical lines cannot fool it. Should the run be
    missing (the Hub trimmed the log), the first event stamped later than the tail's last one is new.
    """

    def __init__(self, events: list[tuple[str | None, str]], cutoff: float | None) -> None:
        self.events = events
        self.cutoff = cutoff
        self.window: deque[tuple[str | None, str]] = deque(maxlen=max(len(events), 1))

    def locate(self, ts: str | None, text: str) -> str:
        """'skip' (seen in the tail), 'after' (the tail ends at this event), or 'new' (first unseen event)."""
        if not self.events and self.cutoff is None:
            return "new"  # the tail was empty and the stream had no clock: everything after the banner is new
        if self.events:
            self.window.append((ts, text))
            if len(self.window) == len(self.events) and list(self.window) == self.events:
                return "after"
        when = parse_hub_time(ts)
        if self.cutoff is not None and when is not None and when > self.cutoff:
            return "new"
        return "skip"


class LogFollower:
    """Blocking iterator of `LogLine`s and `StreamNotice`s for one HF job; `stop()` may be called from any thread.

    Follow mode reconnects until the job has ended (retries never give up while it may still run; each wait
    is bounded). Without follow it reads what exists now: it stops at the first event stamped after the
    stream's `Date` (plus the Hub's 1 s resolution), like huggingface_hub, so a job that keeps logging
    cannot keep it reading. `tail=N` asks the Hub for the last N events only (first connection).
    """

    def __init__(self, source: LogSource, *, start_index: int = 0, follow: bool = True,
                 reconnect_delay: float = 2.0, max_delay: float = 10.0,
                 sleep: Callable[[float], None] | None = None, tail: int | None = None,
                 stage_hint: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.source = source
        self.next_index = start_index
        """Events before this position are already shown/saved; replays skip them."""
        self.follow = follow
        self.reconnect_delay = reconnect_delay
        self.max_delay = max_delay
        self.tail = tail if tail is not None and tail >= 0 and start_index == 0 else None
        self.retry = retry or RetryPolicy(attempts=DEFAULT_RETRY.attempts, base_s=max(reconnect_delay, 0.0),
                                          max_backoff_s=max_delay)
        self.reconnects = 0
        self._stop = threading.Event()
        self._current: Any = None
        self._sleep = sleep or (lambda s: self._stop.wait(s))
        self._final_stage: str | None = None
        self._ended_at_start = stage_hint is not None and self._ended(stage_hint)
        self._anchor: _TailAnchor | None = None

    def stop(self) -> None:
        self._stop.set()
        current = self._current
        if current is not None and hasattr(current, "close"):
            current.close()  # unblocks a read that waits for the next line

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def final_stage(self) -> str | None:
        """The terminal stage the job was seen in (None while it may still run, or without follow)."""
        return self._final_stage

    MAX_DRAIN_CONNECTIONS = 5
    """After the job ended: reconnections without a single new line before we accept the log as complete."""

    def _connect(self, first: bool) -> contextlib.AbstractContextManager[Any]:
        if first and self.tail is not None:
            return self.source.connect(tail=self.tail)  # type: ignore[call-arg]
        return self.source.connect()

    def __iter__(self) -> Iterator[FollowEvent]:
        delay = self.reconnect_delay
        first = True
        # Known ended before a connection began: that connection, if not cut, reads the complete log.
        ended = self._ended_at_start
        idle_drains = 0
        failures = 0  # connections in a row that failed (no-follow gives up after the retry policy's attempts)
        while not self._stop.is_set():
            got_new = False
            cut = timed_out = past_end = False
            clean = line_redactor()
            tail_read = first and self.tail is not None
            anchor: list[tuple[str | None, str]] = []
            opened_at = time.monotonic()
            server_t: float | None = None
            try:
                with self._connect(first) as lines:
                    self._current = lines
                    server_t = getattr(lines, "server_time", None)
                    yield StreamConnected("" if first else "reconnected", self.reconnects)
                    # Without follow: what exists now is what was logged before the stream began.
                    replay_end = server_t + 1.0 if (server_t is not None and not self.follow) else None
                    position = -1
                    stopped = self._stop.is_set
                    for raw in lines:  # the hot loop of log ingest: parse inline, no per-line calls we can avoid
                        if stopped():
                            break
                        if not raw.startswith("data: {"):
                            continue  # blank separator, keep-alive comment, `event:` field
                        try:
                            event = _loads(raw[6:])
                        except ValueError:
                            cut = True  # the connection died mid-line: the whole line comes back on replay
                            continue
                        if not isinstance(event, dict) or "data" not in event:
                            continue
                        cut = False
                        position += 1
                        text, stamp = str(event["data"]), event.get("timestamp")
                        index: int | None = position
                        if tail_read:
                            if position == 0 and text.startswith(JOB_STARTED_PREFIX):
                                if self.next_index > 0:
                                    continue
                                self.next_index = 1
                            else:
                                index = None
                                anchor.append((stamp, text))
                        elif self._anchor is not None:
                            if position < self.next_index:
                                continue  # the banner, already shown
                            where = self._anchor.locate(stamp, text)
                            if where == "skip":
                                continue
                            self._anchor = None
                            self.next_index = position + 1 if where == "after" else position
                            if where == "after":
                                continue
                        elif position < self.next_index:
                            continue  # replayed history we already have
                        if replay_end is not None and stamp and (when := parse_hub_time(stamp)) is not None \
                                and when > replay_end:
                            past_end = True
                            break
                        if index is not None:
                            self.next_index = position + 1
                        got_new = True
                        yield LogLine(index, clean(text), stamp)
                    cut = cut or bool(getattr(lines, "broken", False))
                    timed_out = bool(getattr(lines, "timed_out", False))
                failures = 0
            except HttpStatusError as exc:
                if exc.status in RETRY_STATUSES and (self.follow or failures + 1 < self.retry.attempts):
                    failures += 1
                    waited = exc.retry_after if exc.status in (429, 503) else None
                    yield StreamRetrying(exc.one_line(), self.reconnects)
                    self._sleep(self.retry.delay(failures, waited))
                    self.reconnects += 1
                    continue
                yield StreamFailed(exc.one_line(), self.reconnects)
                raise
            except OfflineError as exc:
                if not self.follow and failures + 1 >= self.retry.attempts:
                    raise
                failures += 1
                yield StreamRetrying(exc.one_line(), self.reconnects)
                self._sleep(self.retry.delay(failures))
                self.reconnects += 1
                continue
            finally:
                self._current = None
            if tail_read and self.next_index <= 1:
                self._anchor = _TailAnchor(anchor[-64:], parse_hub_time(anchor[-1][0]) if anchor else server_t)
            first = False
            if self._stop.is_set():
                break
            if not self.follow:
                if cut and not timed_out and not past_end and failures + 1 < self.retry.attempts:
                    failures += 1  # cut mid-replay: the rest comes on a new connection (positions skip the start)
                    self.reconnects += 1
                    continue
                yield StreamFinished("end of log", self.reconnects)
                return
            if ended and not cut:
                yield StreamFinished(self._final_stage or "ended", self.reconnects)
                return
            if ended:
                idle_drains = 0 if got_new else idle_drains + 1
                if idle_drains >= self.MAX_DRAIN_CONNECTIONS:
                    yield StreamIncomplete(f"{self._final_stage}: the stream kept failing after the "
                                           "job ended", self.reconnects)
                    return
                self.reconnects += 1
                continue
            yield StreamDisconnected("stream cut" if cut else "stream ended", self.reconnects)
            if self._ended(self._stage_or_none()):
                if not cut and self._closed_by_the_end(server_t, opened_at):
                    # The Hub closes the stream when the job ends: everything was sent. No second download.
                    yield StreamFinished(self._final_stage or "ended", self.reconnects)
                    return
                ended = True  # one more connection reads the rest of the log, then we stop
                self.reconnects += 1
                continue
            # New lines since the last connection: the job is alive, come back quickly; else back off.
            delay = self.reconnect_delay if got_new else min(self.max_delay, delay * 2)
            self._sleep(delay)
            self.reconnects += 1

    def _closed_by_the_end(self, server_t: float | None, opened_at: float) -> bool:
        """True unless the stream demonstrably closed before the job finished (an idle proxy, say): then
        lines logged in between would be missing, and one more replay is needed."""
        finished = getattr(self.source, "finished_at", None)
        if finished is None or server_t is None:
            return True
        closed_server_time = server_t + (time.monotonic() - opened_at)
        return finished <= closed_server_time + STREAM_END_SLACK_S

    def _ended(self, stage: str | None) -> bool:
        if stage is not None and is_terminal(stage):
            self._final_stage = stage.upper()
            return True
        return False

    def _stage_or_none(self) -> str | None:
        try:
            return self.source.stage()
        except TunerError:
            return None  # server down between connections: keep trying


class FileLogFollower:
    """Tail a local job's log file from line `start_index`; ends when the job has ended and the file is drained."""

    def __init__(self, path: Path, *, is_running: Callable[[], bool], start_index: int = 0,
                 follow: bool = True, poll_s: float = 0.2) -> None:
        self.path = path
        self.is_running = is_running
        self.next_index = start_index
        self.follow = follow
        self.poll_s = poll_s
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def __iter__(self) -> Iterator[FollowEvent]:
        offset = 0
        index = 0
        pending = b""
        shown_partial = b""
        waited = False
        clean = line_redactor()
        while not self._stop.is_set():
            try:
                with self.path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(1 << 20)
            except FileNotFoundError:
                chunk = b""
            if chunk:
                offset += len(chunk)
                data = pending + chunk
                parts = data.split(b"\n")
                pending = parts.pop()
                for part in parts:
                    if index >= self.next_index:
                        self.next_index = index + 1
                        yield LogLine(index, clean(part.decode("utf-8", errors="replace").rstrip("\r")))
                    index += 1
                continue
            if b"\r" in pending and pending != shown_partial and index >= self.next_index:
                shown_partial = pending
                yield PartialLine(redact(last_segment(pending.decode("utf-8", errors="replace"))))
            if not self.follow:
                break
            running = self.is_running()
            if not running:
                if waited:  # one last read after the process ended, then drain the partial line
                    break
                waited = True
                continue
            self._stop.wait(self.poll_s)
        if pending and index >= self.next_index and not self._stop.is_set():
            self.next_index = index + 1
            yield LogLine(index, redact(pending.decode("utf-8", errors="replace")))
        yield StreamFinished("end of log file", 0)


def last_segment(text: str) -> str:
    """What a terminal shows of a line redrawn with carriage returns: its last non-blank segment."""
    if "\r" not in text:
        return text
    for segment in reversed(text.split("\r")):
        if segment.strip():
            return segment
    return ""


async def follow_async(follower: LogFollower | FileLogFollower, *, flush_s: float = 0.05,
                       max_pending: int = 200_000) -> AsyncIterator[list[FollowEvent]]:
    """Run a blocking follower in a thread; yield what it produced in batches, at most every `flush_s`.

    Batching is what keeps the UI responsive at 100k lines/s: one widget update per batch, not per line
    (k9s flushes its log model every 50 ms the same way). When the UI falls behind by `max_pending`
    events the reader thread waits (back-pressure). Cancelling the consumer stops the follower and
    closes its connection.
    """
    loop = asyncio.get_running_loop()
    # deque append/popleft are atomic in CPython: the hot path takes no lock. `signalled` tells the reader
    # thread whether the consumer has already been woken for what is pending.
    pending: deque[FollowEvent] = deque()
    wake = asyncio.Event()
    signalled = threading.Event()
    done = threading.Event()
    outcome: list[BaseException | None] = []

    def signal() -> None:
        signalled.set()
        with contextlib.suppress(RuntimeError):  # the loop may be closed when the app exits
            loop.call_soon_threadsafe(wake.set)

    def pump() -> None:
        append = pending.append
        try:
            for event in follower:
                append(event)
                if not signalled.is_set():
                    signal()
                if len(pending) >= max_pending:
                    while len(pending) >= max_pending // 2 and not done.is_set():
                        time.sleep(0.01)
                if done.is_set():
                    break
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)
        signal()

    thread = threading.Thread(target=pump, name="log-follow", daemon=True)
    thread.start()
    try:
        while True:
            await wake.wait()
            wake.clear()
            if not outcome:
                await asyncio.sleep(flush_s)  # let a burst accumulate into one batch
            signalled.clear()  # before draining: an event appended from now on wakes us again
            popleft = pending.popleft
            batch = [popleft() for _ in range(len(pending))]
            if batch:
                yield batch
            if outcome and not pending:
                if outcome[0] is not None:
                    raise outcome[0]
                return
    finally:
        done.set()
        follower.stop()


def count_lines(path: Path) -> int:
    """Complete lines in a file (a trailing partial line does not count)."""
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def pid_alive(pid: int | None) -> bool:
    """True while the process group `pid` (the launcher's detached supervisor) still exists."""
    if not pid:
        return False
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
    return True


# --- the job's resource metrics (CPU / GPU / memory) ------------------------------------------------------


@dataclass(frozen=True)
class MetricsSample:
    cpu_pct: float | None
    mem_used: float | None
    mem_total: float | None
    gpus: tuple[tuple[float | None, float | None, float | None], ...] = ()
    """Per GPU: (utilization %, memory used bytes, memory total bytes)."""

    def summary(self) -> str:
        parts = []
        if self.cpu_pct is not None:
            parts.append(f"CPU {self.cpu_pct:.0f}%")
        if self.mem_used is not None:
            total = f"/{self.mem_total / 1e9:.1f}" if self.mem_total else ""
            parts.append(f"RAM {self.mem_used / 1e9:.1f}{total} GB")
        for i, (util, used, total) in enumerate(self.gpus):
            text = f"GPU{i} {util:.0f}%" if util is not None else f"GPU{i}"
            if used is not None:
                text += f" {used / 1e9:.1f}" + (f"/{total / 1e9:.1f}" if total else "") + " GB"
            parts.append(text)
        return " · ".join(parts) or "no metrics"


def sample_from_hub(event: dict[str, Any]) -> MetricsSample:
    """One `/metrics` SSE event (reference §4.8) as a sample; missing fields stay None."""
    gpus = event.get("gpus") or {}
    per_gpu = tuple(
        (_num(g.get("utilization")), _num(g.get("memory_used_bytes")), _num(g.get("memory_total_bytes")))
        for g in (gpus.values() if isinstance(gpus, dict) else []) if isinstance(g, dict)
    )
    return MetricsSample(_num(event.get("cpu_usage_pct")), _num(event.get("memory_used_bytes")),
                         _num(event.get("memory_total_bytes")), per_gpu)


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


class MetricsFollower:
    """Blocking iterator of `MetricsSample`s from `/metrics` until the job ends (406/500 = finished).

    A connection that brings nothing (the job is not running yet, or the route keeps failing) is retried
    with a doubling wait up to `max_poll_s`, so a stuck job costs a request a minute, not one every 2 s.
    """

    def __init__(self, source: HubLogSource, *, poll_s: float = 2.0, max_poll_s: float = 60.0) -> None:
        self.source = source
        self.poll_s = poll_s
        self.max_poll_s = max_poll_s
        self.ended = False
        """True once the job was seen in a terminal stage (the caller clears its metrics pane)."""
        self._stop = threading.Event()
        self._current: Any = None

    def stop(self) -> None:
        self._stop.set()
        if self._current is not None and hasattr(self._current, "close"):
            self._current.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[MetricsSample]:
        wait = self.poll_s
        while not self._stop.is_set():
            got = False
            server_wait: float | None = None
            try:
                with self.source.connect() as lines:
                    self._current = lines
                    for raw in lines:
                        if self._stop.is_set():
                            return
                        event = parse_sse_data(raw)
                        if event is not None:
                            got = True
                            yield sample_from_hub(event)
            except HttpStatusError as exc:
                if exc.status not in RETRY_STATUSES:
                    return  # 401/403/404: asking again gets the same answer
                server_wait = exc.retry_after
            except OfflineError:
                pass
            finally:
                self._current = None
            if got:
                wait = self.poll_s
            else:
                try:
                    if is_terminal(self.source.stage()):
                        self.ended = True
                        return
                except HttpStatusError as exc:
                    if exc.permanent:
                        return
                except TunerError:
                    pass
                wait = min(self.max_poll_s, wait * 2)
            self._stop.wait(max(wait, server_wait or 0.0))


class LocalSampler:
    """CPU and memory of a local job's process tree (psutil, when installed).

    psutil measures CPU between two calls on the *same* Process object, so they are kept across samples.
    """

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._procs: dict[int, Any] = {}

    def sample(self) -> MetricsSample | None:
        if not self.pid:
            return None
        try:
            import psutil
        except ImportError:
            return None
        try:
            root = self._procs.get(self.pid) or psutil.Process(self.pid)
            current = {self.pid: root}
            for child in root.children(recursive=True):
                current[child.pid] = self._procs.get(child.pid) or child
            cpu = rss = 0.0
            for proc in current.values():
                with contextlib.suppress(psutil.Error):
                    cpu += proc.cpu_percent(interval=None)
                    rss += proc.memory_info().rss
            self._procs = current
        except (psutil.Error, OSError):
            return None
        return MetricsSample(cpu, rss, float(psutil.virtual_memory().total))
