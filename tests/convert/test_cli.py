"""`tui-tuner convert` and `tui-tuner llama-cpp` from a shell: human lines, --json lines, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_no_canary
from tests.convert.conftest import RunResult, needs_llama_cpp
from tests.convert.test_screen import _merged_copy

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui_tuner", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=dict(os.environ))


def test_list_types_shows_bits_per_weight_and_imatrix_needs() -> None:
    human = cli("convert", "--list-types")
    assert human.returncode == 0
    assert any(line.startswith("Q4_K_M") and "4.89" in line for line in human.stdout.splitlines())
    assert "IQ1_S" in human.stdout and "[needs imatrix]" in human.stdout
    data = json.loads(cli("convert", "--list-types", "--json").stdout)
    q4 = next(t for t in data if t["name"] == "Q4_K_M")
    assert q4 == {"name": "Q4_K_M", "ftype": 15, "bpw": 4.89, "description": q4["description"],
                  "needs_imatrix": False, "recommended": True}


def test_bad_options_are_one_line_errors(tmp_path: Path) -> None:
    result = cli("convert", "--adapter-path", str(tmp_path), "--output-dir", str(tmp_path / "o"),
                 "--quant-type", "IQ2_XS")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: quant_type: IQ2_XS need an importance matrix (add --imatrix FILE (llama-imatrix) or pick "
        "Q4_K_M/Q5_K_M/Q6_K/Q8_0)"]
    missing = cli("convert", "--output-dir", str(tmp_path / "o"))
    assert missing.returncode == 2 and "adapter is required" in missing.stderr


@needs_llama_cpp
@pytest.mark.slow
def test_convert_json_lines_end_to_end(full_run: RunResult, tmp_path: Path, canary_token: str) -> None:
    out = _merged_copy(full_run, tmp_path / "cli")
    result = cli("convert", "--output-dir", str(out), "--skip-merge", "--model-name", "smol-cli",
                 "--quant-type", "q8_0", "--no-smoke-test", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {e["event"] for e in events}
    assert kinds >= {"StepStarted", "LogLine", "Progress", "StepFinished", "PipelineFinished"}
    started = [e["step"] for e in events if e["event"] == "StepStarted"]
    assert started == ["preflight", "merge", "convert", "quantize:Q8_0", "verify"]
    writing = [e for e in events if e["event"] == "Progress" and e["label"] == "Writing"]
    assert writing and writing[-1]["fraction"] == 1.0
    assert events[-1]["event"] == "PipelineFinished" and events[-1]["status"] == "completed"
    assert (out / "smol-cli-Q8_0.gguf").is_file()
    assert_no_canary(result.stdout, result.stderr)
    history = json.loads(cli("convert", "--history", "--json").stdout)
    assert history[0]["status"] == "completed" and history[0]["output_dir"] == str(out)


@needs_llama_cpp
@pytest.mark.slow
def test_ctrl_c_kills_the_tool_and_says_what_was_kept(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "sigint")
    proc = subprocess.Popen([sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out), "--skip-merge",
                             "--model-name", "x", "--verbose"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen += line
        if "INFO:hf-to-gguf:" in line:  # the converter is running
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "canceled during convert; kept: merged" in stderr
    assert not list(out.glob("*.gguf*"))
    # the converter (its own process group) is gone too
    leftover = subprocess.run(["pgrep", "-f", f"convert_hf_to_gguf.py.*{out}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


@needs_llama_cpp
def test_llama_cpp_install_cli_is_a_noop_here() -> None:
    result = cli("llama-cpp", "install", "--source", "sdist")
    assert result.returncode == 0, result.stderr
    assert "[skip] already built" in result.stdout and "completed: llama.cpp ready" in result.stdout


@needs_llama_cpp
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_during_verify_leaves_no_llama_server(full_run: RunResult, sharded_base: Path, lora_adapter: Path,
                                                     tmp_path: Path, sig: int) -> None:
    from core.convert.pipeline import STATE_FILE
    from tests.convert.conftest import light_copy

    out = light_copy(full_run.output_dir, tmp_path / "verify")
    state = json.loads((out / STATE_FILE).read_text())
    del state["steps"]["verify"]  # everything else is done: the run goes straight to llama-server
    (out / STATE_FILE).write_text(json.dumps(state))
    proc = subprocess.Popen([sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out),
                             "--adapter-path", str(lora_adapter), "--base-model", str(sharded_base),
                             "--merge-method", "low-ram", "--model-name", "smol-coach", "--verbose"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if ("llama-server" in line and "$ " in line) or not line:
            break
    server = []
    while time.monotonic() < deadline and not server:  # the server process exists
        server = [p for p in _pids_with(str(out / "smol-coach-Q4_K_M.gguf")) if "llama-server" in _cmd(p)]
        time.sleep(0.1)
    assert server, "llama-server did not start"
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig
    for _ in range(100):
        if not _pids_with(str(out)):
            break
        time.sleep(0.1)
    assert _pids_with(str(out)) == []  # no llama-server (or anything else) holding the port and the memory


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _pids_with(text: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid() and text in _cmd(int(name)):
            try:
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(int(name))
    return found
