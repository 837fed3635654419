"""The CLI's safety net: an unexpected exception is a bug, reported as one line with a log file.

`tui-tuner` never ends in a traceback on the terminal and never exits 0 after a crash: the user sees
`error: internal error: <type>: <message> (details in <log file>)` and exit code 1; the redacted
traceback, with the command line, is in a file under the logs folder (`tui-tuner locate logs`).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence

from core import paths
from core.redact import redact
from tui_tuner.output import emit_json_line

MAX_MESSAGE_CHARS = 300


def write_crash_log(exc: BaseException, argv: Sequence[str] | None) -> str:
    """Write the redacted traceback to a new file under the logs folder; say where (or why not)."""
    command = " ".join(["tui-tuner", *(sys.argv[1:] if argv is None else argv)])
    details = redact(f"{command}\n\n{''.join(traceback.format_exception(exc))}")
    try:
        log = paths.ensure(paths.logs_dir()) / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        log.write_text(details, encoding="utf-8")
    except OSError as write_error:
        return f"no details saved: {write_error.strerror or write_error}"
    return f"details in {log}"


def internal_error_line(exc: BaseException, argv: Sequence[str] | None) -> str:
    """`internal error: <type>: <message> (details in <log>)`, redacted; writes the crash log."""
    message = " ".join(str(exc).split())[:MAX_MESSAGE_CHARS]
    return redact(f"internal error: {type(exc).__name__}: {message} ({write_crash_log(exc, argv)})")


def report_internal_error(exc: BaseException, argv: Sequence[str] | None, *, json_mode: bool) -> int:
    """Print the one line (a JSON line with --json) on stderr and return the exit code, 1."""
    line = internal_error_line(exc, argv)
    if json_mode:
        emit_json_line({"error": line, "field": None}, sys.stderr)
    else:
        print(f"error: {line}", file=sys.stderr)
    return 1
