"""One run per output folder: the second `convert` or `eval run` says who holds the folder and exits 2;
a crashed holder never leaves the folder locked."""

from __future__ import annotations

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

from core.errors import TunerError
from core.folder_lock import LOCK_FILE, FolderBusy, FolderLock, lock_holder
from tests.reliability.fake_tools import (
    ROOT,
    env_for,
    kill_marked,
    make_merged_output,
    make_tree,
    start_convert,
    wait_for_tree,
    wait_gone,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def marker() -> str:
    value = f"tt-marker-{uuid.uuid4().hex[:12]}"
    yield value
    kill_marked(value)


def test_second_lock_names_the_holder_and_release_frees_it(tmp_path: Path) -> None:
    with FolderLock(tmp_path, "convert", command="tui-tuner convert --output-dir out"):
        holder = lock_holder(tmp_path)
        assert holder is not None and holder["pid"] == os.getpid() and holder["purpose"] == "convert"
        with pytest.raises(FolderBusy) as busy:
            FolderLock(tmp_path, "convert").acquire()
        message = busy.value.one_line()
        assert message.startswith(f"{tmp_path} is in use by pid {os.getpid()}, `tui-tuner convert --output-dir out`,"
                                  " since ")
        assert f"kill {os.getpid()}" in message and isinstance(busy.value, TunerError)
    assert lock_holder(tmp_path) is None
    with FolderLock(tmp_path, "eval run"):  # free again
        pass
    assert (tmp_path / LOCK_FILE).is_file()  # the file stays, harmless: only the flock matters


def test_a_holder_killed_with_sigkill_frees_the_folder(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from core.folder_lock import FolderLock
        FolderLock(__import__("pathlib").Path({str(tmp_path)!r}), "convert").acquire()
        print("locked", flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], env=env_for(tmp_path), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
            FolderLock(tmp_path, "convert").acquire()
        holder.kill()
        holder.wait(timeout=10)
        with FolderLock(tmp_path, "convert"):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()


def test_the_lock_is_not_inherited_by_child_processes(tmp_path: Path) -> None:
    lock = FolderLock(tmp_path, "convert").acquire()
    child = subprocess.Popen(["sleep", "30"])  # a tool that outlives the run must not keep the folder locked
    try:
        lock.release()
        with FolderLock(tmp_path, "convert"):
            pass
    finally:
        child.kill()
        child.wait()


def test_two_conversions_into_one_folder(tmp_path: Path, marker: str) -> None:
    tree = make_tree(tmp_path / f"llama.cpp-{marker}", marker)
    out = make_merged_output(tmp_path / "out")
    first = start_convert(out, tree)
    try:
        wait_for_tree(marker)
        second = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out),
                                 "--skip-merge", "--model-name", "fake", "--quant-type", "Q8_0"],
                                cwd=ROOT, env=env_for(tree), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert line.startswith(f"error: {out} is in use by pid {first.pid}, `tui-tuner convert --output-dir {out}")
        assert "since 20" in line and f"kill {first.pid}" in line and line.count("\n") == 0
        as_json = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out),
                                  "--skip-merge", "--json"], cwd=ROOT, env=env_for(tree), capture_output=True,
                                 text=True, timeout=120)
        assert as_json.returncode == 2 and "is in use by pid" in json.loads(as_json.stderr)["error"]
        assert first.poll() is None  # the first run was not disturbed
        first.kill()  # a crash: the kernel drops its lock
        first.communicate(timeout=30)
        kill_marked(marker)
        third = start_convert(out, tree)
        wait_for_tree(marker)  # it got the folder and runs its tools
        third.send_signal(signal.SIGTERM)
        third.communicate(timeout=60)
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.kill()
    assert wait_gone(marker) == []


def test_two_eval_runs_into_one_folder_run_each_conversation_once(tmp_path: Path) -> None:
    from tests.eval_run.conftest import SMALL_RUBRIC_TOML
    from tests.eval_run.fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    server.delay_s = 0.05
    try:
        rubric = tmp_path / "rubric.toml"
        rubric.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
        env = env_for(tmp_path)
        personas = tmp_path / "personas.json"
        subprocess.run([sys.executable, "-m", "tui_tuner", "eval", "personas", "--count", "2", "--out",
                        str(personas)], cwd=ROOT, env=env, check=True, capture_output=True)
        results = tmp_path / "results"
        args = [sys.executable, "-m", "tui_tuner", "eval", "run", "--personas", str(personas), "--output-dir",
                str(results), "--model", f"baseline={server.url}", "--model", f"coach={server.url}",
                "--simulator", server.url, "--judge", server.url, "--rubric", str(rubric), "--conversations", "3",
                "--turns", "2", "--max-parallel", "1"]
        first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conversations = results / "conversations.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (conversations.exists() and conversations.read_text()):
            time.sleep(0.05)
        second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"error: {results} is in use by pid {first.pid}" in second.stderr
        assert "tui-tuner eval run" in second.stderr
        _, err = first.communicate(timeout=180)
        assert first.returncode == 0, err
    finally:
        server.stop()
    rows = [json.loads(line) for line in conversations.read_text().splitlines()]
    keys = [(r["persona_id"], r["model"], r["conv_index"]) for r in rows]
    assert len(keys) == 2 * 2 * 3 and len(set(keys)) == len(keys)  # every conversation once: no duplicate cost


async def test_tui_conversion_into_a_busy_folder_is_a_notification(tmp_path: Path) -> None:
    from core.convert.pipeline import ConvertSpec
    from tests.support.host_app import ScreenHost
    from tests.support.pilot_wait import wait_for
    from tui_tuner.screens.convert.screen import ConvertScreen

    out = make_merged_output(tmp_path / "out")
    app = ScreenHost(ConvertScreen)
    with FolderLock(out, "convert", command="tui-tuner convert --output-dir out"):
        async with app.run_test(size=(120, 40)) as pilot:
            screen = app.screen
            assert isinstance(screen, ConvertScreen)
            worker = screen.start_conversion(ConvertSpec(output_dir=out, skip_merge=True, model_name="x"))
            await wait_for(pilot, lambda: worker.is_finished, what="the conversion's worker ended")
            await pilot.pause()
            messages = [n.message for n in app._notifications]
            assert any(m.startswith(f"{out} is in use by pid {os.getpid()}") for m in messages), messages
            assert app.is_running  # the app stays up


def test_the_app_as_holder_is_named_as_such(tmp_path: Path) -> None:
    from core.folder_lock import describe_holder

    text = describe_holder({"pid": 42, "command": "tui-tuner", "purpose": "eval run", "since": 86400 * 400})
    assert text.startswith("pid 42, the tui-tuner app (eval run), since 1971-02-0")
