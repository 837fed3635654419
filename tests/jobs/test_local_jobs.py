"""Local jobs from the store (contract C rows): a real detached process writing its log, followed live."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import paths
from core.jobs.job_list import JobList
from core.jobs.local_jobs import LOST_STAGE, stored_jobs
from core.jobs.log_follow import FileLogFollower, LogLine, PartialLine, pid_alive
from core.jobs.service import MonitorSession
from core.store import Store
from tests.jobs.conftest import store_job

pytestmark = pytest.mark.timeout(120)

# A stand-in supervisor: writes lines (with a \r progress bar and duplicate lines), then records its exit
# in the store like the launcher's supervisor does.
WRITER = textwrap.dedent("""
    import sqlite3, sys, time
    log_path, store_path, job_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(log_path, "a", buffering=1) as log:
        for i in range(n):
            log.write(f"line {i}\\n" if i % 4 else "same line\\n")
            if i % 50 == 0:
                log.write(f"\\r {i % 100}%|#   | {i}/{n} [00:01<00:02, 0.01s/it]")
                log.flush()
                time.sleep(0.05)
                log.write("\\n")
        log.write("done\\n")
    conn = sqlite3.connect(store_path)
    conn.execute("UPDATE jobs SET status='COMPLETED', updated_at=? WHERE id=?", (time.time(), job_id))
    conn.commit()
""")


def start_detached(log_path: Path, job_id: str, n: int) -> int:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(log_path), str(Store().path), job_id, str(n)],
                            start_new_session=True, stdin=subprocess.DEVNULL)
    return proc.pid


def test_follow_a_detached_local_process_to_the_end(store: Store) -> None:
    job_id = "local-20260101-000000-beef"
    log_path = paths.ensure(paths.logs_dir()) / f"{job_id}.log"
    log_path.write_text("")
    store_job(store, job_id=job_id, backend="local", name="cpu-run", log_path=str(log_path),
              extra={"expected_steps": 500})
    pid = start_detached(log_path, job_id, 500)
    with store.connect() as conn:
        conn.execute("UPDATE jobs SET pid=? WHERE id=?", (pid, job_id))

    session = MonitorSession(store=store)
    row = session.resolve(job_id)
    assert row.backend == "local" and row.stage == "RUNNING" and row.pid == pid
    events = list(session.log_follower(row, follow=True))
    lines = [e for e in events if isinstance(e, LogLine)]
    expected = [f"line {i}" if i % 4 else "same line" for i in range(500)]
    texts = [line.text.split("\r")[0] for line in lines]
    assert [t for t in texts if t != ""] == [*expected, "done"]
    assert [line.index for line in lines] == list(range(len(lines)))
    assert any(isinstance(e, PartialLine) and "/500" in e.text for e in events)  # live bar before its newline
    assert session.stage(row) == "COMPLETED"
    # Resume from a saved position (monitor restarted): nothing twice.
    again = [e for e in FileLogFollower(log_path, is_running=lambda: False, start_index=400) if isinstance(e, LogLine)]
    assert [e.index for e in again] == list(range(400, len(lines)))


def test_lost_supervisor_and_local_cancel(store: Store) -> None:
    store_job(store, job_id="local-20260101-000000-dead", backend="local", name="gone", pid=2**22 + 12345,
              log_path="/nonexistent.log")
    rows = {r.id: r for r in stored_jobs(store)}
    assert rows["local-20260101-000000-dead"].stage == LOST_STAGE

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    store_job(store, job_id="local-20260101-000000-cafe", backend="local", name="sleepy", pid=sleeper.pid,
              log_path=str(paths.logs_dir() / "x.log"))
    listing = JobList(None, store=store).refresh()
    sleepy = next(r for r in listing.rows if r.name == "sleepy")
    assert sleepy.stage == "RUNNING" and listing.path == "local only"
    MonitorSession(store=store).cancel(sleepy)
    sleeper.wait(10)
    assert sleeper.returncode == -signal.SIGTERM
    assert not pid_alive(sleeper.pid)
    assert next(r for r in stored_jobs(store) if r.name == "sleepy").stage == "CANCELED"  # recorded by the launcher


def test_a_local_job_never_shows_the_configs_hf_flavor(store: Store) -> None:
    # Stores written before the launcher recorded the hardware: the config's flavor (a default) is not
    # where a local job ran.
    store_job(store, job_id="local-20260101-000000-0001", backend="local", status="COMPLETED")
    with store.connect() as conn:
        conn.execute("UPDATE jobs SET config_json=? WHERE id=?", ('{"flavor": "a10g-large"}', "local-20260101-000000-0001"))
    store_job(store, job_id="local-20260101-000000-0002", backend="local", status="COMPLETED",
              extra={"flavor": "local cpu"})
    store_job(store, job_id="hf-1", extra={})
    with store.connect() as conn:
        conn.execute("UPDATE jobs SET config_json=? WHERE id=?", ('{"flavor": "l4x1"}', "hf-1"))
    flavors = {row.id: row.flavor for row in stored_jobs(store)}
    assert flavors == {"local-20260101-000000-0001": None, "local-20260101-000000-0002": "local cpu",
                       "hf-1": "l4x1"}
