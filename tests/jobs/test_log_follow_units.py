"""LogFollower against a scripted replaying server: positional dedupe, cuts mid-line, retries, stop()."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator

import pytest

from core.errors import OfflineError
from core.jobs.jobs_source import HttpStatusError
from core.jobs.log_follow import LogFollower, LogLine, StreamNotice


def sse(text: str, ts: str = "2026-01-01T00:00:00Z") -> str:
    return "data: " + json.dumps({"data": text, "timestamp": ts})


class ReplayingServer:
    """Like HF Jobs: every connection replays the whole log; each one ends after `per_conn` new events,
    sometimes cut in the middle of an event line, until the log is complete."""

    def __init__(self, lines: list[str], per_conn: int, cut_every: int = 2) -> None:
        self.lines = lines
        self.per_conn = per_conn
        self.cut_every = cut_every
        self.connections = 0
        self.visible = 1
        self.failures: list[Exception] = []

    @contextlib.contextmanager
    def connect(self) -> Iterator[list[str]]:
        if self.failures:
            raise self.failures.pop(0)
        self.connections += 1
        self.visible = min(len(self.lines), self.visible + self.per_conn)
        out = [sse("===== Job started at 2026-01-01 00:00:00 =====")]
        for i, text in enumerate(self.lines[: self.visible]):
            out += [": keep-alive"] if i % 7 == 0 else []
            out += [sse(text), ""]
        if self.visible < len(self.lines) and self.connections % self.cut_every == 0:
            out.append(sse(self.lines[self.visible])[:15])  # the stream dies mid-line
        yield out

    def stage(self) -> str:
        return "COMPLETED" if self.visible >= len(self.lines) else "RUNNING"


def collect(follower: LogFollower) -> tuple[list[LogLine], list[StreamNotice]]:
    lines, notices = [], []
    for event in follower:
        (lines if isinstance(event, LogLine) else notices).append(event)
    return lines, notices


def test_no_line_lost_or_duplicated_across_twenty_reconnects() -> None:
    # Identical lines are legitimate and must all survive: dedupe is by position, never by text.
    text = [f"step {i}" if i % 5 else "loss: nan" for i in range(250)]
    server = ReplayingServer(text, per_conn=10)
    follower = LogFollower(server, reconnect_delay=0, sleep=lambda s: None)
    lines, notices = collect(follower)
    assert server.connections >= 20 and follower.reconnects >= 20
    shown = [line.text for line in lines if not line.text.startswith("===== Job started")]
    assert shown == text  # 0 lost, 0 duplicated, in order
    assert [line.index for line in lines] == list(range(len(lines)))
    assert notices[-1].kind == "finished" and notices[-1].detail == "COMPLETED"


def test_resume_from_saved_position_skips_what_is_on_disk() -> None:
    text = [f"l{i}" for i in range(30)]
    server = ReplayingServer(text, per_conn=100)
    lines, _ = collect(LogFollower(server, start_index=11, sleep=lambda s: None))
    assert [line.text for line in lines] == text[10:]  # index 0 is "Job started"


def test_retries_on_429_with_retry_after_and_when_the_server_is_down() -> None:
    server = ReplayingServer(["a", "b"], per_conn=5)
    server.failures = [HttpStatusError(429, "rate limited", retry_after=7.0), OfflineError("down"),
                       HttpStatusError(503, "unavailable")]
    waits: list[float] = []
    lines, notices = collect(LogFollower(server, reconnect_delay=1.0, sleep=waits.append))
    assert [line.text for line in lines][1:] == ["a", "b"]
    assert 7.0 <= waits[0] <= 7.0 * 1.06  # Retry-After honoured (never earlier, a little jitter later)
    assert all(0 < w <= 10.0 for w in waits[1:])  # backoff, bounded
    assert [n.kind for n in notices].count("retrying") == 3


def test_permanent_http_errors_are_raised() -> None:
    server = ReplayingServer(["a"], per_conn=5)
    server.failures = [HttpStatusError(404, "Job not found")]
    with pytest.raises(HttpStatusError):
        collect(LogFollower(server, sleep=lambda s: None))


def test_no_follow_reads_one_connection() -> None:
    server = ReplayingServer([f"l{i}" for i in range(10)], per_conn=3)
    lines, notices = collect(LogFollower(server, follow=False, sleep=lambda s: None))
    assert server.connections == 1 and len(lines) == 5  # Job started + 4 visible lines
    assert notices[-1].kind == "finished"


class BlockingLines:
    """A connection that blocks in the middle of a read until closed (like a silent SSE stream)."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[str]:
        yield sse("first")
        self.closed.wait(30)

    def close(self) -> None:
        self.closed.set()


def test_stop_from_another_thread_unblocks_a_silent_stream() -> None:
    conn = BlockingLines()

    class Source:
        @contextlib.contextmanager
        def connect(self) -> Iterator[BlockingLines]:
            yield conn

        def stage(self) -> str:
            return "RUNNING"

    follower = LogFollower(Source(), sleep=lambda s: None)
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.extend(follower))
    thread.start()
    while not any(isinstance(e, LogLine) for e in seen):
        thread.join(0.01)
    follower.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert [e.text for e in seen if isinstance(e, LogLine)] == ["first"]
