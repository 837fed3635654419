"""The `hf` CLI of huggingface_hub 2.4.0, run as a user would (subprocess, HF_ENDPOINT exported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_no_canary

HF = Path(sys.executable).with_name("hf")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HF.exists(), reason="the hf CLI is not installed next to this interpreter"),
]


def _hf(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")  # HF_ENDPOINT / HF_TOKEN / HF_HUB_DISABLE_XET come from the fixtures
    return subprocess.run([str(HF), *args], env=env, capture_output=True, text=True, timeout=120)


def test_hf_jobs_ps_logs_and_cancel(fake_hub):
    done = fake_hub.create_job(stage="COMPLETED", logs=["epoch 1", "epoch 2"], labels={"name": "sft-run"})
    running = fake_hub.create_job(stage="RUNNING", flavor="l4x1")

    listed = _hf("jobs", "ps", "-a", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows[done]["status"] == "COMPLETED" and rows[done]["labels"] == {"name": "sft-run"}
    assert rows[running]["flavor"] == "l4x1"

    default = _hf("jobs", "ps", "--format", "json")  # the CLI's default filter: RUNNING + SCHEDULING
    assert [row["id"] for row in json.loads(default.stdout)] == [running]

    logs = _hf("jobs", "logs", done)
    assert logs.returncode == 0 and logs.stdout.splitlines()[:2] == ["epoch 1", "epoch 2"]

    cancel = _hf("jobs", "cancel", running)
    assert cancel.returncode == 0, cancel.stderr
    assert fake_hub.jobs[running]["status"]["stage"] == "CANCELED"
    for result in (listed, default, logs, cancel):
        assert_no_canary(result.stdout, result.stderr)
    assert fake_hub.unhandled == [] and fake_hub.errors == []
