"""No orphans: every signal ends the whole process tree, and what a `kill -9` left is reaped next time.

Real process trees throughout: a tool in its own session that starts a grandchild ignoring SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from core import process_tree
from core.convert.logparse import LineParser
from core.convert.process import ProcessOutcome, stream_process
from tests.reliability.fake_tools import (
    ROOT,
    env_for,
    kill_marked,
    make_merged_output,
    make_tree,
    start_convert,
    survivors,
    wait_for_tree,
    wait_gone,
)

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
pytestmark = pytest.mark.timeout(180)  # a regression leaves a 600 s sleeper holding a pipe: fail, do not hang


@pytest.fixture
def marker() -> str:
    value = f"tt-marker-{uuid.uuid4().hex[:12]}"
    yield value
    kill_marked(value)


def _tool(tmp_path: Path, marker: str, *, exit_after: float | None = None) -> Path:
    """A tool that starts a SIGTERM-ignoring grandchild, then works forever (or exits after a while)."""
    script = tmp_path / "tool.py"
    end = f"time.sleep({exit_after}); sys.exit(0)" if exit_after is not None else "time.sleep(600)"
    script.write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)", {marker!r}])
        print("started", flush=True)
        {end}
    """))
    return script


# ------------------------------------------------------------------------------------------------
# core.process_tree and stream_process
# ------------------------------------------------------------------------------------------------

async def test_stream_process_records_its_group_and_ends_what_the_tool_left(tmp_path: Path, marker: str) -> None:
    pid_dir = tmp_path / "children"
    outcome = ProcessOutcome()
    seen_files: list[str] = []
    async for _ in stream_process([sys.executable, str(_tool(tmp_path, marker, exit_after=1.0)), marker],
                                  LineParser("x"), outcome, pid_dir=pid_dir):
        seen_files = [p.name for p in pid_dir.glob("*.json")]
    assert outcome.returncode == 0
    assert seen_files == [f"{outcome.pid}.json"]  # recorded while it ran
    # The tool exited 0 but left its grandchild (which ignores SIGTERM) in its group: ended too.
    assert wait_gone(marker, timeout=5) == []
    assert not list(pid_dir.glob("*.json")) and process_tree.tracked() == []


def test_pid_file_says_who_started_the_group(tmp_path: Path, marker: str) -> None:
    proc = subprocess.Popen([sys.executable, str(_tool(tmp_path, marker)), marker], start_new_session=True,
                            stdout=subprocess.DEVNULL)
    try:
        process_tree.track(proc.pid, ["tool", marker], tmp_path / "children")
        data = json.loads((tmp_path / "children" / f"{proc.pid}.json").read_text())
        assert data["pgid"] == proc.pid and data["owner_pid"] == os.getpid()
        assert data["leader_start"] == process_tree.start_time(proc.pid) and data["cmdline"] == ["tool", marker]
        wait_for_tree(marker)
        ended = process_tree.kill_tracked(grace_s=0.5)
        assert ended == [proc.pid]
        assert wait_gone(marker, timeout=5) == []
        assert not list((tmp_path / "children").glob("*.json"))
    finally:
        proc.wait(timeout=10)


def test_reap_stale_ends_the_groups_of_an_owner_killed_with_sigkill(tmp_path: Path, marker: str) -> None:
    pid_dir = tmp_path / "children"
    owner_script = tmp_path / "owner.py"
    owner_script.write_text(textwrap.dedent(f"""
        import asyncio, sys
        from core.convert.logparse import LineParser
        from core.convert.process import ProcessOutcome, stream_process

        async def main():
            async for _ in stream_process([sys.executable, {str(_tool(tmp_path, marker))!r}, {marker!r}],
                                          LineParser("x"), ProcessOutcome(), pid_dir={str(pid_dir)!r}):
                pass

        asyncio.run(main())
    """))
    owner = subprocess.Popen([sys.executable, str(owner_script)], env=env_for(tmp_path))
    orphans = wait_for_tree(marker)
    owner.kill()  # SIGKILL: no cleanup runs at all
    owner.wait(timeout=10)
    time.sleep(0.5)
    assert sorted(survivors(marker)) == sorted(orphans)  # the defect: the tree outlives its owner
    records = process_tree.read_records(pid_dir)
    assert len(records) == 1 and records[0][1] is not None and records[0][1].owner_pid == owner.pid

    reaped = process_tree.reap_stale(pid_dir, grace_s=0.5)
    assert [r.pgid for r in reaped] == [records[0][1].pgid]
    assert wait_gone(marker, timeout=5) == []
    assert not list(pid_dir.glob("*.json"))


