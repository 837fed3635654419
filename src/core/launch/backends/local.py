"""Run a job on this machine, detached: the "Cloud GPU over SSH" case (CPU when there is no GPU).

The launcher writes the job row first, then starts `python -m core.launch.local_runner <job_id>` in a
new session, so the job survives the TUI (or the SSH session) closing. The row's `pid` is that
session's process-group id; cancel sends SIGTERM to the whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.errors import TunerError
from core.launch.job_store import JobRecord, get_job, update_job


def start_supervisor(job_id: str, log_path: Path) -> int:
    """Start the detached supervisor for a stored job; return its process-group id."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # The supervisor must import `core` exactly as this process does (source checkout or install).
    src_root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src_root, env.get("PYTHONPATH", "")) if p)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.launch.local_runner", job_id],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, env=env,
        )
    return proc.pid  # == its process-group id (new session)


def is_alive(job: JobRecord) -> bool:
    """Whether the job's supervisor is still running (and is ours, not a recycled pid)."""
    if not job.pid:
        return False
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    cmdline = Path(f"/proc/{job.pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return True
        return "core.launch.local_runner" in text and job.id in text
    return True


def reconcile(job: JobRecord) -> JobRecord:
    """A RUNNING/SCHEDULING row whose supervisor is gone (machine rebooted, kill -9) becomes ERROR."""
    if job.is_terminal or is_alive(job):
        return job
    if not job.pid and time.time() - job.created_at < 60:
        return job  # just inserted; the supervisor is being started
    fresh = get_job(job.id)
    if fresh is None or fresh.is_terminal:
        return fresh or job
    # The supervisor died without cleaning up (kill -9, OOM killer): end the training it left running.
    from core.process_tree import children_dir, reap_stale

    folder = job.extra.get("workdir") or (str(Path(job.log_path).parent) if job.log_path else None)
    reaped = reap_stale(children_dir(Path(folder))) if folder else []
    message = "supervisor disappeared" + ("; its job's processes were stopped" if reaped else "")
    update_job(job.id, status="ERROR", finished_at=time.time(), message=message)
    return get_job(job.id) or job


def cancel(job_id: str) -> JobRecord:
    job = get_job(job_id)
    if job is None:
        raise TunerError(f"no job {job_id}", hint="see `tui-tuner jobs list`")
    if job.is_terminal:
        return job
    if job.pid and is_alive(job):
        try:
            os.killpg(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        except PermissionError:
            raise TunerError(f"not allowed to stop process group {job.pid}") from None
    update_job(job_id, status="CANCELED", finished_at=time.time(), message="Job canceled")
    return get_job(job_id) or job


def wait(job_id: str, timeout_s: float, poll_s: float = 1.0) -> JobRecord:
    """Block until the job is terminal (tests, `--wait`); raise TunerError on timeout."""
    deadline = time.time() + timeout_s
    while True:
        job = get_job(job_id)
        if job is None:
            raise TunerError(f"no job {job_id}")
        if job.is_terminal:
            return job
        job = reconcile(job)
        if job.is_terminal:
            return job
        if time.time() > deadline:
            raise TunerError(f"job {job_id} still {job.status} after {timeout_s:.0f}s")
        time.sleep(poll_s)
