"""The local backend for real: the generated script trains SmolLM2-135M-Instruct on CPU for a few steps."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from core.launch import launcher
from core.launch.backends import local
from core.launch.job_store import get_job
from core.launch.preflight import PreflightOptions
from core.store import Store
from tests.conftest import CANARY_TOKEN, assert_no_canary
from tests.launch.conftest import cpu_config

pytestmark = pytest.mark.slow
NO_GPU = PreflightOptions(online=False, local_gpu_probe=lambda: None)


def trackio_runs(trackio_dir: Path) -> dict[str, set[str]]:
    runs: dict[str, set[str]] = {}
    for db in trackio_dir.glob("*.db"):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            runs[db.stem] = {r[0] for r in conn.execute("SELECT DISTINCT run_name FROM metrics")}
    return runs


def test_local_run_trains_logs_tracks_and_completes(smollm2_hf: Path, chat_jsonl: Path, isolated_home: Path) -> None:
    plan = launcher.plan(cpu_config(smollm2_hf, chat_jsonl, eval_fraction=0.25), NO_GPU)
    assert plan.report.ok, [f.one_line() for f in plan.report.errors]
    job = launcher.launch(plan)
    assert job.status in {"SCHEDULING", "RUNNING"} and job.pid
    done = local.wait(job.id, timeout_s=600)
    log = Path(done.log_path or "").read_text(encoding="utf-8", errors="replace")
    assert done.status == "COMPLETED", log[-3000:]
    assert done.extra["exit_code"] == 0 and done.extra["finished_at"]

    output = Path(done.extra["output_dir"])
    assert output.name == f"{smollm2_hf.name}-sft"  # what the conversion wizard names the GGUF after
    assert (output / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((output / "adapter_config.json").read_text())["r"] == 8
    assert "'loss':" in log and "tui-tuner: expected_steps=3" in log
    assert "Loss on assistant turns" in log

    runs = trackio_runs(Path(os.environ["TRACKIO_DIR"]))
    assert runs == {"launch-e2e": {done.name}}, "one job, one Trackio run, in the configured project"
    db = Path(os.environ["TRACKIO_DIR"]) / "launch-e2e.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        losses = [json.loads(m).get("train/loss") for (m,) in conn.execute("SELECT metrics FROM metrics")]
        config = json.loads(conn.execute("SELECT config FROM configs").fetchone()[0])
    assert len([v for v in losses if v is not None]) == 3
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        keys = set().union(*(json.loads(m) for (m,) in conn.execute("SELECT metrics FROM metrics")))
    assert "eval/loss" in keys, keys  # 4 of 16 conversations held out, evaluated at every save
    assert config["expected_steps"] == 3 and config["dataset"] == str(chat_jsonl)

    assert os.environ["HF_TOKEN"] == CANARY_TOKEN
    script = next(Path(done.extra["workdir"]).glob("train_*.py")).read_text()
    assert_no_canary(log, script, Store().path.read_bytes(), str(get_job(job.id)))


def test_cancel_kills_the_process_group(smollm2_hf: Path, chat_jsonl: Path) -> None:
    plan = launcher.plan(cpu_config(smollm2_hf, chat_jsonl, max_steps=500, save_steps=500), NO_GPU)
    job = launcher.launch(plan)
    assert job.extra["flavor"] == "local cpu"  # the job list shows where it runs, not the config's HF flavor
    deadline = time.time() + 120
    while (current := get_job(job.id)) and current.status != "RUNNING" and time.time() < deadline:
        time.sleep(0.5)
    assert current and current.status == "RUNNING"
    child = current.extra["child_pid"]
    canceled = local.cancel(job.id)
    assert canceled.status == "CANCELED"
    final = local.wait(job.id, timeout_s=60)
    assert final.status == "CANCELED"
    deadline = time.time() + 30
    while time.time() < deadline and (_alive(child) or _alive(job.pid or 0)):
        time.sleep(0.5)
    assert not _alive(child) and not _alive(job.pid or 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_job_outlives_the_cli_that_launched_it(smollm2_hf: Path, chat_jsonl: Path) -> None:
    """`tui-tuner launch --backend local` returns at once; the detached job finishes on its own."""
    import subprocess
    import sys

    argv = [sys.executable, "-m", "tui_tuner", "launch", "--backend", "local", "--offline", "--json",
            "--model", str(smollm2_hf), "--dataset", str(chat_jsonl), "--no-load-in-4bit", "--optimizer",
            "adamw_torch", "--max-steps", "1", "--batch-size", "1", "--grad-accum", "1", "--logging-steps", "1",
            "--save-steps", "1", "--max-length", "128", "--lora-r", "4", "--lora-alpha", "8",
            "--trackio-project", "detached"]
    started = time.time()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert time.time() - started < 60
    job_id = json.loads(result.stdout)["job"]["id"]
    done = local.wait(job_id, timeout_s=600)
    assert done.status == "COMPLETED", Path(done.log_path or "").read_text()[-2000:]
    assert_no_canary(result.stdout, result.stderr, Path(done.log_path or "").read_text())
