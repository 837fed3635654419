"""The submission command makes none of the guide's CLI mistakes."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from core.launch.command import hf_jobs_command, local_command, mlx_command, mlx_iters
from core.launch.config import LaunchConfig


def test_flags_before_script_and_secret_by_name(hub_config: LaunchConfig) -> None:
    cmd = hf_jobs_command(hub_config, "train.py", namespace="tester", run_name="gemma-sft-20260101-000000-abcd")
    argv = list(cmd.argv)
    assert argv[:4] == ["hf", "jobs", "uv", "run"], "uv run, never `run uv`"
    assert argv[-1] == "train.py", "the script path comes last: flags after it are ignored"
    assert all(not a.startswith("-") for a in argv[argv.index("train.py"):][1:])
    i = argv.index("--secrets")
    assert argv[i + 1] == "HF_TOKEN", "a bare name: the CLI fills in the logged-in token"
    assert "--secret" not in argv
    assert not any("=" in a and a.startswith("HF_TOKEN") for a in argv)
    assert argv[argv.index("--flavor") + 1] == "a100-large"
    assert argv[argv.index("--timeout") + 1] == "6h"
    assert argv[argv.index("--namespace") + 1] == "tester"
    assert cmd.line.startswith("hf jobs uv run --flavor a100-large --timeout 6h --secrets HF_TOKEN ")


def test_local_command() -> None:
    assert local_command("/x/train.py").argv == ("uv", "run", "--script", "/x/train.py")
    assert local_command("/x/train.py", python="/venv/bin/python").argv == ("/venv/bin/python", "/x/train.py")


def test_mlx_command_is_the_guides(hub_config: LaunchConfig) -> None:
    config = hub_config.replace(backend="mlx", base_model="mlx-community/gemma-3-12b-it-8bit", batch_size=1,
                                epochs=3, mlx_lora_layers=16)
    cmd = mlx_command(config, python="python", data_dir="data/processed/mlx_training", adapter_dir="adapters",
                      num_examples=1000)
    argv = list(cmd.argv)
    assert argv[:3] == ["python", "-m", "mlx_lm.lora"]
    assert argv[argv.index("--model") + 1] == "mlx-community/gemma-3-12b-it-8bit"
    assert "--train" in argv and "--mask-prompt" in argv
    assert argv[argv.index("--iters") + 1] == "3000"
    assert argv[argv.index("--num-layers") + 1] == "16"
    assert argv[argv.index("--data") + 1] == "data/processed/mlx_training"
    assert mlx_iters(config.replace(max_steps=7), 1000) == 7
    all_tokens = mlx_command(config.replace(loss_on="all"), python="python", data_dir="d", adapter_dir="a",
                             num_examples=10)
    assert "--mask-prompt" not in all_tokens.argv


def test_the_real_hf_cli_reads_our_command_as_intended(hub_config: LaunchConfig, tmp_path) -> None:
    """`hf jobs uv run ... --dry-run` (huggingface_hub's own CLI, no network) parses the displayed command
    into exactly the job we submit through the Python API."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from core.launch.script import render_script

    hf = Path(sys.executable).with_name("hf")
    if not hf.exists():
        import pytest

        pytest.skip("the hf CLI is not installed next to this Python")
    script = tmp_path / "train_gemma.py"
    script.write_text(render_script(hub_config).text)
    argv = list(hf_jobs_command(hub_config, str(script), namespace="tester", run_name="gemma-sft-1").argv)
    argv = [str(hf), *argv[1:-1], "--dry-run", argv[-1]]
    env = {**os.environ, "NO_COLOR": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}  # no PyPI/Hub update probe
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=True).stdout
    fields = {}
    key = None
    for line in out.splitlines():
        parts = line.split(None, 1)
        if line.startswith("  ") and not line.startswith("    ") and len(parts) == 2:
            key, value = parts
            fields.setdefault(key, []).append(value.strip())
        elif key and line.startswith("    ") and parts:
            fields[key].append(line.strip())
    assert fields["flavor"] == ["a100-large"] and fields["timeout"] == ["6h"]
    assert fields["secrets"] == ["HF_TOKEN=***"]
    assert fields["env"] == ["TUI_TUNER_RUN_NAME=gemma-sft-1"]
    assert sorted(fields["labels"]) == ["app=tui-tuner", "name=gemma-sft-1", "run=gemma-sft-1"]
    assert fields["namespace"] == ["tester"] and fields["script"] == [str(script)]
    assert "Job not submitted" in out


def _through_bash(text: str) -> list[str]:
    """The arguments a real shell reads from `text` pasted after `printf '%s\\n'` (one per output line)."""
    out = subprocess.run(["bash", "-c", "printf '%s\\n' " + text], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("width", [40, 60, 76, 92, 400])
def test_shell_lines_fit_and_paste_as_the_same_command(hub_config: LaunchConfig, width: int) -> None:
    """The preview's lines break between arguments with ` \\` continuations: each fits, and pasted into a
    shell they are the very argv that `line` is (a soft-wrapped line pastes as a broken command)."""
    run_name = "gemma-3-12b-it-sft-20260101-000000-abcd"
    for cmd in (hf_jobs_command(hub_config, "train_gemma-3-12b-it.py", namespace="<your-namespace>", run_name=run_name),
                mlx_command(hub_config, python="python", data_dir="data", adapter_dir="adapters", num_examples=None)):
        lines = cmd.shell_lines(width)
        # Each fits, but an argument that is wider by itself (the run name's variable at 40 columns).
        assert all(len(line) <= width or len(shlex.split(line.removesuffix(" \\"))) == 1 for line in lines), lines
        assert all(line.endswith(" \\") for line in lines[:-1]) and not lines[-1].endswith("\\")
        assert all(line.startswith("  ") and not line.startswith("   ") for line in lines[1:])
        assert _through_bash("\n".join(lines)) == list(cmd.argv)
        if width >= 400:
            assert lines == [cmd.line]
    hf = hf_jobs_command(hub_config, "train.py", namespace="tester", run_name=run_name).shell_lines(60)
    assert any("--flavor a100-large" in line for line in hf)  # an option stays with its value
    assert hf[0].startswith("hf jobs uv run ")


def test_an_argument_wider_than_the_line_keeps_a_line_of_its_own() -> None:
    cmd = local_command("/" + "very-long-folder/" * 6 + "train.py", python="python")
    lines = cmd.shell_lines(30)
    assert lines == ["python \\", "  " + cmd.argv[1]]
    assert _through_bash("\n".join(lines)) == list(cmd.argv)
