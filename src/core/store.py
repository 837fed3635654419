"""The embedded SQLite store for state that must survive: launched jobs, conversions, eval runs.

One file under the user's data dir, WAL mode so the TUI and a CLI in another shell can read and
write at once. Rows keep their structured payloads as JSON text; each area has its own repository
module on top of these tables (e.g. `core.launch.job_store`). Tokens never reach this file: callers
store secret *names* only, and `put_json` redacts as a last line of defence.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import paths
from core.redact import redact

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id          TEXT PRIMARY KEY,   -- tui-tuner's own id (local jobs) or the HF job id
    backend     TEXT NOT NULL,      -- 'hf-jobs' | 'local' | 'mlx'
    name        TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    remote_id   TEXT,
    namespace   TEXT,
    config_json TEXT NOT NULL DEFAULT '{}',
    script      TEXT NOT NULL DEFAULT '',
    command     TEXT NOT NULL DEFAULT '',
    log_path    TEXT,
    pid         INTEGER,
    extra_json  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS conversions (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    output_dir  TEXT NOT NULL,
    spec_json   TEXT NOT NULL DEFAULT '{}',
    steps_json  TEXT NOT NULL DEFAULT '{}',
    extra_json  TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS eval_runs (
    id           TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    results_dir  TEXT NOT NULL,
    spec_json    TEXT NOT NULL DEFAULT '{}',
    summary_json TEXT NOT NULL DEFAULT '{}'
);
"""


def put_json(value: Any) -> str:
    """Serialise a payload for a JSON column, with tokens masked."""
    return redact(json.dumps(value, sort_keys=True, default=str))


def get_json(text: str | None) -> Any:
    return json.loads(text) if text else {}


class Store:
    """A thin handle on the SQLite file; open short-lived connections with `connect()`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.store_file()
        paths.ensure(self.path.parent)
        with self.connect() as conn:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            yield conn
            conn.commit()
        finally:
            conn.close()

    @staticmethod
    def now() -> float:
        return time.time()
