"""`tui-tuner launch`: the launcher, headless.

    tui-tuner launch --preset gemma.toml --dataset me/coaching --output-repo me/gemma-coach --dry-run
    tui-tuner launch --backend local --model ./smollm2 --dataset data.jsonl --no-load-in-4bit --max-steps 5
    tui-tuner launch --preset gemma.toml --print-script > train.py

Settings come from (later wins): built-in defaults, `[launch]` in the user config, `--preset FILE`,
then flags. Preflight always runs before a submission; any error stops it (exit 2) and nothing is
submitted. Only argparse and dataclasses are imported here: the core loads the rest on demand.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from core.errors import TunerError
from tui_tuner.output import emit_json

# Friendly aliases for the most used settings (the long --field-name form always works too).
ALIASES = {
    "base_model": ["--model"],
    "gradient_accumulation": ["--grad-accum"],
    "learning_rate": ["--lr"],
    "warmup_ratio": ["--warmup"],
    "dataset_split": ["--split"],
    "mlx_lora_layers": ["--lora-layers"],
}
HELP = {
    "base_model": "Hub id (the instruction-tuned variant) or local model folder",
    "dataset": "Hub dataset id or local .jsonl with a `messages` list per line",
    "output_repo": "Hub repo to push the adapter to (user/name)",
    "lora_targets": "comma-separated module names, or all-linear",
    "timeout": "job timeout: 6h, 90m, 2d",
    "max_steps": "stop after N optimizer steps (0 = all epochs)",
    "loss_on": "assistant (loss on assistant turns only) or all",
    "load_in_4bit": "QLoRA: load the base model in 4-bit (needs CUDA)",
    "namespace": "HF Jobs namespace (user or org); default: you",
    "gpus": "GPUs to train on (0 = every GPU of the flavor or this machine)",
    "strategy": "auto (DDP if the model fits one GPU, else FSDP full-shard), ddp, fsdp or single",
}
ICONS = {"error": "✗", "warning": "!", "info": "·", "ok": "✓"}


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    from core.launch.config import BACKENDS, LaunchConfig

    parser = subparsers.add_parser(
        "launch", parents=[parent], help="generate the training script, preflight it, submit it",
        description="Generate a PEP 723 TRL+PEFT+Trackio training script, check it, and run it on HF Jobs, "
                    "this machine, or MLX.")
    parser.add_argument("--backend", choices=BACKENDS, help="where to run (default hf-jobs)")
    parser.add_argument("--preset", type=Path, help="TOML preset to start from")
    parser.add_argument("--save-preset", metavar="FILE",
                        help="write the final settings to a TOML preset ('-' prints it) and submit nothing "
                             "(with --dry-run or --print-script, then do that); launch it with --preset FILE")
    parser.add_argument("--dry-run", action="store_true", help="preflight and show the command; submit nothing")
    parser.add_argument("--print-script", action="store_true", help="print the generated script and exit")
    parser.add_argument("--offline", action="store_true", help="skip Hub checks (reported as skipped)")
    parser.add_argument("--wait", action="store_true", help="local/MLX: wait until the job ends")
    group = parser.add_argument_group("settings (override the preset)")
    for f in dataclasses.fields(LaunchConfig):
        if f.name == "backend":
            continue
        flags = [f"--{f.name.replace('_', '-')}", *ALIASES.get(f.name, [])]
        default = LaunchConfig().__getattribute__(f.name)
        kwargs: dict[str, Any] = {"dest": f"set_{f.name}", "default": None, "help": HELP.get(f.name)}
        if isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = f.name.split("_")[-1].upper()
        group.add_argument(*flags, **kwargs)
    parser.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> Any:
    from core.config import load_config
    from core.launch.config import LaunchConfig, load_preset

    base: dict[str, Any] = dict(load_config().section("launch"))
    base.pop("local_python", None)  # an app setting, not a launch setting
    config = LaunchConfig.from_dict(base, source="config [launch]") if base else LaunchConfig()
    if args.preset:
        config = load_preset(args.preset)
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None}
    if args.backend:
        overrides["backend"] = args.backend
    if overrides:
        config = LaunchConfig.from_dict({**config.to_dict(), **overrides}, source="command line")
    return absolute_local_paths(config)


def absolute_local_paths(config: Any) -> Any:
    """A local dataset or model folder typed relative to the user's folder, made absolute once, here: the
    job runs in its own folder (and a detached supervisor), where `data.jsonl` would name nothing."""
    import os

    changes = {}
    if config.dataset_is_local:
        changes["dataset"] = os.path.abspath(os.path.expanduser(config.dataset.strip()))
    if config.model_is_local:
        changes["base_model"] = os.path.abspath(os.path.expanduser(config.base_model.strip()))
    return dataclasses.replace(config, **changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from core.launch import launcher
    from core.launch.config import save_preset
    from core.launch.preflight import PreflightOptions

    config = build_config(args)
    if args.save_preset:
        path = save_preset(config, args.save_preset, allow_stdout=True)  # '-': print it
        if path is not None and not args.json:
            print(f"preset saved to {path}", file=sys.stderr)
        if not (args.dry_run or args.print_script):
            # Saving settings is not an order to spend money: a submission takes a command of its own.
            if not args.json:
                print(f"nothing submitted; to launch it: tui-tuner launch --preset {path or 'FILE'}", file=sys.stderr)
            elif path is not None:
                emit_json({"preset": str(path), "submitted": False})
            return 0
    if args.print_script:
        script, _ = launcher.preview(config)
        sys.stdout.write(script.text)
        return 0
    if not args.dry_run:  # a run this Python cannot start fails before any network check
        launcher.require_backend_packages(config.backend)

    the_plan = launcher.plan(config, PreflightOptions(online=not args.offline))
    if args.dry_run or the_plan.report.errors:
        if args.json:
            emit_json({"dry_run": True, "plan": the_plan.to_dict()})
        else:
            _print_plan(the_plan)
        if the_plan.report.errors:
            raise TunerError(f"preflight found {len(the_plan.report.errors)} error(s); nothing was submitted",
                             hint=the_plan.report.errors[0].one_line())
        return 0

    job = launcher.launch(the_plan)
    if args.wait and job.backend in {"local", "mlx"}:
        from core.launch.backends import local

        job = local.wait(job.id, timeout_s=float(config.timeout_seconds()) + 120)
    result = {"job": {"id": job.id, "backend": job.backend, "name": job.name, "status": job.status,
                      "namespace": job.namespace, "log_path": job.log_path, "command": job.command,
                      "url": job.extra.get("job_url")},
              "plan": the_plan.to_dict()}
    if args.json:
        emit_json(result)
    else:
        _print_plan(the_plan)
        print(f"\nlaunched {job.backend} job {job.id} ({job.status})")
        if job.extra.get("job_url"):
            print(f"  {job.extra['job_url']}")
        if job.log_path:
            print(f"  log: {job.log_path}")
        print(f"  follow it: tui-tuner jobs logs {job.id} -f")
    return 0 if job.status not in {"ERROR", "CANCELED"} else 1


def _print_plan(the_plan: Any) -> None:
    report = the_plan.report
    print(f"preflight ({the_plan.config.backend}, run {the_plan.run_name}):")
    for finding in report.sorted():
        print(f"  {ICONS[finding.severity]} {finding.severity:<7} {finding.one_line()}")
    print("\ncommand:")
    print(f"  {the_plan.command.line}")
