"""Read JSON (and the text of any user file) that may be hostile, failing with one line.

`json.loads` recurses once per nesting level, so `'[' * 100000 + ']' * 100000` raises `RecursionError`,
and a result nested just under the interpreter's limit still breaks code that walks it recursively.
A path may also name a directory or a FIFO (opening a FIFO blocks until a writer comes), hold bytes that
are not UTF-8, or be far too large to be what it claims. Every JSON reader in the app goes through this
module: a size cap, a nesting cap, a regular-file check, and every failure as one `TunerError` line
that names the file. The error also is a `ValueError`, so callers that fall back on a bad file keep
doing so with `except ValueError`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from core.errors import TunerError

MAX_DEPTH = 200
"""Deepest nesting accepted. Real files (adapter configs, run.json, a conversation line) stay under 10."""
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Largest single JSON or text file read whole; larger files are refused instead of filling the RAM."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Largest single line of a JSONL file."""


class JsonInputError(TunerError, ValueError):
    """A file or text that is not the JSON we expect, as one line naming its source.

    `detail` is the reason alone (no source) and `lineno` the line of a syntax error, for callers that
    word their own message (e.g. `run.json:3: malformed JSON (Expecting value)`).
    """

    def __init__(self, message: str, *, hint: str | None = None, detail: str = "", lineno: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.detail = detail or message
        self.lineno = lineno


def _fail(label: str, detail: str) -> JsonInputError:
    return JsonInputError(f"{label}: {detail}", detail=detail)


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def read_bytes(path: Path | str, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, at most `max_bytes`; a directory, FIFO or device is refused without
    blocking, and every OS error becomes one line."""
    path = Path(path)
    label = what or str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _fail(label, "no such file") from None
    except IsADirectoryError:
        raise _fail(label, "is a directory, not a file") from None
    except PermissionError:
        raise _fail(label, "permission denied") from None
    except OSError as exc:
        raise _fail(label, f"cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(label, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(label, "not a regular file (a FIFO, socket or device)")
        if info.st_size > max_bytes:
            raise _fail(label, f"{_size_text(info.st_size)}, larger than the {_size_text(max_bytes)} "
                               "this file can be")
        chunks: list[bytes] = []
        total = 0
        while True:  # read to the end, not to st_size: the file may grow (or be a /proc file of size 0)
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise _fail(label, f"larger than the {_size_text(max_bytes)} this file can be")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise _fail(label, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, *, what: str) -> str:
    """UTF-8 text (a leading BOM is dropped), or one line that says where the first bad byte is."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        detail = f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        raise JsonInputError(f"{what}: {detail}", hint="save it as UTF-8", detail=detail) from None


def read_text(path: Path | str, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A user's text file (TOML, JSON, a prompt) as UTF-8, with the checks of `read_bytes`."""
    label = what or str(path)
    return decode_utf8(read_bytes(path, what=label, max_bytes=max_bytes), what=label)


def loads(data: str | bytes, *, source: str, max_depth: int = MAX_DEPTH, expect: type | None = None) -> Any:
    """`json.loads` that fails with one line naming `source`: bad syntax, nesting deeper than
    `max_depth`, bytes that are not UTF-8, or (with `expect`) a top-level value of another type."""
    if isinstance(data, (bytes, bytearray)):
        data = decode_utf8(bytes(data), what=source)
    too_deep = f"nested too deeply to be read (more than {max_depth} levels)"
    try:
        value = json.loads(data)
    except RecursionError:
        raise JsonInputError(f"{source}: {too_deep}", detail=too_deep) from None
    except json.JSONDecodeError as exc:
        raise JsonInputError(f"{source}: not valid JSON ({_reason(exc)})", detail=exc.msg, lineno=exc.lineno) from None
    except ValueError as exc:  # the int-digits limit of huge numbers
        raise JsonInputError(f"{source}: not valid JSON ({_reason(exc)})", detail=_reason(exc)) from None
    # Cheap test first: a value can only be nested as deep as it has brackets.
    if data.count("[") + data.count("{") > max_depth and depth_exceeds(value, max_depth):
        raise JsonInputError(f"{source}: {too_deep}", detail=too_deep)
    if expect is not None and not isinstance(value, expect):
        raise JsonInputError(f"{source}: not a JSON {_TYPE_NAMES.get(expect, expect.__name__)} "
                             f"(found {_TYPE_NAMES.get(type(value), type(value).__name__)})")
    return value


def load_file(path: Path | str, *, what: str | None = None, max_bytes: int = MAX_FILE_BYTES,
              max_depth: int = MAX_DEPTH, expect: type | None = None) -> Any:
    """Read and parse one JSON file with every check of `read_bytes` and `loads`."""
    label = what or str(path)
    return loads(read_bytes(path, what=label, max_bytes=max_bytes), source=label, max_depth=max_depth,
                 expect=expect)


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when `value` nests lists/dicts deeper than `limit` (level by level: no recursion of its own)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, (dict, list))]
    return False


_TYPE_NAMES: dict[type, str] = {dict: "object", list: "array", str: "string", int: "number", float: "number",
                                bool: "boolean", type(None): "null"}
"""JSON's names for Python's types, for messages."""


def _reason(exc: ValueError) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_LINE_BYTES", "JsonInputError", "decode_utf8", "depth_exceeds",
           "load_file", "loads", "read_bytes", "read_text"]
