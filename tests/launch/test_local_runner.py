"""The detached supervisor with small commands: redacted logs, exit status, timeout, cancel."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from core import paths
from core.launch.backends import local
from core.launch.job_store import JobRecord, get_job, insert_job, new_local_id, update_job
from tests.conftest import CANARY_TOKEN, assert_no_canary


def start(code: str, *, timeout_s: float = 60) -> JobRecord:
    job_id = new_local_id()
    log = paths.ensure(paths.logs_dir()) / f"{job_id}.log"
    insert_job(JobRecord(id=job_id, backend="local", name="t", status="SCHEDULING", log_path=str(log),
                         extra={"argv": [sys.executable, "-c", code], "timeout_s": timeout_s,
                                "env": {"TUI_TUNER_RUN_NAME": "t"}}))
    update_job(job_id, pid=local.start_supervisor(job_id, log))
    return get_job(job_id)  # type: ignore[return-value]


def test_output_is_logged_with_tokens_masked_and_status_recorded() -> None:
    job = start("import os,sys; print('token', os.environ['HF_TOKEN']); print('run', os.environ['TUI_TUNER_RUN_NAME']);"
                "sys.stdout.write('progress 1\\rprogress 2\\r'); sys.stdout.flush()")
    done = local.wait(job.id, timeout_s=60, poll_s=0.2)
    text = Path(done.log_path or "").read_text()
    assert done.status == "COMPLETED" and done.extra["exit_code"] == 0
    assert "token ***" in text and "run t" in text and "progress 2" in text
    assert "===== Job started at" in text and "(COMPLETED)" in text
    assert_no_canary(text)
    assert CANARY_TOKEN not in str(done)


def test_failure_is_error_with_exit_code() -> None:
    done = local.wait(start("import sys; print('boom'); sys.exit(3)").id, timeout_s=60, poll_s=0.2)
    assert done.status == "ERROR" and done.extra["exit_code"] == 3 and done.extra["message"] == "exit code 3"


def test_timeout_stops_the_job_like_hf_jobs() -> None:
    done = local.wait(start("import time; time.sleep(60)", timeout_s=1).id, timeout_s=60, poll_s=0.2)
    assert done.status == "ERROR" and done.extra["message"] == "Job timeout"


def test_cancel_and_reconcile() -> None:
    job = start("import time; print('up', flush=True); time.sleep(60)")
    for _ in range(100):
        if (get_job(job.id) or job).status == "RUNNING":
            break
        time.sleep(0.1)
    assert local.cancel(job.id).status == "CANCELED"
    deadline = time.time() + 30
    while local.is_alive(get_job(job.id)) and time.time() < deadline:  # type: ignore[arg-type]
        time.sleep(0.1)
    assert not local.is_alive(get_job(job.id))  # type: ignore[arg-type]
    final = get_job(job.id)
    assert final is not None and final.status == "CANCELED"
    assert "(CANCELED)" in Path(final.log_path or "").read_text()
    # A RUNNING row whose supervisor vanished is reconciled to ERROR.
    update_job(job.id, status="RUNNING")
    assert local.reconcile(get_job(job.id)).status == "ERROR"  # type: ignore[arg-type]
