"""`tui-tuner launch` without the network: print the script, presets, MLX availability."""

from __future__ import annotations

import ast
import platform
from pathlib import Path

import pytest

from core.launch.backends import mlx
from core.launch.config import LaunchConfig, load_preset
from tests.conftest import assert_no_canary
from tui_tuner.cli import main


def test_print_script_is_runnable_python(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--model", "Qwen/Qwen3-14B", "--dataset", "me/ds", "--print-script"]) == 0
    out = capsys.readouterr().out
    ast.parse(out)
    assert out.startswith("# /// script") and "MODEL_ID = 'Qwen/Qwen3-14B'" in out
    assert_no_canary(out)


def test_preset_flags_override_and_save(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('[launch]\nbase_model = "google/gemma-3-12b-it"\nlora_r = 32\nepochs = 2\n')
    saved = tmp_path / "out.toml"
    assert main(["launch", "--preset", str(preset), "--lora-r", "8", "--lr", "1e-4", "--dataset", "me/ds",
                 "--save-preset", str(saved), "--print-script"]) == 0
    config = load_preset(saved)
    assert (config.base_model, config.lora_r, config.learning_rate, config.epochs) == ("google/gemma-3-12b-it", 8,
                                                                                      1e-4, 2.0)
    assert "LORA_R = 8" in capsys.readouterr().out


def test_bad_flag_value_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["launch", "--epochs", "three", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: epochs: 'three' is not a valid float (in command line)"


def test_mlx_backend_refuses_plainly_off_apple_silicon(chat_jsonl: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        pytest.skip("this machine can run MLX")
    code = main(["launch", "--backend", "mlx", "--model", "mlx-community/gemma-3-12b-it-8bit", "--dataset",
                 str(chat_jsonl), "--offline"])
    out = capsys.readouterr()
    assert code == 2 and "MLX needs Apple Silicon" in out.out + out.err and "Traceback" not in out.err


def test_mlx_data_dir_has_train_and_valid(tmp_path: Path, chat_jsonl: Path) -> None:
    n = mlx.prepare_data_dir(LaunchConfig(dataset=str(chat_jsonl), backend="mlx"), tmp_path / "data")
    train = (tmp_path / "data" / "train.jsonl").read_text().splitlines()
    valid = (tmp_path / "data" / "valid.jsonl").read_text().splitlines()
    assert n == len(train) == 15 and len(valid) == 1
