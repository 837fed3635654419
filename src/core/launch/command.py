"""The exact commands a launch runs, built so the guide's CLI mistakes cannot happen.

* `hf jobs uv run`: every flag BEFORE the script path (flags after it are not Jobs options);
  `--secrets HF_TOKEN` (plural, and a bare name: the CLI fills in the logged-in token); `uv run`,
  never `run uv`; an explicit `--namespace`; `--timeout` always set (the server default is 30 min).
* local: the same script with `uv run` (PEP 723 header) or a Python that already has the packages.
* MLX: `python -m mlx_lm.lora` with `--mask-prompt` (loss on assistant turns only).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from core.errors import TunerError
from core.launch.config import LaunchConfig, format_duration, label_value, parse_timeout

SECRET_NAMES = ("HF_TOKEN",)
"""Secrets passed to a job, by name only: their values never enter a command, script or store row."""
LABEL_APP = "tui-tuner"


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]

    @property
    def line(self) -> str:
        return shlex.join(self.argv)

    def shell_lines(self, width: int) -> list[str]:
        """The command as shell lines of at most `width` columns, ending in ` \\` but the last, the following
        ones indented: pasted into a shell it runs as `line` (a terminal copies a soft-wrapped line with
        breaks that would end the command midway). Breaks between arguments, keeping an option with its
        value where they fit a line together; an argument wider than `width` has a line of its own."""
        indent, tail = "  ", " \\"
        lines: list[str] = []
        current = ""

        def add(piece: str) -> None:
            nonlocal current
            candidate = f"{current} {piece}" if current else piece
            if not current or len(candidate) + len(tail) <= width:
                current = candidate
            else:
                lines.append(current + tail)
                current = indent + piece

        for group in _option_groups(self.argv):
            joined = " ".join(group)
            if len(group) == 1 or len(f"{current} {joined}") + len(tail) <= width \
                    or len(indent + joined) + len(tail) <= width:
                add(joined)
            else:  # wider than a line: its arguments one by one
                for arg in group:
                    add(arg)
        if current:
            lines.append(current)
        return lines


def _option_groups(argv: tuple[str, ...]) -> list[list[str]]:
    """Quoted argv in the pieces a line should not break: the program and its subcommands (`hf jobs uv run`),
    each option with its value (`--flavor a10g-large`)."""
    groups: list[list[str]] = []
    leading = True
    for arg in argv:
        quoted = shlex.quote(arg)
        if arg.startswith("-"):
            leading = False
            groups.append([quoted])
        elif groups and (leading or (len(groups[-1]) == 1 and groups[-1][0].startswith("-"))):
            groups[-1].append(quoted)  # a subcommand word, or the value of the option before it
        else:
            groups.append([quoted])
    return groups


def job_labels(run_name: str) -> dict[str, str]:
    """Labels on every HF job tui-tuner submits (the monitor can filter on `app=tui-tuner`)."""
    return {"app": LABEL_APP, "run": label_value(run_name)}


def job_env(run_name: str) -> dict[str, str]:
    """Plain (non-secret) environment for the job: fixes the run name the store and Trackio share."""
    return {"TUI_TUNER_RUN_NAME": run_name}


def hf_jobs_command(config: LaunchConfig, script_path: str, *, namespace: str, run_name: str) -> Command:
    """The `hf jobs uv run` line equivalent to what the launcher submits through huggingface_hub."""
    try:
        timeout = format_duration(parse_timeout(config.timeout))
    except TunerError:  # shown as typed; preflight reports it next to the field
        timeout = config.timeout
    argv = ["hf", "jobs", "uv", "run", "--flavor", config.flavor, "--timeout", timeout]
    for name in SECRET_NAMES:
        argv += ["--secrets", name]
    for key, value in job_env(run_name).items():
        argv += ["-e", f"{key}={value}"]
    argv += ["--namespace", namespace, "--name", label_value(run_name)]
    for key, value in job_labels(run_name).items():
        argv += ["--label", f"{key}={value}"]
    argv += ["--detach", script_path]  # the script path comes LAST: flags after it are not Jobs flags
    return Command(tuple(argv))


def local_command(script_path: str, *, python: str | None = None) -> Command:
    """`uv run <script>` (resolves the PEP 723 header), or `<python> <script>` with an existing environment."""
    if python:
        return Command((python, script_path))
    return Command(("uv", "run", "--script", script_path))


def mlx_iters(config: LaunchConfig, num_examples: int | None) -> int:
    """mlx_lm counts iterations (batches), not epochs."""
    if config.max_steps:
        return int(config.max_steps)
    per_epoch = -(-max(1, num_examples or 1) // max(1, config.batch_size))
    return max(1, int(per_epoch * config.epochs))


def mlx_lora_parameters(config: LaunchConfig) -> dict[str, object]:
    """mlx_lm takes LoRA rank/scale only from its YAML config (`lora_parameters`), not from flags."""
    return {
        "lora_parameters": {
            "rank": config.lora_r,
            "alpha": config.lora_alpha,
            "dropout": config.lora_dropout,
            "scale": round(config.lora_alpha / max(1, config.lora_r), 4),
        }
    }


def mlx_command(config: LaunchConfig, *, python: str, data_dir: str, adapter_dir: str, num_examples: int | None,
                config_file: str | None = None) -> Command:
    """The guide's `mlx_lm.lora` command, with prompt masking on when the loss is on assistant turns."""
    argv = [
        python, "-m", "mlx_lm.lora",
        "--model", config.base_model,
        "--train",
        "--data", data_dir,
        # Unknown dataset size (a preview): say how the number is made instead of inventing one.
        "--iters", str(mlx_iters(config, num_examples)) if num_examples is not None or config.max_steps
        else "<examples/batch*epochs>",
        "--batch-size", str(config.batch_size),
        "--num-layers", str(config.mlx_lora_layers),
        "--learning-rate", str(config.learning_rate),
        "--max-seq-length", str(config.max_length),
        "--steps-per-report", str(config.logging_steps),
        "--save-every", str(config.save_steps),
        "--adapter-path", adapter_dir,
        "--seed", str(config.seed),
    ]
    if config_file:
        argv += ["--config", config_file]
    if config.gradient_checkpointing:
        argv.append("--grad-checkpoint")
    if config.loss_on == "assistant":
        argv.append("--mask-prompt")
    return Command(tuple(argv))
