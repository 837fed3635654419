"""Child process groups: start them tracked, end the whole tree on a signal, reap what a `kill -9` left.

Every tool tui-tuner starts in the foreground (the converter, llama-quantize, the merge and Hub workers,
llama-server) runs in its own session, so one `killpg` ends it with everything it started. This module
keeps the list of those groups in two places:

* in memory (`track` / `untrack`), so a signal handler or the app's exit can end them all at once
  (`kill_tracked`), even when the asyncio code that started them never gets to run its cleanup;
* as one small JSON file per group in a `children` folder (the output folder's `.tui-tuner-children/`
  for conversions, the user data dir otherwise). A process killed with SIGKILL runs no cleanup at all;
  the next run that uses that folder calls `reap_stale`, which ends the groups whose owner is gone.

A pid alone is not an identity (pids are reused), so each file records the group leader's start time
and command line, and the owner's pid and start time: a live process that merely got the same pid is
never signalled. Linux never hands out a pid that is still some group's id, so a group whose leader has
exited is still safely addressed by its id while any member lives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHILDREN_DIR = Path(".tui-tuner-children")
"""Where a work folder keeps its pid files, relative to the folder."""

TERMINATION_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# ------------------------------------------------------------------------------------------------
# process identity
# ------------------------------------------------------------------------------------------------

def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], pgrp [2], starttime [19])."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def start_time(pid: int) -> str | None:
    """An opaque token that differs between two processes that had the same pid (None: unknown/gone)."""
    fields = _proc_stat(pid)
    if fields is not None:
        return fields[19] if len(fields) > 19 and fields[0] != "Z" else None
    if sys.platform.startswith("linux"):
        return None  # /proc is authoritative on Linux: no stat, no process
    try:
        import psutil
    except ImportError:
        return "?" if _exists(pid) else None
    try:
        proc = psutil.Process(pid)
        return None if proc.status() == psutil.STATUS_ZOMBIE else f"{proc.create_time():.2f}"
    except psutil.Error:
        return None


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(pid: int | None, token: str | None = None) -> bool:
    """Whether `pid` is a live (non-zombie) process and, when `token` is given, the same one as then."""
    if not pid or pid <= 0:
        return False
    now = start_time(pid)
    if now is None:
        return False
    return token in (None, "?") or now == "?" or now == token


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode("utf-8", "replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    if os.path.isdir("/proc"):
        members = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            fields = _proc_stat(int(name))
            if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
                members.append(int(name))
        return members
    try:
        import psutil
    except ImportError:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]  # somebody is in the group; without /proc or psutil we cannot say who
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
    return found


# ------------------------------------------------------------------------------------------------
# ending a group
# ------------------------------------------------------------------------------------------------

def signal_group(pgid: int, sig: int, exclude: Iterable[int] = ()) -> None:
    """Send `sig` to every member of group `pgid` (except `exclude`); a gone group is not an error."""
    skip = set(exclude)
    if not skip:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        return
    for pid in group_members(pgid):
        if pid not in skip:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)


def _reap_child(pid: int) -> None:
    """Collect our own exited child so it stops counting as a member (asyncio may have done it already)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def end_groups(pgids: Iterable[int], grace_s: float = 3.0, *, exclude: Iterable[int] = (),
               sleep: Callable[[float], Any] = time.sleep) -> list[int]:
    """SIGTERM every group, wait up to `grace_s` for them to empty, SIGKILL what is left.

    Synchronous on purpose: it runs from signal handlers, `atexit` and the app's exit, where the event
    loop that started the processes may be gone. Returns the groups that had live members.
    """
    skip = set(exclude)
    groups = [g for g in dict.fromkeys(pgids) if g > 0 and [p for p in group_members(g) if p not in skip]]
    for pgid in groups:
        signal_group(pgid, signal.SIGTERM, skip)
    deadline = time.monotonic() + grace_s
    while True:
        for pgid in groups:
            _reap_child(pgid)
        alive = [g for g in groups if [p for p in group_members(g) if p not in skip]]
        if not alive or time.monotonic() >= deadline:
            break
        sleep(0.05)
    for pgid in alive:
        signal_group(pgid, signal.SIGKILL, skip)
    for pgid in alive:
        for _ in range(40):  # SIGKILL is not instant; let the kernel tear the processes down
            _reap_child(pgid)
            if not [p for p in group_members(pgid) if p not in skip]:
                break
            sleep(0.025)
    return groups


# ------------------------------------------------------------------------------------------------
# tracking: in memory and on disk
# ------------------------------------------------------------------------------------------------

@dataclass
class GroupRecord:
    """What a pid file says about one child process group."""

    pgid: int
    leader_start: str | None
    cmdline: list[str]
    owner_pid: int
    owner_start: str | None
    started_at: float = field(default_factory=time.time)

    @property
    def command(self) -> str:
        return " ".join(self.cmdline)[:300]


_tracked: dict[int, Path | None] = {}
_lock = threading.Lock()
_atexit_registered = False


