"""Conversions in the store's `conversions` table: one row per run, updated as steps finish.

A run killed by a signal it cannot catch (SIGKILL, the OOM killer, a power cut) leaves its row
"running". Each row records its owner (pid, process start time, host), so reading the table turns a
"running" row whose owner is gone into "interrupted", with the command that resumes it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.store import Store, get_json, put_json


def new_run_id() -> str:
    return time.strftime("conv-%Y%m%d-%H%M%S-", time.gmtime()) + os.urandom(2).hex()


@dataclass
class ConversionRecord:
    id: str
    status: str
    created_at: float
    updated_at: float
    output_dir: str
    spec: dict[str, Any]
    steps: dict[str, Any]
    extra: dict[str, Any]


def start_record(store: Store, run_id: str, output_dir: str, spec: dict[str, Any], extra: dict[str, Any]) -> None:
    now = store.now()
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO conversions (id, status, created_at, updated_at, output_dir, spec_json, steps_json, extra_json)"
            " VALUES (?, 'running', ?, ?, ?, ?, '{}', ?)",
            (run_id, now, now, output_dir, put_json(spec), put_json(extra)))


def update_record(store: Store, run_id: str, *, status: str | None = None, steps: dict[str, Any] | None = None,
                  extra: dict[str, Any] | None = None) -> None:
    sets, values = ["updated_at = ?"], [store.now()]
    if status is not None:
        sets.append("status = ?")
        values.append(status)
    if steps is not None:
        sets.append("steps_json = ?")
        values.append(put_json(steps))
    if extra is not None:
        sets.append("extra_json = ?")
        values.append(put_json(extra))
    with store.connect() as conn:
        conn.execute(f"UPDATE conversions SET {', '.join(sets)} WHERE id = ?", (*values, run_id))


def list_records(store: Store, limit: int = 50) -> list[ConversionRecord]:
    with store.connect() as conn:
        rows = conn.execute("SELECT * FROM conversions ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
    records = [ConversionRecord(r["id"], r["status"], r["created_at"], r["updated_at"], r["output_dir"],
                                get_json(r["spec_json"]), get_json(r["steps_json"]), get_json(r["extra_json"]))
               for r in rows]
    for record in records:
        if record.status == "running":
            reason = stale_reason(record)
            if reason:
                mark_interrupted(store, record, reason)
    return records


def stale_reason(record: ConversionRecord) -> str | None:
    """Why a "running" record cannot be running any more (None: it may well be)."""
    import socket

    from core.folder_lock import lock_holder
    from core.process_tree import is_running

    owner = record.extra.get("owner") if isinstance(record.extra, dict) else None
    if isinstance(owner, dict) and owner.get("pid"):
        if owner.get("host") and owner["host"] != socket.gethostname():
            return None  # another machine's process: nothing here can tell
        if is_running(int(owner["pid"]), owner.get("start")):
            return None
        return f"its process (pid {owner['pid']}) is gone"
    # Rows written before owners were recorded: a live conversion holds its output folder's lock.
    if lock_holder(Path(record.output_dir)) is None:
        return "no process holds its output folder"
    return None


def resume_command(record: ConversionRecord) -> str:
    """The command that resumes `record` (recorded by the run; rebuilt from its spec for older rows)."""
    recorded = record.extra.get("resume_command") if isinstance(record.extra, dict) else None
    if recorded:
        return str(recorded)
    from dataclasses import fields

    from core.convert.pipeline import ConvertSpec

    known = {f.name for f in fields(ConvertSpec)} - {"python"}
    values = {k: v for k, v in (record.spec or {}).items() if k in known}
    values["output_dir"] = Path(record.output_dir)
    values["quant_types"] = tuple(values.get("quant_types") or ())
    try:
        return ConvertSpec(**values).command_line()
    except TypeError:
        return f"tui-tuner convert --output-dir {record.output_dir} ..."


def mark_interrupted(store: Store, record: ConversionRecord, reason: str) -> None:
    """Turn a stale "running" row into "interrupted" (only if it is still "running": no lost update)."""
    command = resume_command(record)
    extra = {**(record.extra if isinstance(record.extra, dict) else {}), "resume_command": command,
             "interrupted": {"at": store.now(), "reason": reason}}
    with store.connect() as conn:
        changed = conn.execute("UPDATE conversions SET status = 'interrupted', updated_at = ?, extra_json = ? "
                               "WHERE id = ? AND status = 'running'",
                               (store.now(), put_json(extra), record.id)).rowcount
    if changed:
        record.status = "interrupted"
        record.extra = extra


def get_record(store: Store, run_id: str) -> ConversionRecord | None:
    return next((r for r in list_records(store, 10_000) if r.id == run_id), None)