def test_reap_stale_never_signals_a_reused_pid_or_a_live_owner(tmp_path: Path, marker: str) -> None:
    pid_dir = tmp_path / "children"
    pid_dir.mkdir()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                                 start_new_session=True)
    try:
        # A record for the bystander's pid, but with another start time: the pid was reused.
        reused = process_tree.GroupRecord(pgid=bystander.pid, leader_start="1", cmdline=["old tool"],
                                          owner_pid=999_999_999, owner_start="1")
        (pid_dir / f"{bystander.pid}.json").write_text(json.dumps(reused.__dict__))
        assert process_tree.reap_stale(pid_dir) == []
        assert bystander.poll() is None and not list(pid_dir.glob("*.json"))
        # A record whose owner is alive (this very test process, not tracking it): another run's child.
        live = process_tree.GroupRecord(pgid=bystander.pid, leader_start=process_tree.start_time(bystander.pid),
                                        cmdline=["tool"], owner_pid=os.getppid(),
                                        owner_start=process_tree.start_time(os.getppid()))
        (pid_dir / f"{bystander.pid}.json").write_text(json.dumps(live.__dict__))
        assert process_tree.reap_stale(pid_dir) == []
        assert bystander.poll() is None and list(pid_dir.glob("*.json"))
        (pid_dir / "garbage.json").write_text("{not json")
        process_tree.reap_stale(pid_dir)
        assert not (pid_dir / "garbage.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


# ------------------------------------------------------------------------------------------------
# the CLI: convert
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_convert_ends_its_whole_tree_on_each_signal(tmp_path: Path, marker: str, sig: int) -> None:
    tree = make_tree(tmp_path / f"llama.cpp-{marker}", marker)
    out = make_merged_output(tmp_path / "out")
    proc = start_convert(out, tree)
    try:
        wait_for_tree(marker)
        assert list((out / process_tree.CHILDREN_DIR).glob("*.json"))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait_gone(marker) == []
    assert proc.returncode == 128 + sig, err
    assert not list((out / process_tree.CHILDREN_DIR).glob("*.json"))
    assert not list(out.glob("*.gguf*"))  # the partial output is gone
    if sig != signal.SIGHUP:
        assert "canceled during convert" in err
    history = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--history", "--json"],
                             env=env_for(tree), cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(history.stdout)[0]["status"] == "canceled"


def test_a_kill_9_leaves_orphans_that_the_next_run_reaps_and_the_record_is_interrupted(
        tmp_path: Path, marker: str) -> None:
    tree = make_tree(tmp_path / f"llama.cpp-{marker}", marker)
    out = make_merged_output(tmp_path / "out")
    first = start_convert(out, tree)
    orphans = wait_for_tree(marker)
    first.kill()
    first.communicate(timeout=30)
    time.sleep(0.5)
    # SIGKILL runs no cleanup. The converter dies of SIGPIPE at its next log line; what does not write
    # (here the grandchild, in real life an idle llama-server) stays, re-parented to init.
    orphans = [p for p in survivors(marker) if p in orphans]
    assert orphans

    history = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--history"], env=env_for(tree),
                             cwd=ROOT, capture_output=True, text=True, check=True)
    first_line, detail = history.stdout.splitlines()[:2]
    assert "interrupted" in first_line and str(out) in first_line
    assert f"its process (pid {first.pid}) is gone" in detail
    assert f"resume: tui-tuner convert --output-dir {out}" in detail and "--skip-merge" in detail

    second = start_convert(out, tree)  # the same folder: it reaps the orphans before starting its own tools
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(p in survivors(marker) for p in orphans):
            time.sleep(0.1)
        assert not any(p in survivors(marker) for p in orphans)
        wait_for_tree(marker)  # its own tool tree
        second.send_signal(signal.SIGTERM)
        out_text, _ = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    assert "left running by an earlier, killed run" in out_text
    assert wait_gone(marker) == []


# ------------------------------------------------------------------------------------------------
# the TUI: quit and signals, in a real pseudo-terminal
# ------------------------------------------------------------------------------------------------

