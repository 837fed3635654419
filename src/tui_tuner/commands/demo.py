"""`tui-tuner demo`: the whole loop on this machine's CPU, no account needed.

    tui-tuner demo                         # in the TUI: the real screens follow each step
    tui-tuner demo --headless              # the same steps as lines and progress bars (CI, scripts)
    tui-tuner demo --json                  # one JSON event per line
    tui-tuner demo --model-gguf FILE       # the model from a local GGUF instead of the Hub

Rerun the same command to resume: finished steps whose outputs still exist are skipped. Only argparse
at import time; the demo's code loads in the handler.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "demo", parents=[parent], help="the whole loop on a tiny model, on this CPU, no account",
        description="Plan, fine-tune SmolLM2-135M-Instruct with LoRA on 60 coaching conversations (local "
                    "backend, CPU), convert it to GGUF, evaluate it against the base model with llama-server "
                    "and read the report, in about ten minutes on two cores once llama.cpp is built. It proves "
                    "the pipeline, not quality. Rerun to resume; Ctrl-C stops every child process.")
    p.add_argument("--headless", action="store_true", help="print the steps with progress bars instead of the TUI")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="where everything goes (default: demo/ under the user data dir, see `tui-tuner locate`)")
    p.add_argument("--model-gguf", type=Path, default=None, metavar="FILE",
                   help="start from this GGUF of SmolLM2-135M-Instruct instead of the Hub")
    p.add_argument("--fresh", action="store_true", help="ignore what an earlier run left and do every step again")
    p.add_argument("--steps", type=int, default=None, metavar="N", help="training steps (default 30)")
    p.add_argument("--personas", type=int, default=None, metavar="N", help="evaluation personas (default 4)")
    p.add_argument("--verbose", "-v", action="store_true", help="headless: print every tool line too")
    p.set_defaults(func=_demo)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The demo's settings; relative paths are resolved against the working directory here, once."""
    from core.demo.settings import DemoSettings

    settings = DemoSettings()
    if args.output_dir is not None:
        settings.output_dir = Path(args.output_dir).expanduser().absolute()
    if args.model_gguf is not None:
        settings.model_gguf = Path(args.model_gguf).expanduser().absolute()
        if not settings.model_gguf.is_file():
            from core.errors import TunerError

            raise TunerError(f"{args.model_gguf}: no such file", field="model-gguf")
    if args.steps is not None:
        settings.max_steps = args.steps
    if args.personas is not None:
        settings.personas = args.personas
    settings.validate()
    return settings


def _demo(args: argparse.Namespace) -> int:
    from core.demo.checks import require_demo_extras

    settings = settings_from_args(args)
    require_demo_extras()
    if args.headless or args.json:
        from tui_tuner.demo.headless import run_headless

        return run_headless(settings, fresh=args.fresh, json_lines=args.json, verbose=args.verbose)
    if not sys.stdout.isatty():
        from core.errors import TunerError

        raise TunerError("the demo's TUI needs a terminal", hint="use `tui-tuner demo --headless` in scripts and CI")
    from tui_tuner.demo.app import run_demo_app

    return run_demo_app(settings, fresh=args.fresh)
