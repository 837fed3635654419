"""The log view's memory: the last N lines in RAM, the whole log on disk.

A training job can print millions of lines over hours; the view keeps a bounded ring (default 20,000
lines, `[jobs].log_buffer_lines`) and the full log lives in a file under `core.paths.logs_dir()`
(HF jobs) or wherever the launcher wrote it (local jobs). The file is also what makes a restarted
monitor resume without duplicates: one log event per line, so its line count is the position to skip
to on the next replay.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from core import paths

DEFAULT_MAX_LINES = 20_000
MAX_LINE_CHARS = 4_000
"""Longer lines are cut (with …): one runaway line must not cost megabytes of widget memory."""


def hub_log_path(job_id: str) -> Path:
    return paths.ensure(paths.logs_dir()) / f"hf-{job_id}.log"


def _one_line(text: str) -> str:
    # One event = one line on disk (the resume position is a line count). Progress bars redraw with \r:
    # keep what a terminal would show, the last segment.
    if "\r" in text:
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    if "\n" in text:
        text = text.replace("\n", " ␤ ")
    return text


class LogBuffer:
    """Bounded in-memory tail of a log; `total` counts every line ever appended."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES) -> None:
        self.max_lines = max_lines
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.total = 0

    @property
    def first_index(self) -> int:
        """Position in the full log of `lines[0]`."""
        return self.total - len(self.lines)

    def extend(self, texts: Iterable[str]) -> int:
        before = self.total
        for text in texts:
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + "…"
            self.lines.append(text)
            self.total += 1
        return self.total - before

    def clear(self) -> None:
        self.lines.clear()
        self.total = 0


class DiskLog:
    """Append-only full log of one HF job; a second monitor on the same job reads but does not write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        paths.ensure(path.parent)
        self._lock_handle = (path.parent / f".{path.name}.lock").open("a")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.writable = True
        except OSError:
            self.writable = False
        self._repair()
        self._handle = path.open("a", encoding="utf-8") if self.writable else None

    def _repair(self) -> None:
        """Drop a trailing partial line left by a crash, so the line count is the resume position."""
        if not self.writable or not self.path.exists():
            return
        size = self.path.stat().st_size
        if size == 0:
            return
        with self.path.open("rb+") as handle:
            handle.seek(max(0, size - 65536))
            tail = handle.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))

    def line_count(self) -> int:
        from core.jobs.log_follow import count_lines

        return count_lines(self.path)

    def append(self, texts: Iterable[str]) -> None:
        if self._handle is None:
            return
        self._handle.write("".join(_one_line(t) + "\n" for t in texts))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
        self._lock_handle.close()


def read_tail(path: Path, max_lines: int) -> tuple[list[str], int]:
    """The last `max_lines` complete lines of a file and the file's total number of complete lines.

    Reads backwards in blocks (toolong's trick) so opening a 1 GB log costs only the tail it shows, plus
    one pass of newline counting.
    """
    if not path.exists() or max_lines <= 0:
        return [], 0
    from core.jobs.log_follow import count_lines

    total = count_lines(path)
    size = path.stat().st_size
    block = 1 << 16
    data = b""
    with path.open("rb") as handle:
        end = size
        # Ignore a trailing partial line: it is not a complete event yet.
        handle.seek(max(0, size - block))
        last = handle.read()
        if last and not last.endswith(b"\n"):
            cut = last.rfind(b"\n")
            end = size - len(last) + cut + 1 if cut >= 0 else max(0, size - len(last))
        pos = end
        while pos > 0 and data.count(b"\n") <= max_lines:
            step = min(block, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
            block = min(block * 2, 1 << 24)
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if pos > 0 and lines:
        lines = lines[1:]  # the first piece may start mid-line
    return lines[-max_lines:], total


def open_disk_log(job_id: str) -> tuple[DiskLog, int]:
    """The job's on-disk log and how many events it already holds (where a follower resumes)."""
    disk = DiskLog(hub_log_path(job_id))
    return disk, disk.line_count()


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
