"""Start `tui-tuner serve` as a user would (a subprocess), read its URL, find and await its app processes."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

URL_LINE = re.compile(r"(http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]+)/)")


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int
    token: str
    output: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def apps(self) -> list[psutil.Process]:
        """The server's descendants: the app of each connected tab (and whatever those started)."""
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for_apps(self, count: int = 1, timeout: float = 30) -> list[psutil.Process]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            apps = self.apps()
            if len(apps) >= count:
                return apps
            time.sleep(0.1)
        raise AssertionError(f"no app process started within {timeout:.0f}s; server said: {self.read_rest()!r}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        """Signal the server alone (it leads its own session, as it would in a terminal) and wait for it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        try:
            return self.process.wait(timeout)
        finally:
            self.read_rest()

    def read_rest(self) -> str:
        if self.process.poll() is not None and self.process.stdout is not None:
            with contextlib.suppress(ValueError, OSError):
                self.output.append(self.process.stdout.read())
        return "".join(self.output)

    def kill(self) -> None:
        """Last resort for a test that failed half-way: no server or app may outlive the test."""
        apps = self.apps()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        for app in apps:
            with contextlib.suppress(psutil.Error):
                app.kill()


def start(cwd: Path, *args: str, timeout: float = 60) -> Served:
    """`tui-tuner serve --port 0 ARGS` in `cwd`; returns once it printed its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_tuner", "serve", "--port", "0", *args], cwd=cwd, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(max(0.0, deadline - time.monotonic())):
            break
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = URL_LINE.search(line)
        if found:
            selector.close()
            return Served(process, found.group(1), int(found.group(2)), found.group(3), lines)
    selector.close()
    process.kill()
    rest = process.communicate(timeout=10)[0] or ""
    raise AssertionError(f"`tui-tuner serve` printed no URL: {''.join(lines) + rest!r}")


def wait_gone(processes: list[psutil.Process], timeout: float = 15) -> list[psutil.Process]:
    """The processes (same pid and start time) still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.1)
    return alive


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
