"""Run a tool as an async subprocess in its own process group and stream its output as events.

stdout and stderr are merged (quantize prints its timing on stdout, everything else on stderr), split
on `\\r` as well as `\\n` (tqdm redraws with `\\r`), ANSI-stripped, redacted, and handed to a parser.
Cancelling the consumer (a key, Ctrl-C, SIGTERM/SIGHUP through `core.process_tree.run_until_signal`) kills
the whole process group: SIGTERM, then SIGKILL. Each group is tracked (`core.process_tree`): in memory, so
an exit path that never reaches this cleanup still ends it, and as a pid file in `pid_dir`, so the next
run in that folder reaps a group whose owner was killed with SIGKILL.
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

from core import process_tree
from core.convert.events import Event
from core.convert.logparse import LineParser, Tail, strip_ansi, tool_error_line
from core.redact import redact

KILL_GRACE_S = 5.0
LEFTOVER_GRACE_S = 2.0
"""After the tool exits, how long a process it left in its group may keep the output pipe open."""


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
    """End the process group started for `proc`: SIGTERM, SIGKILL after `grace` seconds, and SIGKILL for
    any member still there once the leader has gone (a tool's own children must not outlive it)."""
    if proc.returncode is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), wait)
                break
            except TimeoutError:
                continue
    await end_leftovers(proc.pid)


async def end_leftovers(pgid: int, grace: float = 1.0) -> None:
    """SIGTERM then SIGKILL whatever is left in a group whose leader has exited."""
    if not process_tree.group_members(pgid):
        return
    await asyncio.to_thread(process_tree.end_groups, [pgid], grace)


async def stream_process(
    argv: Sequence[str | Path],
    parser: LineParser,
    outcome: ProcessOutcome,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pid_dir: Path | None = None,
) -> AsyncIterator[Event]:
    """Run `argv` in its own process group and yield the parser's events; `pid_dir` records the group
    (see `core.process_tree`) until it has ended."""
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
    process_tree.track(proc.pid, argv, pid_dir)
    assert proc.stdout is not None

    async def end_leftovers_after_exit() -> None:
        # A child the tool left behind keeps our pipe open: without this the read below never sees EOF.
        # (`proc.wait()` itself waits for the pipes to close; `returncode` is set as soon as the tool exits.)
        while proc.returncode is None:
            await asyncio.sleep(0.2)
        await asyncio.sleep(LEFTOVER_GRACE_S)
        await end_leftovers(proc.pid)

    watcher = asyncio.create_task(end_leftovers_after_exit())
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
        watcher.cancel()
        try:
            await kill_group(proc)
            outcome.returncode = proc.returncode
        finally:
            # Interrupted half-way (a second cancel)? Stay tracked: the exit path's kill_tracked ends it.
            if not process_tree.group_members(proc.pid):
                process_tree.untrack(proc.pid)
