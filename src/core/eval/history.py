"""Evaluation runs recorded in the store by `tui-tuner eval run`: the viewer's "recent runs" list."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from core.errors import TunerError


@dataclass(frozen=True)
class RecordedRun:
    results_dir: Path
    status: str

    @property
    def label(self) -> str:
        return f"{self.results_dir.name} ({self.status})"


def recent_runs(limit: int = 20) -> list[RecordedRun]:
    """The last `limit` runs, newest first; none when there is no store yet or it cannot be read (the
    list is a convenience: a broken store is reported where it matters, by the app's store check)."""
    from core.store import Store

    try:
        with Store().connect() as conn:
            rows = conn.execute("SELECT results_dir, status FROM eval_runs ORDER BY updated_at DESC LIMIT ?",
                                (limit,)).fetchall()
    except (sqlite3.Error, OSError, TunerError):
        return []
    return [RecordedRun(Path(row["results_dir"]), str(row["status"])) for row in rows if row["results_dir"]]
