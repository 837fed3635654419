"""Write a file the user named (a report, an export, a preset, personas, a rubric) the way a shell `>` would,
but without ever leaving half a file behind.

One helper for every writer of user-named outputs, so they all follow the same rules:

* ``-`` means standard output (the Unix convention); ``./-`` is a file named ``-``.
* A regular file (or a new one) is replaced atomically: written to a temporary file in the same folder,
  fsynced, then renamed over the target. A reader sees the old contents or the new, never half. The
  file keeps its permission bits; a new file gets the usual ``0666 & ~umask``.
* A regular file we may not simply replace is written in place instead (truncate + write): one owned by
  another user (a rename would change its owner) or with several hard links (a rename would split them).
* A device, FIFO or terminal is written through, never replaced: ``--out /dev/null`` discards,
  ``--out /dev/stdout`` prints, ``--out fifo`` feeds the reader on the other end.
* A symbolic link is **followed**, as a shell `>` follows it: the file it points to is written (by the
  rules above) and the link stays a link. A link whose target's folder does not exist is an error.
* A directory, a socket, an existing file that is not writable, or an unwritable folder is a one-line
  `TunerError`; nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import TextIO

from core.errors import TunerError

STDOUT = "-"


def is_stdout(target: str | os.PathLike[str] | None) -> bool:
    """True for ``-`` as typed. Pass the string the user typed: ``Path("./-")`` would also read as ``-``."""
    return target is not None and os.fspath(target) == STDOUT


def write_output(target: str | os.PathLike[str], data: str | bytes, *, what: str = "file",
                 overwrite: bool = True, allow_stdout: bool = True, stdout: TextIO | None = None,
                 hint: str | None = None) -> Path | None:
    """Write `data` to the file the user named; returns the path written, or None for standard output.

    `what` names the output in errors ("the report"); `overwrite=False` refuses an existing file (with
    `hint`, e.g. "pass --force"); `allow_stdout=False` refuses ``-`` (the TUI has no stdout to give).
    Text ends with a newline, as files on a terminal should.
    """
    if isinstance(data, str) and not data.endswith("\n"):
        data += "\n"
    if is_stdout(target):
        if not allow_stdout:
            raise TunerError(f"'-' (standard output) cannot be used for {what} here", hint="give a file name")
        stream = stdout or sys.stdout
        if isinstance(data, bytes):
            stream.flush()
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                buffer.write(data)
                buffer.flush()
                return None
            data = data.decode("utf-8", errors="replace")
        stream.write(data)
        stream.flush()
        return None
    path = Path(os.fspath(target)).expanduser()
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        return _write(path, payload, what=what, overwrite=overwrite, hint=hint)
    except TunerError:
        raise
    except OSError as exc:
        raise TunerError(f"{path}: cannot write {what} ({exc.strerror or exc})") from None


def _write(path: Path, payload: bytes, *, what: str, overwrite: bool, hint: str | None) -> Path:
    try:
        info: os.stat_result | None = path.stat()  # follows a symbolic link
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise TunerError(f"{path}: is a directory, not a file", hint=f"give a file name for {what}")
    if info is not None and stat.S_ISSOCK(info.st_mode):
        raise TunerError(f"{path}: is a socket; cannot write {what} to it")
    if info is not None and not stat.S_ISREG(info.st_mode):
        # A device, FIFO or terminal (also behind a link, e.g. /dev/stdout): write into it, never replace it.
        _write_through(path, payload)
        return path
    target = path
    if path.is_symlink():
        # Followed on purpose (like `>`): the user pointed at the link, they mean the file behind it.
        target = Path(os.path.realpath(path))
        if not target.parent.is_dir():
            raise TunerError(f"{path}: a symbolic link to {target}, whose folder does not exist",
                             hint="fix the link or choose another file")
    if info is not None and not overwrite:
        raise TunerError(f"{path}: already exists", hint=hint or "choose another file")
    if info is not None and not os.access(target, os.W_OK):
        raise TunerError(f"{path}: cannot write {what} (the file is read-only)",
                         hint="change its permissions or choose another file")
    if info is not None and (info.st_uid != os.geteuid() or info.st_nlink > 1):
        _write_in_place(target, payload)
        return path
    target.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(target, payload, None if info is None else stat.S_IMODE(info.st_mode))
    return path


def _write_through(target: Path, payload: bytes) -> None:
    # No O_TRUNC games: opening a device or FIFO for writing is what `>` does; a FIFO blocks for a reader.
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_NOCTTY", 0))
    try:
        _write_all(fd, payload)
    finally:
        os.close(fd)


def _write_in_place(target: Path, payload: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC)
    try:
        _write_all(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _replace_atomically(target: Path, payload: bytes, mode: int | None) -> None:
    # Created with 0o666 so the umask applies as for any new file; an existing file's mode is kept.
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name next to {target}")
    try:
        _write_all(fd, payload)
        if mode is not None:
            os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
