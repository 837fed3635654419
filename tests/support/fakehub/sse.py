"""Server-Sent Events on the wire, as the Jobs API sends them (reference §6.1).

The body is HTTP/1.1 chunked: a clean end writes the terminating chunk; a *cut* stops mid-line and drops
the socket without it, which httpx reports as an incomplete chunked read (what a proxy drop looks like).
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

KEEP_ALIVE = b": keep-alive\n\n"


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def log_event(event: dict[str, str]) -> bytes:
    """`data: {"data":"<line>","timestamp":"…Z"}` + blank line."""
    return b"data: " + _compact(event) + b"\n\n"


def metric_event(sample: dict[str, Any]) -> bytes:
    """`event: metric` + `data: {…}` + blank line."""
    return b"event: metric\ndata: " + _compact(sample) + b"\n\n"


class ChunkedWriter:
    """Writes one HTTP chunk per call and flushes, so a follower sees each event as soon as it is sent."""

    def __init__(self, wfile: BinaryIO) -> None:
        self._wfile = wfile

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self._wfile.flush()

    def end(self) -> None:
        self._wfile.write(b"0\r\n\r\n")
        self._wfile.flush()
