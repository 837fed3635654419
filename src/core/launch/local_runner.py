"""The detached supervisor of a local (or MLX) job: `python -m core.launch.local_runner <job_id>`.

Started in its own session (process group) by the local backend, so it survives the TUI or the CLI
that launched it. It runs the job's command as a child in the same group, copies the child's output
to the job's log file with tokens masked, enforces the timeout like HF Jobs does ("Job timeout"), and
writes the final status (COMPLETED / ERROR / CANCELED), exit code and end time to the store. Cancel
is `os.killpg(pid, SIGTERM)` on the supervisor's group (SIGTERM or SIGINT to the supervisor alone does the
same): the supervisor then ends the job's own process group, the child with everything it started
(data-loader workers, ranks), SIGKILL after a grace period. The job's group is recorded in the job folder
(`core.process_tree`), so if the supervisor itself is killed with SIGKILL, the next look at the job
(`core.launch.backends.local.reconcile`) ends the training it left behind. SIGHUP is ignored on purpose:
a detached job outlives the terminal that started it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from core import process_tree
from core.launch.job_store import get_job, update_job
from core.redact import redact

_cancelled = threading.Event()


def _on_sigterm(signum: int, frame: object) -> None:
    _cancelled.set()


def copy_redacted(source: IO[bytes], sink: IO[bytes]) -> None:
    """Copy a byte stream line by line (\\n or \\r ends a line, for progress bars), masking tokens."""
    pending = b""
    while True:
        chunk = source.read1(8192) if hasattr(source, "read1") else source.read(8192)
        if not chunk:
            break
        pending += chunk
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r"))
        if cut < 0:
            if len(pending) > 65536:  # a very long line without a break: flush it anyway
                sink.write(redact(pending.decode("utf-8", "replace")).encode())
                pending = b""
            continue
        ready, pending = pending[: cut + 1], pending[cut + 1:]
        sink.write(redact(ready.decode("utf-8", "replace")).encode())
        sink.flush()
    if pending:
        sink.write(redact(pending.decode("utf-8", "replace")).encode())
    sink.flush()


def supervise(job_id: str) -> int:
    job = get_job(job_id)
    if job is None:
        print(f"error: no job {job_id} in the store", file=sys.stderr)
        return 2
    argv = [str(a) for a in job.extra.get("argv") or []]
    cwd = job.extra.get("workdir") or None
    timeout_s = float(job.extra.get("timeout_s") or 0)
    log_path = Path(job.log_path or f"{job_id}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (job.extra.get("env") or {}).items()})
    env["PYTHONUNBUFFERED"] = "1"

    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigterm)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started us may close
    started = time.time()
    with log_path.open("ab") as log:
        log.write(f"===== Job started at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(started))} =====\n"
                  .encode())
        log.flush()
        try:
            # Its own process group: stopping the job ends everything the training started, not just the child.
            child = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.write(f"error: cannot start {argv[0] if argv else '(no command)'}: {exc}\n".encode())
            update_job(job_id, status="ERROR", exit_code=127, finished_at=time.time(),
                       message=redact(f"cannot start: {exc}"))
            return 127
        pid_dir = process_tree.children_dir(Path(cwd) if cwd else log_path.parent)
        process_tree.record_group(pid_dir, child.pid, argv)
        update_job(job_id, status="RUNNING", started_at=started, child_pid=child.pid)
        assert child.stdout is not None
        pump = threading.Thread(target=copy_redacted, args=(child.stdout, log), daemon=True)
        pump.start()
        timed_out = False
        while child.poll() is None:
            if not _cancelled.is_set() and timeout_s and time.time() - started > timeout_s:
                timed_out = True
            if _cancelled.is_set() or timed_out:
                # SIGTERM first, then the grace period (a signal that arrived during a wait must not start
                # the grace clock before the job has even been asked to stop).
                process_tree.signal_group(child.pid, signal.SIGTERM)
                _escalate(child)
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.5)
        # Whatever the job left in its group (workers that outlived it) goes with it.
        process_tree.end_groups([child.pid], grace_s=5.0)
        process_tree.forget_group(pid_dir, child.pid)
        pump.join(timeout=10)
        code = child.returncode
        finished = time.time()
        if _cancelled.is_set():
            status, message = "CANCELED", "Job canceled"
        elif timed_out:
            status, message = "ERROR", "Job timeout"
        elif code == 0:
            status, message = "COMPLETED", "Job completed"
        else:
            status, message = "ERROR", f"exit code {code}"
        log.write(f"===== {message} ({status}) at {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(finished))} "
                  "=====\n".encode())
        log.flush()
    update_job(job_id, status=status, exit_code=code, finished_at=finished, message=message)
    return 0 if status == "COMPLETED" else 1


def _escalate(child: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGKILL the job's whole group if SIGTERM did not stop the child within the grace period."""
    try:
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process_tree.signal_group(child.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m core.launch.local_runner <job_id>", file=sys.stderr)
        return 2
    return supervise(args[0])


if __name__ == "__main__":
    sys.exit(main())
