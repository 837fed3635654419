"""Read a run's training metrics from Trackio: its local SQLite (read-only) or its Space.

Local: `$TRACKIO_DIR/{project}.db` (else `$HF_HOME/trackio`), opened with a `mode=ro` URI, so the
training process (which holds WAL mode and an fcntl lock for writing) is never disturbed. Polled
incrementally by `metrics.id`. Payloads are orjson BLOBs; NaN/Infinity are stored as strings. Runs are
keyed by `run_id` since schema 2; older DBs only have `run_name`. The x axis is `train/global_step`
when present (Trackio's own `step` is a log counter), else `step`.

Remote (the run logs to a Space / server): through trackio's own `RemoteClient` (`/get_logs`), imported
lazily, because the local DB of a Space-mode run holds only unsent fallback rows.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safe_json
from core.errors import TunerError
from core.extras import require_extra
from core.redact import redact

CURVE_KEYS = ("train/loss", "train/learning_rate", "eval/loss")
_NOT_METRICS = frozenset({"step", "timestamp", "time", "run", "project", "train/global_step"})
"""Keys the remote `/get_logs` rows carry besides the metrics (Trackio's own counter, the wall time)."""
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def trackio_dir() -> Path:
    if explicit := os.environ.get("TRACKIO_DIR"):
        return Path(explicit)
    hf_home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(hf_home) / "trackio"


def project_db(project: str) -> Path:
    canonical = re.sub(r"[^A-Za-z0-9_-]", "", project)
    return trackio_dir() / f"{canonical}.db"


@dataclass
class RunMetrics:
    project: str
    run: str
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """metric name → [(x, value)], x = train/global_step or step."""
    last_id: int = 0
    source: str = "local"

    def latest(self, name: str) -> float | None:
        values = self.series.get(name)
        return values[-1][1] if values else None

    def latest_step(self) -> int | None:
        xs = [pts[-1][0] for pts in self.series.values() if pts]
        return int(max(xs)) if xs else None

    def add(self, row: dict[str, Any], step: Any) -> None:
        x = row.get("train/global_step", step)
        try:
            xf = float(x)
        except (TypeError, ValueError):
            return
        for name, value in row.items():
            value = _SPECIAL.get(value, value) if isinstance(value, str) else value
            if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in _NOT_METRICS:
                self.series.setdefault(name, []).append((xf, float(value)))


def _decode(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    try:  # a row a training job wrote: nesting or a huge number skips the row, never crashes the monitor
        value = safe_json.loads(payload, source="trackio row") if isinstance(payload, (str, bytes)) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class TrackioLocalReader:
    """Incremental, read-only reader of one run in a local Trackio project DB."""

    def __init__(self, project: str, run: str | None = None, *, db_path: Path | None = None) -> None:
        self.project = project
        self.run = run
        self.path = db_path or project_db(project)
        self.metrics = RunMetrics(project, run or "")
        self._run_id: str | None = None

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise TunerError(f"no Trackio project {self.project!r} at {self.path}",
                             hint="the run logs elsewhere (TRACKIO_DIR) or to a Space")
        if not self.path.is_file():  # SQLite would wait forever on a FIFO (it retries the open)
            raise TunerError(f"Trackio DB {self.path}: not a regular file")
        # mode=ro: never write, never create. WAL readers still need the -shm file, which the writer made.
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        conn.execute("PRAGMA query_only = 1")
        return conn

    def runs(self) -> list[dict[str, Any]]:
        try:
            with _closing(self._connect()) as conn:
                has_run_id = _has_column(conn, "metrics", "run_id")
                key = "run_id, run_name" if has_run_id else "run_name, run_name"
                rows = conn.execute(f"SELECT {key}, MIN(timestamp), MAX(timestamp), COUNT(*) FROM metrics "
                                    f"GROUP BY {key.split(',')[0]} ORDER BY MIN(id)").fetchall()
        except sqlite3.Error as exc:  # not a Trackio DB (garbage, cut off, another program's)
            raise TunerError(f"Trackio DB {self.path.name}: {redact(str(exc))}") from None
        return [{"run_id": r[0], "run": r[1], "first": r[2], "last": r[3], "rows": r[4]} for r in rows]

    def remote_space(self) -> str | None:
        """The Space this project syncs to (then the local DB holds only unsent rows)."""
        try:
            with _closing(self._connect()) as conn:
                row = conn.execute("SELECT value FROM project_metadata WHERE key = 'space_id'").fetchone()
        except sqlite3.Error:
            return None
        return str(row[0]) if row and row[0] else None

    def poll(self) -> RunMetrics:
        """New rows since the last poll (the whole run on the first call)."""
        try:
            with _closing(self._connect()) as conn:
                has_run_id = _has_column(conn, "metrics", "run_id")
                if has_run_id and self._run_id is None:
                    self._run_id = self._pick_run_id(conn)
                    if self._run_id is None:
                        return self.metrics
                if has_run_id:
                    rows = conn.execute("SELECT id, step, metrics FROM metrics WHERE run_id = ? AND id > ? ORDER BY id",
                                        (self._run_id, self.metrics.last_id)).fetchall()
                else:
                    rows = conn.execute("SELECT id, step, metrics FROM metrics WHERE run_name = ? AND id > ? "
                                        "ORDER BY id", (self.run, self.metrics.last_id)).fetchall()
        except sqlite3.Error as exc:
            raise TunerError(f"Trackio DB {self.path.name}: {redact(str(exc))}") from None
        for row_id, step, payload in rows:
            self.metrics.add(_decode(payload), step)
            self.metrics.last_id = max(self.metrics.last_id, int(row_id))
        return self.metrics

    def _pick_run_id(self, conn: sqlite3.Connection) -> str | None:
        # Several runs may share a name (trackio ≥0.24): follow the newest one.
        if self.run:
            row = conn.execute("SELECT run_id FROM metrics WHERE run_name = ? ORDER BY id DESC LIMIT 1",
                               (self.run,)).fetchone()
        else:
            row = conn.execute("SELECT run_id, run_name FROM metrics ORDER BY id DESC LIMIT 1").fetchone()
            if row:
                self.run = self.metrics.run = row[1]
        return row[0] if row else None


class TrackioRemoteReader:
    """A run on a Trackio Space or server, through trackio's RemoteClient (needs `trackio` installed)."""

    def __init__(self, space: str, project: str, run: str) -> None:
        self.space, self.project, self.run = space, project, run
        self._client: Any = None

    def poll(self) -> RunMetrics:
        require_extra("trackio", feature="reading a remote Trackio run")
        try:
            if self._client is None:
                from trackio.remote_client import RemoteClient

                from core.jobs.jobs_source import read_token

                self._client = RemoteClient(self.space, hf_token=read_token())
            logs = self._client.predict(self.project, self.run, api_name="/get_logs")
        except Exception as exc:
            raise TunerError(f"Trackio {self.space}: {type(exc).__name__}: {redact(str(exc))[:150]}") from None
        metrics = RunMetrics(self.project, self.run, source="remote")
        for row in logs or []:
            if isinstance(row, dict):
                metrics.add(row, row.get("step"))
        return metrics


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


class _closing:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
