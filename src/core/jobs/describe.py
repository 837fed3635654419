"""What the jobs screen says about a job, as text: the Describe panel and the stream status line.

Kept out of the screen so the CLI, tests and the TUI agree, and so no raw value (an epoch float, a stage
the stream does not know about) reaches the user.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from core.jobs.model import JobRow, format_cost, format_duration, is_terminal
from core.redact import redact

_TIME_KEYS = ("created_at", "started_at", "finished_at")
_SKIP = {"extra", "labels", "age_s", "duration_s", "cost_usd", *_TIME_KEYS}


def format_when(epoch: float | None, now: float | None = None) -> str:
    """`2026-05-12 14:58:25 UTC (3h04m ago)`; `-` when unknown."""
    if epoch is None:
        return "-"
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    ago = now - epoch
    return f"{stamp} ({format_duration(ago)} ago)" if ago >= 0 else stamp


def describe_lines(row: JobRow, now: float | None = None) -> list[str]:
    """`key  value` lines for the Describe panel: times as dates, durations and cost formatted."""
    now = time.time() if now is None else now
    lines = [f"{'stage':15} {row.stage}" + (f" — {row.message}" if row.message else "")]
    for key in _TIME_KEYS:
        value = getattr(row, key)
        if value is not None:
            lines.append(f"{key.replace('_at', ''):15} {format_when(value, now)}")
    lines.append(f"{'age':15} {format_duration(row.age(now))}")
    lines.append(f"{'duration':15} {format_duration(row.duration(now))}" + ("" if row.is_terminal or row.backend
                                                                           != "hf-jobs" else " so far"))
    if (cost := row.cost(now)) is not None:
        lines.append(f"{'cost':15} {format_cost(cost)}")
    data: dict[str, Any] = row.to_dict(now)
    for key, value in data.items():
        if key in _SKIP or key in ("stage", "message") or value in (None, "", {}):
            continue
        lines.append(f"{key:15} {value}")
    if row.labels:
        lines.append(f"{'labels':15} " + ", ".join(f"{k}={v}" for k, v in row.labels.items()))
    if row.extra:
        lines.append(f"{'launch':15} " + json.dumps(row.extra, sort_keys=True, default=str))
    return [redact(line) for line in lines]


_NOTICE_TEXT = {
    "disconnected": "stream ended, checking the job",
    "finished": "log complete ({detail})",
    "incomplete": "log may be incomplete: {detail}",
    "retrying": "reconnecting ({detail})",
    "error": "log stream failed: {detail}",
}


def stream_state_text(kind: str, detail: str, reconnects: int, stage: str) -> str:
    """The log stream's status line. A connected stream of a job that has not started is waiting, not
    streaming: SCHEDULING jobs have no log yet."""
    if kind == "connected":
        if stage.upper() == "SCHEDULING":
            text = "waiting for the job to start (SCHEDULING)"
        elif is_terminal(stage):
            text = f"reading the log ({stage.upper()})"
        else:
            text = "streaming"
    else:
        text = _NOTICE_TEXT.get(kind, kind).format(detail=detail)
    if reconnects:
        text += f" · {reconnects} reconnects"
    return text
