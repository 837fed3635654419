"""The embedded SQLite store for state that must survive: launched jobs, conversions, eval runs.

One file under the user's data dir, WAL mode so the TUI and a CLI in another shell can read and
write at once. Rows keep their structured payloads as JSON text; each area has its own repository
module on top of these tables (e.g. `core.launch.job_store`). Tokens never reach this file: callers
store secret *names* only, and `put_json` redacts as a last line of defence.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import paths, safe_json
from core.errors import TunerError
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


APPLICATION_ID = 0x74547552
"""`PRAGMA application_id` of a tui-tuner store ("tTuR"): tells our file from another program's SQLite."""
TABLES = {"jobs", "conversions", "eval_runs"}
_REQUIRED_COLUMNS = {"jobs": {"id", "backend", "name", "status", "created_at", "updated_at"},
                     "conversions": {"id", "status", "created_at", "updated_at", "output_dir"},
                     "eval_runs": {"id", "status", "created_at", "updated_at", "results_dir"}}
_SIDE_FILES = ("-wal", "-shm", "-journal")
_CORRUPT_MESSAGES = ("file is not a database", "malformed", "file is encrypted", "not a database")


def put_json(value: Any) -> str:
    """Serialise a payload for a JSON column, with tokens masked."""
    return redact(json.dumps(value, sort_keys=True, default=str))


def get_json(text: str | None) -> Any:
    """A JSON column's payload; a damaged or hostile value reads as empty rather than failing the listing."""
    if not text:
        return {}
    try:
        return safe_json.loads(text, source="store")
    except safe_json.JsonInputError:
        return {}


class StoreError(TunerError):
    """The store file is not a tui-tuner store (garbage, truncated, a folder, another program's database).

    It is never deleted: `move_aside` renames it with a timestamp so a fresh store can take its place.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path} is not a tui-tuner store ({reason})", hint=MOVE_ASIDE_HINT)


MOVE_ASIDE_HINT = "move it aside with `tui-tuner store move-aside`: it is renamed with a timestamp, nothing is deleted"


class Store:
    """A thin handle on the SQLite file; open short-lived connections with `connect()`.

    Opening checks the file is ours; a broken one raises `StoreError` (one line, with the way out),
    never a `sqlite3` traceback.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _scratch_path or paths.store_file()
        _refuse_non_files(self.path)
        try:
            paths.ensure(self.path.parent)
        except OSError as exc:
            raise TunerError(f"cannot create {self.path.parent} for the store ({exc.strerror or exc})") from None
        _check_existing(self.path)
        with self.connect() as conn:
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from None
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
            yield conn
            conn.commit()
        except sqlite3.Error as exc:
            # Corruption shows up lazily (the first page read that hits it), so every statement is covered.
            translated = _translate(exc, self.path, strict=True)
            if translated is None:
                raise
            raise translated from None
        finally:
            conn.close()

    @staticmethod
    def now() -> float:
        return time.time()


def check_store(path: Path | None = None) -> StoreError | None:
    """The problem with the store file, or None when it is a tui-tuner store (or does not exist yet)."""
    try:
        Store(path)
    except StoreError as exc:
        return exc
    return None


def move_aside(path: Path | None = None, *, now: float | None = None) -> Path:
    """Rename the store (and its -wal/-shm/-journal files) to `<name>.broken-YYYYmmdd-HHMMSS`; never deletes.

    Returns the new name of the store file. A later `Store()` starts a fresh, empty store.
    """
    path = path or paths.store_file()
    if not os.path.lexists(path):
        raise TunerError(f"{path}: no store to move aside")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    try:
        os.rename(path, target)
        for suffix in _SIDE_FILES:
            side = path.with_name(path.name + suffix)
            if os.path.lexists(side):
                os.rename(side, target.with_name(target.name + suffix))
    except OSError as exc:
        raise TunerError(f"cannot move {path} aside ({exc.strerror or exc})") from None
    return target


_scratch_path: Path | None = None


def use_scratch_store(directory: Path) -> Path:
    """Point every `Store()` of this process at an empty store in `directory` (the TUI's way to stay up
    while the real store is broken: nothing is lasting, nothing is lost). `use_real_store` undoes it."""
    global _scratch_path
    _scratch_path = directory / "scratch.sqlite3"
    return _scratch_path


def use_real_store() -> None:
    global _scratch_path
    _scratch_path = None


def _refuse_non_files(path: Path) -> None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise StoreError(path, "a symlink to nothing") from None
        return
    except OSError as exc:
        raise StoreError(path, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(info.st_mode):
        raise StoreError(path, "a directory")
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(path, "not a regular file")


def _check_existing(path: Path) -> None:
    """Check an existing file read-only, before anything writes to it: opening it the usual way would turn
    another program's database to WAL mode, and it must stay exactly as it was."""
    if not path.exists():
        return
    info = path.stat()
    if info.st_size == 0:
        return  # a new store (SQLite treats an empty file as an empty database)
    key = (str(path.absolute()), info.st_size, info.st_mtime_ns)
    if key in _checked:
        return
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise _translate(exc, path) from None  # type: ignore[misc]
    try:
        _check_ours(conn, path)
        # Damage shows only when a query reads the page that holds it: without this check one command
        # would work and another fail on the same file. quick_check reads every page once (ms for a store).
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.Error as exc:
        raise _translate(exc, path) from None  # type: ignore[misc]
    finally:
        conn.close()
    if problems != ["ok"]:
        detail = "; ".join(" ".join(p.replace("*** in database main ***", "").split()) for p in problems)
        raise StoreError(path, f"damaged: {detail[:200]}")
    _checked.add(key)


_checked: set[tuple[str, int, int]] = set()
"""Store files found whole in this process (path, size, mtime): checked again only when they change."""


def _check_ours(conn: sqlite3.Connection, path: Path) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(path, f"a SQLite database of another program (application id {app_id:#x})")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
    if tables and not tables & TABLES:
        shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
        raise StoreError(path, f"a SQLite database of another program (tables {shown})")
    for table in tables & TABLES:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if not _REQUIRED_COLUMNS[table] <= columns:
            raise StoreError(path, f"its {table} table is not tui-tuner's")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise TunerError(f"{path} was written by a newer tui-tuner (store version {version}, this one reads "
                         f"{SCHEMA_VERSION})", hint="upgrade tui-tuner")


def _translate(exc: sqlite3.Error, path: Path, *, strict: bool = False) -> TunerError | None:
    """A sqlite3 error as one line; None (strict) for errors that are bugs of ours, not the file's."""
    message = " ".join(str(exc).split())
    lowered = message.lower()
    if type(exc) is sqlite3.DatabaseError or any(m in lowered for m in _CORRUPT_MESSAGES):
        return StoreError(path, message)
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in lowered or "busy" in lowered:
            return TunerError(f"the store {path} is busy ({message})",
                              hint="another tui-tuner holds it; try again in a moment")
        if "unable to open" in lowered or "disk i/o" in lowered or "readonly" in lowered or "full" in lowered:
            return TunerError(f"the store {path} cannot be used ({message})")
    return None if strict else TunerError(f"the store {path} cannot be used ({message})")
