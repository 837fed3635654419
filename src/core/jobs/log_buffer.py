"""The log view's memory: the last N lines in RAM, the whole log on disk.

A training job can print millions of lines over hours; the view keeps a bounded ring (default 20,000
lines, `[jobs].log_buffer_lines`) and the full log lives in a file under `core.paths.logs_dir()`
(HF jobs) or wherever the launcher wrote it (local jobs). The file is also what makes a restarted
monitor resume without duplicates: one log event per line, so its line count is the position to skip
to on the next replay.

The HF file (`hf-<job>.tsv`) keeps each event exactly as the Hub sent it, so a replay from disk prints what
the live stream printed: `<timestamp>\t<text>`, the timestamp as the Hub wrote it (`-` when unknown), the
text with `\\`, tab, newline and carriage return escaped as `\\`, `\t`, `\n`, `\r` (a progress bar redrawn
with `\r` stays one line on disk and whole on replay). `less` shows it; `cut -f2-` gives the plain log.
An older `hf-<job>.log` (text only) is converted on first open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core import paths

DEFAULT_MAX_LINES = 20_000
MAX_LINE_CHARS = 4_000
"""Longer lines are cut (with …): one runaway line must not cost megabytes of widget memory."""

NO_TIMESTAMP = "-"
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_UNESCAPE = re.compile(r"\\([\\tnr])")
_UNESCAPED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def hub_log_path(job_id: str) -> Path:
    return paths.ensure(paths.logs_dir()) / f"hf-{job_id}.tsv"


def _legacy_log_path(job_id: str) -> Path:
    return paths.logs_dir() / f"hf-{job_id}.log"


def encode_event(text: str, timestamp: str | None) -> str:
    """One disk line (without the newline) for one log event; lossless (see the module docstring)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.translate(_ESCAPE)
    stamp = timestamp if timestamp and "\t" not in timestamp and "\n" not in timestamp else NO_TIMESTAMP
    return f"{stamp}\t{text}"


def decode_event(line: str) -> tuple[str, str | None]:
    """(text, timestamp) of one disk line written by `encode_event`."""
    stamp, sep, text = line.partition("\t")
    if not sep:  # not ours (a hand-edited file): the whole line is the text
        return line, None
    if "\\" in text:
        text = _UNESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], text)
    return text, (None if stamp == NO_TIMESTAMP else stamp)


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

    def append(self, events: Iterable[Any]) -> None:
        """Append log events: `LogLine`s (text and timestamp kept) or plain strings (no timestamp)."""
        if self._handle is None:
            return
        out = [encode_event(event, None) if isinstance(event, str) else encode_event(event.text, event.timestamp)
               for event in events]
        if out:
            self._handle.write("\n".join(out) + "\n")
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


def read_tail_events(path: Path, max_lines: int) -> tuple[list[tuple[str, str | None]], int]:
    """`read_tail` of an HF disk log, decoded: the last events as (text, timestamp), and the total."""
    lines, total = read_tail(path, max_lines)
    return [decode_event(line) for line in lines], total


def open_disk_log(job_id: str) -> tuple[DiskLog, int]:
    """The job's on-disk log and how many events it already holds (where a follower resumes)."""
    _convert_legacy(job_id)
    disk = DiskLog(hub_log_path(job_id))
    return disk, disk.line_count()


def _convert_legacy(job_id: str) -> None:
    """An `hf-<job>.log` from an older version becomes `hf-<job>.tsv` (events keep their positions; the
    old file had no timestamps and only the last segment of `\r` lines, which cannot be recovered)."""
    legacy, current = _legacy_log_path(job_id), hub_log_path(job_id)
    if not legacy.is_file() or current.exists():
        return
    tmp = current.with_suffix(".tsv.tmp")
    with legacy.open(encoding="utf-8", errors="replace") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.endswith("\n"):  # a trailing partial line (a crash mid-write) is not an event
                dst.write(encode_event(line[:-1], None) + "\n")
    os.replace(tmp, current)
    with contextlib.suppress(OSError):
        legacy.unlink()


def file_size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
