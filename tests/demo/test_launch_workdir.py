"""The launcher's `workdir` hook: a local run can keep its script, checkpoints and adapter in a folder the
caller chooses (the demo's output folder) instead of `<data dir>/jobs/<job id>`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.launch import launcher
from core.launch.backends import local
from core.launch.job_store import get_job
from core.launch.preflight import PreflightOptions


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return folder


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(4)))
    return path


def _plan(model_dir: Path, dataset: Path) -> launcher.LaunchPlan:
    from core.launch.config import LaunchConfig

    config = LaunchConfig(base_model=str(model_dir), dataset=str(dataset), backend="local", load_in_4bit=False,
                          optimizer="adamw_torch", max_steps=1, save_steps=1, trackio_project="workdir-test")
    plan = launcher.plan(config, PreflightOptions(online=False, local_gpu_probe=lambda: None, check_memory=False))
    assert not plan.report.errors, [f.one_line() for f in plan.report.errors]
    return plan


def test_local_launch_uses_the_given_workdir(model_dir: Path, dataset: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "start_supervisor", lambda job_id, log_path: 999_999)  # no real training here
    workdir = tmp_path / "demo-out" / "train"
    job = launcher.launch(_plan(model_dir, dataset), workdir=workdir)
    stored = get_job(job.id)
    assert stored is not None and stored.extra["workdir"] == str(workdir)
    assert Path(stored.extra["output_dir"]).parent == workdir
    assert list(workdir.glob("train_*.py")), "the generated script is in the chosen folder"


def test_without_workdir_the_job_folder_is_under_the_data_dir(model_dir: Path, dataset: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "start_supervisor", lambda job_id, log_path: 999_999)
    job = launcher.launch(_plan(model_dir, dataset))
    stored = get_job(job.id)
    assert stored is not None and Path(stored.extra["workdir"]) == launcher.jobs_dir() / job.id
