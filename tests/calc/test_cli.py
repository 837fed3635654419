"""`tui-tuner calc` end to end through the real CLI entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CANARY_TOKEN, assert_no_canary
from tui_tuner.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["calc", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_done_when_gemma3_12b_qlora_16k_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--model", "gemma-3-12b", "--method", "qlora", "--max-length", "16384", "--json")
    assert code == 0, err
    data = json.loads(out)
    terms = {t["key"]: t for t in data["estimate"]["terms"]}
    assert round(terms["logits"]["gb"], 1) == 17.2 and data["logits_fp32_gb"] == pytest.approx(17.18, abs=0.01)
    assert data["recommended"]["flavor"] == "a100-large"
    assert data["recommended"]["cost_usd"] > 0 and data["recommended"]["hours"] > 0
    assert data["estimate"]["fits"]["a100-large"] and not data["estimate"]["fits"]["a10g-large"]
    assert {"weights", "adapters", "gradients", "optimizer", "activations", "logits", "cross_entropy",
            "allocator", "cuda_context"} <= set(terms)
    assert_no_canary(out, err)


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-m", "qwen3-8b", "--method", "lora", "--max-length", "4096")
    assert code == 0
    assert "recommended:" in out and "logits (fp32)" in out and "flavor" in out


def test_inference_mode(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-m", "qwen3-14b", "--inference", "--max-length", "16384", "--weights", "fp8",
                       "--json")
    data = json.loads(out)
    assert code == 0 and data["estimate"]["kind"] == "inference" and data["recommended"]


def test_guide_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--guide", "--json")
    data = json.loads(out)
    assert code == 0 and data["logits_gb"][0]["gb"] == [2.1, 8.6, 17.2]
    code, out, _ = run(capsys, "--list-models")
    assert code == 0 and "gemma-3-12b" in out and "smollm2-135m" in out


@pytest.mark.parametrize(("args", "needle"), [
    (("--model", "no-such-model"), "error: model: unknown model"),
    (("--model", "gemma-3-12b", "--max-length", "-5"), "error: max_length: must be positive (got -5)"),
    (("--model", "gemma-3-12b", "--max-length", "lots"), "error: max_length: must be a whole number"),
    (("--model", "gemma-3-12b", "--lora-targets", "q_proj,nope"), "error: lora_targets: Gemma 3 12B has no module 'nope'"),
    (("--model", "gemma-3-12b", "--flavor", "h100"), "error: flavor: unknown flavor"),
    ((), "error: model: --model is required"),
])
def test_bad_inputs_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                        needle: str) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith(needle)


def test_broken_config_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 10,')
    code, _, err = run(capsys, "--model", str(path))
    assert code == 2 and err.startswith("error: model: broken config.json") and err.count("\n") == 1
    code, _, err = run(capsys, "--model", str(path), "--json")
    assert code == 2 and json.loads(err)["field"] == "model"


def test_offline_hub_id_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--model", "someone/private-model")
    assert code == 2 and "unreachable" in err and err.count("\n") == 1
    assert CANARY_TOKEN not in err


def test_real_entry_point_subprocess() -> None:
    proc = subprocess.run([sys.executable, "-m", "tui_tuner", "calc", "-m", "smollm2-135m", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["estimate"]["model"]["total_params"] == 134_515_008
