"""Conversions in the store's `conversions` table: one row per run, updated as steps finish."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
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
    return [ConversionRecord(r["id"], r["status"], r["created_at"], r["updated_at"], r["output_dir"],
                             get_json(r["spec_json"]), get_json(r["steps_json"]), get_json(r["extra_json"]))
            for r in rows]


def get_record(store: Store, run_id: str) -> ConversionRecord | None:
    return next((r for r in list_records(store, 10_000) if r.id == run_id), None)
