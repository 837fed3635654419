"""The base install's headless verbs, as a user runs them: `calc`, `jobs ps/logs/inspect` against the
(loopback fake) Hub, `locate`. Each is the installed `tui-tuner` command in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.base_install.conftest import run_cli
from tests.conftest import assert_no_canary

pytestmark = pytest.mark.timeout(180)


def test_calc_plans_a_qlora_run(tmp_path: Path) -> None:
    done = run_cli("calc", "--model", "gemma-3-12b", "--method", "qlora", "--max-length", "16384", "--json",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["estimate"]["model"]["name"] == "Gemma 3 12B" and data["estimate"]["total_gb"] > 17.18
    assert data["recommended"] and data["flavors"]
    human = run_cli("calc", "--model", "gemma-3-12b", "--method", "qlora", "--max-length", "16384", cwd=tmp_path)
    assert human.returncode == 0 and "logits (fp32)" in human.stdout and "recommended:" in human.stdout
    bad = run_cli("calc", "--model", "gemma-3-12b", "--max-length", "-5", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1


def test_jobs_ps_logs_inspect_against_the_hub(fake_hub: Any, tmp_path: Path) -> None:
    job = fake_hub.create_job(stage="ERROR", labels={"name": "gemma-sft"}, flavor="a10g-large", logs=[
        "Loading model",
        " 10%|█         | 49/486 [01:00<09:00,  1.25s/it]",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    ])
    ps = run_cli("jobs", "ps", "--json", cwd=tmp_path)
    assert ps.returncode == 0, ps.stderr
    listed = json.loads(ps.stdout)
    assert [j["name"] for j in listed["jobs"]] == ["gemma-sft"] and listed["error"] is None
    logs = run_cli("jobs", "logs", job, cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.splitlines()[0] == "Loading model" and "CUDA out of memory" in logs.stdout
    inspect = run_cli("jobs", "inspect", job, "--json", cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    data = json.loads(inspect.stdout)
    assert data["job"]["stage"] == "ERROR" and data["progress"].startswith("step 49/486")
    assert data["diagnoses"], "an out-of-memory log must come with a diagnosis"
    missing = run_cli("jobs", "inspect", "0" * 24, cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    assert_no_canary(ps.stdout, logs.stdout, inspect.stdout, ps.stderr, logs.stderr, inspect.stderr, missing.stderr)


def test_locate_and_llama_cpp_status_answer(tmp_path: Path) -> None:
    locate = run_cli("locate", "--json", cwd=tmp_path)
    assert locate.returncode == 0 and set(json.loads(locate.stdout)) >= {"config", "store", "logs"}
    status = run_cli("llama-cpp", "status", "--json", cwd=tmp_path)
    assert status.returncode in (0, 1), status.stderr  # 1: not built here, which it says
    assert "Traceback" not in status.stderr and json.loads(status.stdout)
