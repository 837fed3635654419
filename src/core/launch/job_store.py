"""Read and write launched jobs in the shared store (`jobs` table of `core.store`).

Every launch, whatever the backend, leaves one row: backend, config (no secrets), the generated
script, the command, ids, timestamps and status. Status strings are the HF Jobs stages (SCHEDULING,
RUNNING, COMPLETED, ERROR, CANCELED) so the monitor treats every backend alike.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.redact import redact
from core.store import Store, get_json, put_json

TERMINAL = frozenset({"COMPLETED", "ERROR", "CANCELED", "DELETED"})


@dataclass
class JobRecord:
    id: str
    backend: str
    name: str
    status: str
    created_at: float = 0.0
    updated_at: float = 0.0
    remote_id: str | None = None
    namespace: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    script: str = ""
    command: str = ""
    log_path: str | None = None
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


def new_local_id(now: datetime | None = None) -> str:
    """`local-YYYYmmdd-HHMMSS-xxxx` (contract C)."""
    return f"local-{(now or datetime.now(UTC)).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def insert_job(record: JobRecord, store: Store | None = None) -> JobRecord:
    store = store or Store()
    now = Store.now()
    record.created_at = record.created_at or now
    record.updated_at = now
    with store.connect() as conn:
        conn.execute(
            "INSERT INTO jobs (id, backend, name, status, created_at, updated_at, remote_id, namespace, "
            "config_json, script, command, log_path, pid, extra_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (record.id, record.backend, record.name, record.status, record.created_at, record.updated_at,
             record.remote_id, record.namespace, put_json(record.config), redact(record.script),
             redact(record.command), record.log_path, record.pid, put_json(record.extra)),
        )
    return record


def get_job(job_id: str, store: Store | None = None) -> JobRecord | None:
    store = store or Store()
    with store.connect() as conn:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return _record(row) if row else None


def list_jobs(store: Store | None = None, *, backend: str | None = None, limit: int = 200) -> list[JobRecord]:
    store = store or Store()
    query, args = "SELECT * FROM jobs", []
    if backend:
        query, args = query + " WHERE backend = ?", [backend]
    with store.connect() as conn:
        rows = conn.execute(query + " ORDER BY created_at DESC LIMIT ?", (*args, limit)).fetchall()
    return [_record(r) for r in rows]


def update_job(job_id: str, store: Store | None = None, *, status: str | None = None, pid: int | None = None,
               log_path: str | None = None, **extra: Any) -> None:
    """Change a row's status/pid/log path and merge keys into its `extra_json`, atomically."""
    store = store or Store()
    with store.connect() as conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT extra_json FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return
        merged = {**get_json(row["extra_json"]), **extra}
        sets, args = ["updated_at = ?", "extra_json = ?"], [Store.now(), put_json(merged)]
        if status is not None:
            sets.append("status = ?")
            args.append(status)
        if pid is not None:
            sets.append("pid = ?")
            args.append(pid)
        if log_path is not None:
            sets.append("log_path = ?")
            args.append(log_path)
        conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row["id"], backend=row["backend"], name=row["name"], status=row["status"],
        created_at=row["created_at"], updated_at=row["updated_at"], remote_id=row["remote_id"],
        namespace=row["namespace"], config=get_json(row["config_json"]), script=row["script"],
        command=row["command"], log_path=row["log_path"], pid=row["pid"], extra=get_json(row["extra_json"]),
    )
