"""Signals tried / processes orphaned: every way a run can be stopped, against a given source tree.

Each scenario starts a real process tree (a tool in its own session that starts a grandchild ignoring
SIGTERM, like `tests/reliability`), stops the command the way a user or the system would, and counts the
tree's processes still alive 15 s later. Run it against this checkout and against an older commit
(`git worktree add ../old <commit>`; `--src ../old/src`: a full checkout, themes included) to compare.
Usage: .venv/bin/python benchmarks/convert_orphans.py [--src DIR] [--label NAME]
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from tests.reliability.fake_tools import (  # noqa: E402
    kill_marked,
    make_merged_output,
    make_tree,
    wait_for_tree,
    wait_gone,
)

TOOL = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)", sys.argv[1]])
print("started", flush=True)
time.sleep(600)
"""

APP = """
import sys
from tui_tuner.app import TunerApp
from core.convert.logparse import LineParser
from core.convert.process import ProcessOutcome, stream_process

class App(TunerApp):
    def on_ready(self) -> None:
        self.run_worker(self.tool(), exit_on_error=False)

    async def tool(self) -> None:
        async for _ in stream_process([sys.executable, {tool!r}, {marker!r}], LineParser("x"), ProcessOutcome()):
            pass

App().run()
"""


class Bench:
    def __init__(self, src: Path) -> None:
        self.src = src
        self.work = Path(tempfile.mkdtemp(prefix="tt-orphans-"))
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)]),
                    "TUI_TUNER_HOME": str(self.work / "home"), "HF_ENDPOINT": "http://127.0.0.1:9"}

    def fresh(self) -> tuple[str, Path]:
        marker = f"tt-marker-{uuid.uuid4().hex[:12]}"
        folder = self.work / marker
        folder.mkdir()
        (folder / "tool.py").write_text(textwrap.dedent(TOOL))
        return marker, folder

    # -- scenarios: each returns the number of orphans ------------------------------------------------
    def convert(self, how: str) -> int:
        marker, folder = self.fresh()
        tree = make_tree(folder / f"llama.cpp-{marker}", marker)
        out = make_merged_output(folder / "out")
        env = {**self.env, "TUI_TUNER_LLAMA_CPP": str(tree)}
        argv = [sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out), "--skip-merge",
                "--model-name", "fake", "--quant-type", "Q8_0", "--no-smoke-test"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_tree(marker)
        time.sleep(0.5)
        proc.send_signal(getattr(signal, how) if how != "kill -9" else signal.SIGKILL)
        proc.wait(timeout=60)
        if how == "kill -9":  # the next run in the same folder is what must clean up
            again = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(20)
            again.send_signal(signal.SIGTERM)
            again.wait(timeout=60)
        return self._count(marker)

    def tui(self, how: str) -> int:
        marker, folder = self.fresh()
        script = folder / "app.py"
        script.write_text(APP.format(tool=str(folder / "tool.py"), marker=marker))
        env = {**self.env, "TERM": "xterm-256color"}
        pid, master = pty.fork()
        if pid == 0:
            os.execve(sys.executable, [sys.executable, str(script)], env)
        closed = threading.Event()

        def drain() -> None:
            while not closed.is_set():
                try:
                    if select.select([master], [], [], 0.1)[0] and not os.read(master, 65536):
                        break
                except OSError:
                    break

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            wait_for_tree(marker, timeout=60)
            time.sleep(0.5)
            if how == "quit":
                os.write(master, b"\x11")
            elif how == "terminal closed":
                closed.set()
                reader.join()
                os.close(master)
            else:
                os.kill(pid, getattr(signal, how))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
                time.sleep(0.1)
        finally:
            closed.set()
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            if how != "terminal closed":
                os.close(master)
        return self._count(marker)

    def local_job(self, how: str) -> int:
        marker, folder = self.fresh()
        code = textwrap.dedent(f"""
            import os, signal, sys, time
            from pathlib import Path
            from core.launch.backends import local
            from core.launch.job_store import JobRecord, get_job, insert_job, new_local_id, update_job
            job_id = new_local_id()
            workdir = Path({str(folder / "job")!r}); workdir.mkdir()
            insert_job(JobRecord(id=job_id, backend="local", name="t", status="SCHEDULING",
                                 log_path=str(workdir / "job.log"),
                                 extra={{"argv": [sys.executable, {str(folder / "tool.py")!r}, {marker!r}],
                                        "workdir": str(workdir)}}))
            pid = local.start_supervisor(job_id, workdir / "job.log")
            update_job(job_id, pid=pid)
            print(pid, job_id, flush=True)
            how = sys.argv[1]
            sys.stdin.readline()
            if how == "jobs cancel":
                local.cancel(job_id)
            elif how == "kill -9":
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
                local.reconcile(get_job(job_id))
            else:
                os.kill(pid, getattr(signal, how))
            time.sleep(1)
        """)
        driver = subprocess.Popen([sys.executable, "-c", code, how], env=self.env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert driver.stdin is not None and driver.stdout is not None
        driver.stdout.readline()
        wait_for_tree(marker)
        driver.stdin.write("go\n")
        driver.stdin.flush()
        driver.wait(timeout=60)
        return self._count(marker, timeout=30)

    def _count(self, marker: str, timeout: float = 15) -> int:
        left = len(wait_gone(marker, timeout=timeout))
        kill_marked(marker)
        return left


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--src", type=Path, default=ROOT / "src")
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()
    bench = Bench(args.src.resolve())
    scenarios: list[tuple[str, str, Callable[[str], int]]] = []
    for how in ("SIGINT", "SIGTERM", "SIGHUP", "kill -9"):
        scenarios.append(("tui-tuner convert (converter running)", how, bench.convert))
    for how in ("quit", "SIGINT", "SIGTERM", "SIGHUP", "terminal closed"):
        scenarios.append(("TUI with a tool running", how, bench.tui))
    for how in ("jobs cancel", "SIGTERM", "SIGINT", "kill -9"):
        scenarios.append(("local job (detached supervisor)", how, bench.local_job))
    total = 0
    print(f"| scenario | stopped by | processes left ({args.label}) |")
    print("|---|---|---|")
    for name, how, fn in scenarios:
        try:
            left = fn(how)
        except Exception as exc:  # an old tree may not support a scenario: say so, keep going
            print(f"| {name} | {how} | error: {type(exc).__name__}: {exc} |", flush=True)
            continue
        total += left
        print(f"| {name} | {how} | {left} |", flush=True)
    print(f"\n{len(scenarios)} scenarios, {total} processes left in all")


if __name__ == "__main__":
    main()
