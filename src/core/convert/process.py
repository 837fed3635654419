"""Run a tool as an async subprocess in its own process group and stream its output as events.

stdout and stderr are merged (quantize prints its timing on stdout, everything else on stderr), split
on `\\r` as well as `\\n` (tqdm redraws with `\\r`), ANSI-stripped, redacted, and handed to a parser.
Cancelling the consumer (a key, Ctrl-C) kills the whole process group: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.convert.events import Event
from core.convert.logparse import LineParser, Tail, strip_ansi, tool_error_line
from core.redact import redact

KILL_GRACE_S = 5.0


@dataclass
class ProcessOutcome:
    """Filled in by `stream_process` as it runs; read it after the iterator is exhausted."""

    returncode: int | None = None
    tail: Tail = field(default_factory=Tail)
    pid: int | None = None

    @property
    def error_line(self) -> str | None:
        return tool_error_line(self.tail.lines)


def shell_line(argv: Sequence[str | Path], env_prefix: dict[str, str] | None = None) -> str:
    """The command as a user would type it (shown in the log so they can rerun it by hand)."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env_prefix or {}).items())
    cmd = " ".join(shlex.quote(str(a)) for a in argv)
    return f"{prefix} {cmd}".strip()


async def kill_group(proc: asyncio.subprocess.Process, grace: float = KILL_GRACE_S) -> None:
    """Terminate the process group started for `proc`, escalating to SIGKILL after `grace` seconds."""
    if proc.returncode is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue


async def stream_process(
    argv: Sequence[str | Path],
    parser: LineParser,
    outcome: ProcessOutcome,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> AsyncIterator[Event]:
    proc = await asyncio.create_subprocess_exec(
        *[str(a) for a in argv],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=str(cwd) if cwd else None,
        start_new_session=True,  # its own process group: cancel kills the tool and its children
    )
    outcome.pid = proc.pid
    assert proc.stdout is not None
    buffer = ""
    try:
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            buffer += chunk.decode("utf-8", errors="replace")
            # Keep the last (incomplete) piece; everything before a \r or \n is a line or a redraw.
            while True:
                cut = min((i for i in (buffer.find("\r"), buffer.find("\n")) if i >= 0), default=-1)
                if cut < 0:
                    break
                sep = buffer[cut]
                piece, buffer = buffer[:cut], buffer[cut + 1:]
                if sep == "\r" and buffer.startswith("\n"):
                    buffer, sep = buffer[1:], "\n"
                text = redact(strip_ansi(piece)).rstrip()
                if not text:
                    continue
                partial = sep == "\r"
                if not partial:
                    outcome.tail.add(text)
                for event in parser.feed(text, partial=partial):
                    yield event
        if buffer.strip():
            text = redact(strip_ansi(buffer)).rstrip()
            outcome.tail.add(text)
            for event in parser.feed(text):
                yield event
        outcome.returncode = await proc.wait()
    finally:
        if proc.returncode is None:
            await kill_group(proc)
            outcome.returncode = proc.returncode