def global_children_dir() -> Path:
    from core import paths

    return paths.data_dir() / "children"


def children_dir(folder: Path) -> Path:
    return Path(folder) / CHILDREN_DIR


def record_group(pid_dir: Path, pgid: int, argv: Sequence[Any]) -> Path | None:
    """Write the pid file of group `pgid`, owned by this process (None when it cannot be written)."""
    from core.redact import redact

    record = GroupRecord(pgid=pgid, leader_start=start_time(pgid), cmdline=[redact(str(a)) for a in argv],
                         owner_pid=os.getpid(), owner_start=start_time(os.getpid()))
    path = Path(pid_dir) / f"{pgid}.json"
    try:  # a record we cannot write must not stop the tool
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        return None
    return path


def forget_group(pid_dir: Path, pgid: int) -> None:
    with contextlib.suppress(OSError):
        (Path(pid_dir) / f"{pgid}.json").unlink()


def track(pid: int, argv: Sequence[Any], pid_dir: Path | None) -> None:
    """Remember a child that leads its own process group (started with `start_new_session=True`)."""
    path = record_group(pid_dir, pid, argv) if pid_dir is not None else None
    with _lock:
        global _atexit_registered
        if not _atexit_registered:  # the last line of defence: any normal interpreter exit ends them too
            import atexit

            atexit.register(kill_tracked)
            _atexit_registered = True
        _tracked[pid] = path


def untrack(pid: int) -> None:
    with _lock:
        path = _tracked.pop(pid, None)
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def tracked() -> list[int]:
    with _lock:
        return list(_tracked)


def kill_tracked(grace_s: float = 3.0) -> list[int]:
    """End every group this process started and still tracks (signal handlers, exit); returns them."""
    groups = tracked()
    if not groups:
        return []
    ended = end_groups(groups, grace_s)
    for pgid in groups:
        untrack(pgid)
    return ended


def read_records(pid_dir: Path) -> list[tuple[Path, GroupRecord | None]]:
    out: list[tuple[Path, GroupRecord | None]] = []
    try:
        files = sorted(Path(pid_dir).glob("*.json"))
    except OSError:
        return out
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            record = GroupRecord(pgid=int(data["pgid"]), leader_start=data.get("leader_start"),
                                 cmdline=[str(a) for a in data.get("cmdline") or []],
                                 owner_pid=int(data.get("owner_pid") or 0), owner_start=data.get("owner_start"),
                                 started_at=float(data.get("started_at") or 0))
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            record = None
        out.append((path, record))
    return out


def reap_stale(pid_dir: Path, grace_s: float = 3.0) -> list[GroupRecord]:
    """End the groups recorded in `pid_dir` whose owner is gone; returns those that still had members.

    A record whose owner still runs is left alone (another live run's child). A record whose leader pid
    now belongs to another process (different start time) is dropped without signalling anybody.
    """
    reaped: list[GroupRecord] = []
    for path, record in read_records(pid_dir):
        if record is None:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if record.owner_pid == os.getpid() and record.pgid in tracked():
            continue  # ours, alive
        if record.owner_pid != os.getpid() and is_running(record.owner_pid, record.owner_start):
            continue
        leader_now = start_time(record.pgid)
        reused = leader_now is not None and record.leader_start is not None and leader_now != record.leader_start
        if not reused and group_members(record.pgid):
            end_groups([record.pgid], grace_s)
            reaped.append(record)
        with contextlib.suppress(OSError):
            path.unlink()
    return reaped


# ------------------------------------------------------------------------------------------------
# signals
# ------------------------------------------------------------------------------------------------

class Interrupted(Exception):
    """The run was stopped by a signal; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def run_until_signal(main: Callable[[], Any]) -> Any:
    """`asyncio.run(main())`, with SIGINT, SIGTERM and SIGHUP all cancelling it like Ctrl-C.

    Cancelling unwinds the coroutine, so each tool's own cleanup runs (process group killed, partial
    files removed, records marked); `kill_tracked` then ends any group that cleanup did not reach.
    Raises `Interrupted(signum)` after the cleanup.
    """
    import asyncio

    received: list[int] = []

    async def wrapper() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def stop(signum: int) -> None:
            if not received:
                received.append(signum)
            task.cancel()

        for sig in TERMINATION_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop, sig)
        try:
            return await main()
        finally:
            for sig in TERMINATION_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    try:
        return asyncio.run(wrapper())
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise Interrupted(received[0] if received else signal.SIGINT) from None
    finally:
        kill_tracked()


def quiet_output() -> None:
    """After SIGHUP the terminal is gone: point stdout/stderr at /dev/null so a last message cannot fail."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
        os.close(devnull)


__all__ = ["CHILDREN_DIR", "GroupRecord", "Interrupted", "children_dir", "cmdline", "end_groups", "forget_group",
           "global_children_dir", "group_members", "is_running", "kill_tracked", "reap_stale", "record_group",
           "run_until_signal", "signal_group", "start_time", "track", "tracked", "untrack"]
