"""The Trackio reader against real databases written by the installed trackio library (in a subprocess,
because trackio fixes TRACKIO_DIR at import time)."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.errors import TunerError
from core.jobs.trackio_reader import TrackioLocalReader, project_db, trackio_dir

WRITER = textwrap.dedent("""
    import sys, trackio
    start, count = int(sys.argv[1]), int(sys.argv[2])
    trackio.init(project="demo-sft", name="run-1", resume="allow")
    for s in range(start, start + count):
        trackio.log({"train/loss": 3.0 / s, "train/learning_rate": 2e-4, "train/global_step": s * 10})
    if start == 1:
        trackio.log({"eval/loss": float("nan"), "train/global_step": 50})
    trackio.finish()
""")


def write_rows(start: int, count: int) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", WRITER, str(start), str(count)], env=env, check=True,
                   capture_output=True, timeout=120)


def test_reads_a_real_trackio_run_incrementally_and_read_only() -> None:
    assert trackio_dir() == Path(os.environ["TRACKIO_DIR"])
    write_rows(1, 10)
    db = project_db("demo-sft")
    assert db.exists()
    before = hashlib.sha256(db.read_bytes()).hexdigest()

    reader = TrackioLocalReader("demo-sft", "run-1")
    metrics = reader.poll()
    loss = metrics.series["train/loss"]
    assert [x for x, _ in loss] == [10.0 * s for s in range(1, 11)]  # x = train/global_step, not trackio's counter
    assert loss[0][1] == pytest.approx(3.0)
    assert math.isnan(metrics.latest("eval/loss"))  # "NaN" strings decoded
    assert metrics.latest_step() == 100
    assert [r["run"] for r in reader.runs()] == ["run-1"]
    assert reader.remote_space() is None
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # read-only: the file is untouched

    write_rows(11, 5)  # the same run, resumed by a second process
    metrics = reader.poll()
    assert [x for x, _ in metrics.series["train/loss"]][-6:] == [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
    assert len(metrics.series["train/loss"]) == 15  # only new rows were added
    assert reader.poll().last_id == metrics.last_id


def test_missing_project_is_one_clear_line() -> None:
    with pytest.raises(TunerError, match="no Trackio project 'nope'"):
        TrackioLocalReader("nope", "r").poll()


SERVER = textwrap.dedent("""
    import sys, time, trackio
    trackio.show(project="demo-sft", open_browser=False, block_thread=False, host="127.0.0.1",
                 server_port=int(sys.argv[1]))
    print("READY", flush=True)
    time.sleep(120)
""")


@pytest.mark.slow
def test_reads_a_run_from_a_trackio_server_like_a_space() -> None:
    import socket

    from core.jobs.trackio_reader import TrackioRemoteReader

    write_rows(1, 6)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        for line in server.stdout:  # trackio prints its banner first
            if line.startswith("READY"):
                break
        metrics = TrackioRemoteReader(f"http://127.0.0.1:{port}/", "demo-sft", "run-1").poll()
        assert metrics.source == "remote"
        assert [x for x, _ in metrics.series["train/loss"]] == [10.0 * s for s in range(1, 7)]
        assert {"train/loss", "train/learning_rate"} <= set(metrics.series)
        assert "step" not in metrics.series and "timestamp" not in metrics.series  # bookkeeping, not metrics
    finally:
        server.terminate()
        server.wait(10)


def test_remote_reader_failure_is_one_line() -> None:
    from core.jobs.trackio_reader import TrackioRemoteReader

    with pytest.raises(TunerError, match=r"Trackio http://127\.0\.0\.1:9/"):
        TrackioRemoteReader("http://127.0.0.1:9/", "p", "r").poll()


LIVE_WRITER = textwrap.dedent("""
    import sys, time, trackio
    trackio.init(project="live-sft", name="run-live")
    for s in range(1, 6):
        trackio.log({"train/loss": 3.0 / s, "train/global_step": s})
    time.sleep(1.5)  # trackio flushes its batch every 0.5 s
    print("LOGGED", flush=True)
    sys.stdin.readline()
    for s in range(6, 11):
        trackio.log({"train/loss": 3.0 / s, "train/global_step": s})
    trackio.finish()
    print("DONE", flush=True)
""")


def test_reads_while_the_training_process_is_writing() -> None:
    import time

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert writer.stdin is not None and writer.stdout is not None
        for line in writer.stdout:
            if line.startswith("LOGGED"):
                break
        reader = TrackioLocalReader("live-sft", "run-live")
        deadline = time.monotonic() + 10
        while len(reader.poll().series.get("train/loss", [])) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [x for x, _ in reader.metrics.series["train/loss"]] == [1.0, 2.0, 3.0, 4.0, 5.0]
        assert writer.poll() is None  # the writer still holds the DB open (WAL) while we read
        writer.stdin.write("go\n")
        writer.stdin.flush()
        for line in writer.stdout:
            if line.startswith("DONE"):
                break
        assert [x for x, _ in reader.poll().series["train/loss"]] == [float(s) for s in range(1, 11)]
    finally:
        writer.kill()
        writer.wait(10)
