"""Jobs the launcher recorded in the store (`jobs` table, contract C): local runs and HF jobs' extras.

Local/mlx rows are complete in themselves: `pid` is the process group of the detached supervisor,
`log_path` the full log, `status` updated by the supervisor on exit. A row still RUNNING whose process
group is gone (machine rebooted, supervisor killed -9) is shown as LOST rather than running forever.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

from core.errors import TunerError
from core.jobs.log_follow import pid_alive
from core.jobs.model import JobRow, is_terminal
from core.store import Store, get_json

LOST_STAGE = "LOST"


def _row_from_store(r: sqlite3.Row) -> JobRow:
    extra = get_json(r["extra_json"]) or {}
    config = get_json(r["config_json"]) or {}
    backend = str(r["backend"])
    stage = str(r["status"] or "UNKNOWN").upper()
    pid = r["pid"]
    if backend != "hf-jobs" and not is_terminal(stage) and stage != LOST_STAGE and pid and not pid_alive(pid):
        stage = LOST_STAGE
    flavor = extra.get("flavor")
    if not flavor and backend == "hf-jobs" and isinstance(config, dict):
        flavor = config.get("flavor")  # a local/MLX job never ran on the config's HF flavor
    finished = extra.get("finished_at")
    return JobRow(
        id=str(r["id"]),
        backend=backend,
        name=str(r["name"]),
        stage=stage,
        namespace=r["namespace"],
        message="process gone without recording its exit" if stage == LOST_STAGE else (
            str(extra["message"]) if isinstance(extra, dict) and extra.get("message") else None),
        flavor=flavor,
        created_at=float(r["created_at"]),
        started_at=float(r["created_at"]) if backend != "hf-jobs" else None,
        finished_at=float(finished) if isinstance(finished, (int, float)) else (
            float(r["updated_at"]) if backend != "hf-jobs" and is_terminal(stage) else None),
        command=str(r["command"] or ""),
        log_path=r["log_path"],
        pid=pid,
        extra=extra if isinstance(extra, dict) else {},
        in_store=True,
    )


def stored_jobs(store: Store | None = None, *, limit: int = 500) -> list[JobRow]:
    """Every job the launcher recorded, newest first."""
    store = store or Store()
    try:
        with store.connect() as conn:
            rows = conn.execute("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
    except sqlite3.Error as exc:
        raise TunerError(f"job store {store.path}: {exc}") from None
    return [_row_from_store(r) for r in rows]


def stored_job(job_id: str, store: Store | None = None) -> JobRow | None:
    store = store or Store()
    with store.connect() as conn:
        r = conn.execute("SELECT * FROM jobs WHERE id = ? OR remote_id = ?", (job_id, job_id)).fetchone()
    return _row_from_store(r) if r else None


def merge_rows(hub_rows: list[JobRow], stored: list[JobRow]) -> list[JobRow]:
    """Hub rows (live stage) enriched with what the launcher stored; local rows as they are; newest first."""
    by_id = {row.id: row for row in stored if row.backend == "hf-jobs"}
    merged: list[JobRow] = []
    seen: set[str] = set()
    for row in hub_rows:
        if (mine := by_id.get(row.id)) is not None:
            row.extra = {**mine.extra, **row.extra}
            row.in_store = True
            row.name = row.name if row.name and row.name != row.id[:12] else mine.name
        merged.append(row)
        seen.add(row.key)
    for row in stored:
        if row.key not in seen:
            merged.append(row)
    merged.sort(key=lambda r: r.created_at or 0.0, reverse=True)
    return merged


def cancel_local(row: JobRow) -> None:
    """Stop a local job: SIGTERM to its whole process group (the supervisor then records CANCELED).

    When the launcher is installed its cancel also records the status at once (and covers a supervisor
    that died without writing it).
    """
    if row.is_terminal:
        raise TunerError(f"job {row.id} already ended ({row.stage})")
    if row.pid and pid_alive(row.pid):
        try:
            os.killpg(row.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise TunerError(f"job {row.id}: not allowed to signal process group {row.pid}") from None
    elif not row.pid:
        raise TunerError(f"job {row.id} has no process recorded")
    try:
        from core.launch.backends.local import cancel as record_cancel
    except ImportError:
        return
    record_cancel(row.id)


def local_log_path(row: JobRow) -> Path:
    if not row.log_path:
        raise TunerError(f"job {row.id} has no log file recorded")
    return Path(row.log_path)


def as_dict(rows: list[JobRow], now: float | None = None) -> list[dict[str, Any]]:
    return [row.to_dict(now) for row in rows]
