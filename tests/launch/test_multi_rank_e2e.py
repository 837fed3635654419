"""Multi-GPU launch for real, on CPU: the generated script re-launches itself under Accelerate's launcher as
two ranks (gloo) and fine-tunes SmolLM2; the jobs area follows the global step and both ranks."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core.launch import launcher
from core.launch.backends import local
from core.launch.preflight import PreflightOptions
from tests.launch.conftest import cpu_config
from tui_tuner.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
NO_GPU = PreflightOptions(online=False, local_gpu_probe=lambda: None)


def test_two_cpu_ranks_train_one_adapter_one_trackio_run(smollm2_hf: Path, chat_jsonl: Path, isolated_home: Path,
                                                         capsys: Any) -> None:
    examples, batch, accum, world = 16, 1, 1, 2
    config = cpu_config(smollm2_hf, chat_jsonl, gpus=world, max_steps=0, epochs=1.0, batch_size=batch,
                        gradient_accumulation=accum, warmup_ratio=0.0, learning_rate=3e-3, save_steps=100,
                        max_length=128, trackio_project="multi-rank")
    plan = launcher.plan(config, NO_GPU)
    assert plan.report.ok, [f.one_line() for f in plan.report.errors]
    assert plan.report.strategy and (plan.report.strategy.strategy, plan.report.strategy.world_size) == ("ddp", 2)
    steps = math.ceil(examples / (batch * accum * world)) * 1
    assert plan.report.expected_steps == steps == 8

    job = launcher.launch(plan)
    assert job.extra["world_size"] == 2 and job.extra["effective_batch"] == 2 and job.extra["flavor"] == "local cpu x2"
    done = local.wait(job.id, timeout_s=800)
    log = Path(done.log_path or "").read_text(encoding="utf-8", errors="replace")
    assert done.status == "COMPLETED", log[-4000:]

    # Both ranks trained, under Accelerate's launcher; rank 0 alone reported.
    assert "launching 2 ranks (ddp) on 2 CPU processes (gloo) with accelerate" in log
    for rank in (0, 1):
        assert f"tui-tuner: rank={rank} local_rank={rank} world_size=2 strategy=ddp device=cpu" in log
    assert log.count(f"tui-tuner: expected_steps={steps} examples={examples} world_size=2") == 1
    assert log.count(f"tui-tuner: finished global_step={steps}") == 1
    assert log.count("Starting training...") == 1

    # Exactly one adapter outside the checkpoints, in the job's adapter folder.
    workdir = Path(done.extra["workdir"])
    adapters = [p for p in workdir.rglob("adapter_model.safetensors") if not p.parent.name.startswith("checkpoint-")]
    assert adapters == [Path(done.extra["output_dir"]) / "adapter_model.safetensors"]
    assert (workdir / (Path(done.extra["argv"][-1]).stem + "_accelerate.yaml")).is_file()

    # One Trackio run; its global steps reach the formula's count and the loss goes down.
    trackio = Path(os.environ["TRACKIO_DIR"])
    assert sorted(p.stem for p in trackio.glob("*.db")) == ["multi-rank"]
    with sqlite3.connect(f"file:{trackio / 'multi-rank.db'}?mode=ro", uri=True) as conn:
        runs = {r[0] for r in conn.execute("SELECT DISTINCT run_name FROM metrics")}
        rows = [json.loads(m) for (m,) in conn.execute("SELECT metrics FROM metrics ORDER BY step")]
    assert runs == {done.name}
    losses = [r["train/loss"] for r in rows if r.get("train/loss") is not None]
    assert len(losses) == steps, losses
    assert max(r.get("train/global_step", 0) for r in rows) == steps
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses

    # The jobs area follows it: global step against the formula, both ranks listed.
    assert main(["jobs", "inspect", job.id, "--json", "--no-hub-check"]) == 0
    inspected = json.loads(capsys.readouterr().out)
    assert inspected["progress"].startswith(f"step {steps}/{steps} (100%)"), inspected["progress"]
    assert inspected["ranks"]["world_size"] == 2 and [r["rank"] for r in inspected["ranks"]["ranks"]] == [0, 1]
    assert main(["jobs", "inspect", job.id, "--no-hub-check"]) == 0
    assert "ranks     2/2 ranks (ddp): 0 cpu · 1 cpu" in capsys.readouterr().out
