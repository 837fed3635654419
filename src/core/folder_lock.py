"""One writer per output folder: an exclusive `flock` on `<folder>/.tui-tuner.lock`.

Two conversions into one folder trip over each other's partial files; two evaluations into one results
folder run (and pay for) every conversation twice. Whoever takes the lock writes who it is (pid, command,
since when) into the lock file; the next one reads that and fails with a one-line `FolderBusy` (exit 2
in the CLI, a notification in the TUI). The kernel drops a `flock` when its holder dies, however it dies,
so a crash or `kill -9` never leaves a folder locked; the file itself stays, harmless. The descriptor is
not inherited by child processes (Python's default), so a tool left running cannot hold the lock either.
Where `fcntl` does not exist (Windows) the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from core.errors import TunerError

LOCK_FILE = Path(".tui-tuner.lock")
"""A plain file, not a folder: tools that read every file of a results folder keep working."""

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class FolderBusy(TunerError):
    """Another live process holds the folder's lock."""

    def __init__(self, folder: Path, holder: dict[str, Any] | None) -> None:
        self.folder = folder
        self.holder = holder or {}
        super().__init__(f"{folder} is in use by {describe_holder(self.holder)}",
                         hint=_hint(self.holder))


def _hint(holder: dict[str, Any]) -> str:
    pid = holder.get("pid")
    stop = f"stop it (kill {pid})" if pid else "stop it"
    return f"wait for it to finish, {stop}, or choose another folder"


def describe_holder(holder: dict[str, Any]) -> str:
    if not holder.get("pid"):
        return "another tui-tuner process"
    parts = [f"pid {holder['pid']}"]
    if holder.get("host") and holder["host"] != socket.gethostname():
        parts.append(f"on {holder['host']}")
    command = holder.get("command")
    if command == "tui-tuner":  # the app itself, no subcommand: say what it is doing there
        parts.append(f"the tui-tuner app ({holder.get('purpose') or 'busy'})")
    elif command:
        parts.append(f"`{command}`")
    if holder.get("since"):
        parts.append("since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder["since"]))))
    return ", ".join(parts)


def _command_line() -> str:
    from core.redact import redact

    argv = list(sys.argv)
    if argv and argv[0].endswith(("__main__.py", "tui-tuner")):
        argv[0] = "tui-tuner"
    return redact(" ".join(argv))[:300]


class FolderLock:
    """`with FolderLock(folder, "convert"):` — raises `FolderBusy` when another process holds it."""

    def __init__(self, folder: Path, purpose: str, command: str | None = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.purpose = purpose
        self.command = command
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        if self._fd is not None or fcntl is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TunerError(f"cannot lock {self.folder}: {exc.strerror or exc}",
                             hint="check that the folder is writable") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_fd(fd)
            os.close(fd)
            raise FolderBusy(self.folder, holder) from None
        from core.process_tree import start_time

        info = {"pid": os.getpid(), "start": start_time(os.getpid()), "host": socket.gethostname(),
                "purpose": self.purpose, "command": self.command or _command_line(), "since": time.time()}
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # the next reader must not see a holder that has left
        with contextlib.suppress(OSError):
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_fd(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 4096, 0)
        value = json.loads(data.decode("utf-8")) if data.strip() else None
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def lock_holder(folder: Path) -> dict[str, Any] | None:
    """Who holds `folder`'s lock now (None: nobody). Never creates the lock file."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return _read_fd(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "FolderBusy", "FolderLock", "describe_holder", "lock_holder"]
