"""Waiting in Pilot tests on conditions, not on fixed delays.

`wait_for` checks its condition after every frame (`pilot.pause()`, which returns once the app's queued
messages are handled and the process is idle), so a test goes on as soon as the screen is ready and a slow
machine only makes it wait longer, never fail. When the time is up it fails naming the condition and the
app's last notifications. `stays_true` is for what must NOT happen (a request not sent, a job not
cancelled): the condition is checked every frame over a window that the test derives from the interval
under test, and the test fails the moment it breaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from textual.pilot import Pilot
from textual.worker import WorkerCancelled


def describe(condition: Callable[[], object]) -> str:
    """The condition's own source text (the lambda in the test), for the failure message."""
    try:
        source = inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return getattr(condition, "__qualname__", repr(condition))
    found = re.search(r"lambda[^:]*:(.*)", source, re.DOTALL)
    text = found.group(1) if found else source
    return " ".join(text.split())[:200]


def _notes(pilot: Pilot[Any]) -> list[str]:
    return [n.message for n in pilot.app._notifications][-5:]


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], *, timeout: float = 15.0,
                   what: str | None = None) -> None:
    """Until `condition()` is true, one frame at a time; AssertionError naming it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout:g} s: {what or describe(condition)}; "
                                 f"notifications: {_notes(pilot)}")
        await pilot.pause()


async def stays_true(pilot: Pilot[Any], condition: Callable[[], object], *, seconds: float,
                     what: str | None = None) -> None:
    """`condition()` holds at every frame for `seconds`; AssertionError naming it as soon as it does not."""
    end = time.monotonic() + seconds
    while True:
        if not condition():
            raise AssertionError(f"stopped being true: {what or describe(condition)}; "
                                 f"notifications: {_notes(pilot)}")
        if time.monotonic() >= end:
            return
        await pilot.pause()


def busy_workers(pilot: Pilot[Any], ignore_groups: Iterable[str] = ()) -> list[Any]:
    ignored = set(ignore_groups)
    return [w for w in pilot.app.workers if w.is_running and w.group not in ignored]


async def wait_for_workers(pilot: Pilot[Any], *, ignore_groups: Iterable[str] = (), timeout: float = 60.0) -> None:
    """Until no worker runs (but those of `ignore_groups`, e.g. a periodic refresh), then one more frame for
    what they posted."""
    groups = tuple(ignore_groups)
    deadline = time.monotonic() + timeout
    while busy := busy_workers(pilot, groups):
        if time.monotonic() > deadline:
            raise AssertionError(f"workers still running after {timeout:g} s: {[w.name for w in busy]}")
        with contextlib.suppress(WorkerCancelled, TimeoutError):
            await asyncio.wait_for(pilot.app.workers.wait_for_complete(busy), max(0.05, deadline - time.monotonic()))
        await pilot.pause()
    await pilot.pause()