_APP = """
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


@pytest.mark.parametrize("how", ["quit", "SIGTERM", "SIGHUP", "SIGINT", "terminal closed"])
def test_tui_ends_its_tools_on_quit_and_on_signals(tmp_path: Path, marker: str, how: str) -> None:
    import pty
    import threading

    app_script = tmp_path / "app.py"
    app_script.write_text(_APP.format(tool=str(_tool(tmp_path, marker)), marker=marker))
    env = {**env_for(tmp_path), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    pid, master = pty.fork()
    if pid == 0:  # the child: the app, with the pty as its controlling terminal
        os.execve(sys.executable, [sys.executable, str(app_script)], env)
    closed = threading.Event()

    def drain() -> None:  # a terminal that nobody reads blocks the app
        import select

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
            os.write(master, b"\x11")  # ctrl+q
        elif how == "terminal closed":
            closed.set()
            reader.join()
            os.close(master)  # what a dropped SSH connection does: the kernel sends SIGHUP
        else:
            os.kill(pid, getattr(signal, how))
        deadline = time.monotonic() + 30
        done = 0
        while time.monotonic() < deadline and not done:
            done, _ = os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        assert done, "the app did not exit"
    finally:
        closed.set()
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        if how != "terminal closed":
            os.close(master)
    assert wait_gone(marker) == []


def test_tui_exits_and_ends_its_tools_when_its_terminal_closes_without_a_hangup(tmp_path: Path, marker: str) -> None:
    """The pty is the app's stdin/stdout but not its controlling terminal (a multiplexer's or web terminal's
    pane, `setsid`), so closing the master sends no SIGHUP: reads then hit end-of-file at once, forever.
    Textual's input loop took that for "nothing typed" and spun at a full core with the tools left running."""
    import pty

    app_script = tmp_path / "app.py"
    app_script.write_text(_APP.format(tool=str(_tool(tmp_path, marker)), marker=marker))
    env = {**env_for(tmp_path), "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    master, slave = pty.openpty()
    app = subprocess.Popen([sys.executable, str(app_script)], stdin=slave, stdout=slave, stderr=slave, env=env,
                           start_new_session=True)  # a new session that never takes the pty as its terminal
    os.close(slave)
    try:
        import select

        deadline = time.monotonic() + 60
        settled = None  # drain half a second more once the tool and its grandchild run
        while time.monotonic() < deadline and (settled is None or time.monotonic() < settled):
            if select.select([master], [], [], 0.1)[0]:
                os.read(master, 65536)  # a terminal that nobody reads blocks the app
            if settled is None and len(survivors(marker)) >= 2:
                settled = time.monotonic() + 0.5
        wait_for_tree(marker, timeout=1)
        os.close(master)
        master = -1
        app.wait(timeout=30)  # before the fix: still running, a core busy, the tools alive
    finally:
        if master >= 0:
            os.close(master)
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
    assert wait_gone(marker) == []


def test_run_until_signal_reports_the_signal_and_ends_tracked_groups(tmp_path: Path, marker: str) -> None:
    script = tmp_path / "runner.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from core.convert.logparse import LineParser
        from core.convert.process import ProcessOutcome, stream_process
        from core.process_tree import Interrupted, run_until_signal

        async def main():
            async for _ in stream_process([sys.executable, {str(_tool(tmp_path, marker))!r}, {marker!r}],
                                          LineParser("x"), ProcessOutcome()):
                pass

        try:
            run_until_signal(main)
        except Interrupted as stop:
            print(stop.name, stop.exit_code, flush=True)
            sys.exit(stop.exit_code)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], env=env_for(tmp_path), stdout=subprocess.PIPE, text=True)
    wait_for_tree(marker)
    proc.send_signal(signal.SIGHUP)
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "SIGHUP 129" and proc.returncode == 129
    assert wait_gone(marker) == []


