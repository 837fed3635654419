"""Monitor test fixtures: seeded jobs on the fake Hub, launcher-shaped store rows."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from core.store import Store


def store_job(store: Store, *, job_id: str, backend: str = "hf-jobs", name: str = "sft", status: str = "RUNNING",
              namespace: str | None = "tester", log_path: str | None = None, pid: int | None = None,
              extra: dict[str, Any] | None = None, command: str = "", created_at: float | None = None) -> None:
    """A jobs-table row exactly as contract C describes the launcher writing it."""
    now = time.time() if created_at is None else created_at
    with store.connect() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO jobs (id, backend, name, status, created_at, updated_at, remote_id, namespace, "
            "config_json, script, command, log_path, pid, extra_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (job_id, backend, name, status, now, now, job_id if backend == "hf-jobs" else None,
             namespace if backend == "hf-jobs" else None, "{}", "", command, log_path, pid,
             json.dumps(extra or {})),
        )


@pytest.fixture
def store() -> Store:
    return Store()
