"""Human and `--json` output for the CLI, with every byte passed through `core.redact`."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from core.redact import redact


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums and paths as plain JSON values (dataclasses may define `to_dict`)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(value: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def emit_json_line(value: Any, stream: TextIO | None = None) -> None:
    """One compact JSON object per line, for streamed output (`--json` with `-f`)."""
    stream = stream or sys.stdout
    stream.write(json.dumps(to_jsonable(value), separators=(",", ":")) + "\n")
    stream.flush()


class RedactingStream:
    """Wraps stdout/stderr so that no token can leave the CLI, whatever code printed it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