def test_kill_tracked_runs_at_interpreter_exit(tmp_path: Path, marker: str) -> None:
    # A command that crashes (an unexpected exception) still ends the groups it started.
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, sys
        from core.convert.logparse import LineParser
        from core.convert.process import ProcessOutcome, stream_process

        async def main():
            gen = stream_process([sys.executable, {str(_tool(tmp_path, marker))!r}, {marker!r}],
                                 LineParser("x"), ProcessOutcome())
            await gen.__anext__()
            raise RuntimeError("boom")  # the generator is never closed

        asyncio.run(main())
    """))
    proc = subprocess.run([sys.executable, str(script)], env=env_for(tmp_path), capture_output=True, text=True,
                          timeout=60)
    assert "RuntimeError: boom" in proc.stderr
    assert wait_gone(marker) == []


# ------------------------------------------------------------------------------------------------
# local launch: the detached supervisor
# ------------------------------------------------------------------------------------------------

def _start_local_job(tmp_path: Path, marker: str) -> tuple[str, int]:
    from core.launch.backends.local import start_supervisor
    from core.launch.job_store import JobRecord, insert_job, new_local_id, update_job

    job_id = new_local_id()
    workdir = tmp_path / "job"
    workdir.mkdir()
    insert_job(JobRecord(id=job_id, backend="local", name="t", status="SCHEDULING",
                         log_path=str(workdir / "job.log"),
                         extra={"argv": [sys.executable, str(_tool(tmp_path, marker)), marker],
                                "workdir": str(workdir)}))
    pid = start_supervisor(job_id, workdir / "job.log")
    update_job(job_id, pid=pid)
    return job_id, pid


@pytest.mark.parametrize("how", ["jobs cancel", "SIGTERM", "SIGINT"])
def test_local_job_supervisor_ends_the_whole_training_tree(tmp_path: Path, marker: str, how: str) -> None:
    from core.launch.backends import local
    from core.launch.job_store import get_job

    job_id, pid = _start_local_job(tmp_path, marker)
    wait_for_tree(marker)
    if how == "jobs cancel":
        local.cancel(job_id)  # SIGTERM to the supervisor's group
    else:
        os.kill(pid, getattr(signal, how))  # to the supervisor alone
    assert wait_gone(marker, timeout=40) == []  # the grandchild ignores SIGTERM: SIGKILL after the grace
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process_tree.is_running(pid):
        time.sleep(0.1)
    assert get_job(job_id).status == "CANCELED"  # type: ignore[union-attr]
    assert not list((tmp_path / "job" / process_tree.CHILDREN_DIR).glob("*.json"))


def test_local_job_left_by_a_killed_supervisor_is_reaped(tmp_path: Path, marker: str) -> None:
    from core.launch.backends import local
    from core.launch.job_store import get_job

    job_id, pid = _start_local_job(tmp_path, marker)
    training = wait_for_tree(marker)
    os.kill(pid, signal.SIGKILL)
    time.sleep(1.0)
    assert all(p in survivors(marker) for p in training)  # the training outlives its supervisor...
    job = local.reconcile(get_job(job_id))  # type: ignore[arg-type]
    assert job.status == "ERROR" and job.extra.get("message", "").startswith("supervisor disappeared; its job's")
    assert wait_gone(marker, timeout=10) == []  # ...until the next look at the job


# ------------------------------------------------------------------------------------------------
# eval's llama-server
# ------------------------------------------------------------------------------------------------

_FAKE_SERVER = """#!{python}
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)", {marker!r}])
port = int(sys.argv[sys.argv.index("--port") + 1])

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{{}}")

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def _fake_server(tmp_path: Path, marker: str) -> tuple[Path, Path]:
    binary = tmp_path / f"llama-server-{marker}"
    binary.write_text(_FAKE_SERVER.format(python=sys.executable, marker=marker))
    binary.chmod(0o755)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    return binary, model


async def test_eval_llama_server_is_tracked_and_ended_whole(tmp_path: Path, marker: str) -> None:
    from core.eval.server import LlamaServer

    binary, model = _fake_server(tmp_path, marker)
    async with LlamaServer(model, binary=binary) as server:
        assert server.process is not None
        assert (process_tree.global_children_dir() / f"{server.process.pid}.json").is_file()
        assert len(wait_for_tree(marker, timeout=30)) == 2
    assert wait_gone(marker, timeout=10) == []  # the grandchild ignoring SIGTERM too
    assert process_tree.tracked() == [] and not list(process_tree.global_children_dir().glob("*.json"))


def test_eval_llama_server_left_by_a_killed_owner_is_reaped_by_the_next_start(tmp_path: Path, marker: str) -> None:
    binary, model = _fake_server(tmp_path, marker)
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import asyncio
        from core.eval.server import LlamaServer

        async def main():
            server = LlamaServer({str(model)!r}, binary={str(binary)!r})
            await server.start()
            print("ready", flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
    """)], env=env_for(tmp_path), stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
    orphans = wait_for_tree(marker)
    owner.kill()
    owner.wait(timeout=10)
    time.sleep(0.5)
    assert [p for p in orphans if p in survivors(marker)]  # the server outlives its owner...
    other = f"tt-marker-{uuid.uuid4().hex[:12]}"
    binary2, _ = _fake_server(tmp_path, other)
    try:
        from core.eval.server import LlamaServer

        async def next_start() -> None:
            async with LlamaServer(model, binary=binary2):
                pass

        asyncio.run(next_start())
        assert wait_gone(marker, timeout=10) == []  # ...until the next server start reaps it
    finally:
        kill_marked(other)
