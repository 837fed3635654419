"""`tui-tuner llama-cpp install|status`: the managed llama.cpp build (contract D)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

from tui_tuner.output import emit_json, emit_json_line

if TYPE_CHECKING:
    from core.convert.events import ConvertEvent, Progress


class EventPrinter:
    """Human rendering of the event stream shared by `convert` and `llama-cpp install`.

    Step starts/ends, warnings and errors are printed as lines; progress is redrawn in place on a
    terminal and printed every 10% otherwise (logs of a detached run stay short). `verbose` prints
    every raw tool line too.
    """

    def __init__(self, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bucket: dict[str, int] = {}
        self._last_draw = 0.0
        self._drawn = False

    def _line(self, text: str) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def handle(self, event: ConvertEvent) -> None:
        from core.convert.events import (
            LogLine,
            PipelineFinished,
            Progress,
            StepFailed,
            StepFinished,
            StepStarted,
        )

        match event:
            case StepStarted():
                self._line(f"==> {event.step}: {event.title}")
                if event.command:
                    self._line(f"    $ {event.command}")
            case LogLine():
                if self.verbose or event.level in {"warning", "error"} or event.text.startswith("$ "):
                    self._line(f"    {event.text}")
            case Progress():
                self._progress(event)
            case StepFinished():
                tag = "skip" if event.skipped else "done"
                took = f" ({event.seconds:.1f}s)" if event.seconds >= 0.1 else ""
                self._line(f"    [{tag}] {event.summary}{took}")
            case StepFailed():
                self._line(f"    [FAILED] {event.step}: {event.error}")
                if event.hint:
                    self._line(f"    fix: {event.hint}")
            case PipelineFinished():
                self._line(f"{event.status}: {event.message}" if event.message else event.status)
                for path in event.kept:
                    self._line(f"    kept {path}")

    def _progress(self, event: Progress) -> None:
        frac = event.fraction
        pct = "" if frac is None else f"{frac * 100:5.1f}% "
        text = f"    {pct}{event.label}"[:100]
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1 or frac == 1.0:
                self.stream.write("\r\x1b[K" + text)
                self.stream.flush()
                self._drawn = True
                self._last_draw = now
            return
        if frac is None:
            return
        bucket = int(frac * 10)
        if self._bucket.get(event.step + event.unit) != bucket:
            self._bucket[event.step + event.unit] = bucket
            self._line(text)


async def drive(events: AsyncIterator[ConvertEvent], args: argparse.Namespace) -> str:
    """Consume an event stream for the CLI; returns the final status."""
    from core.convert.events import PipelineFinished, event_to_dict

    printer = None if args.json else EventPrinter(verbose=getattr(args, "verbose", False))
    status = "completed"
    async for event in events:
        if args.json:
            emit_json_line(event_to_dict(event))
        else:
            assert printer is not None
            printer.handle(event)
        match event:
            case PipelineFinished():
                status = event.status
    return status


def _status(args: argparse.Namespace) -> int:
    from core.llama_cpp import locate_llama_cpp, probe_converter

    inst = locate_llama_cpp()
    data = inst.to_dict()
    if args.probe and inst.convert_script is not None:
        problem = probe_converter(inst)
        data["converter_runs"] = problem is None
        if problem:
            inst.problems.append(f"converter does not start: {problem}")
            data["problems"] = inst.problems
            data["ok"] = False
    if args.json:
        emit_json(data)
    else:
        print(f"llama.cpp  {data['root'] or 'not found'}  ({data['source']})")
        print(f"commit     {data['commit'] or 'unknown'}")
        for key in ("convert_script", "convert_lora_script", "gguf_py", "quantize_bin", "server_bin"):
            print(f"{key:20} {data[key] or 'MISSING'}")
        if "converter_runs" in data:
            print(f"{'converter starts':20} {'yes' if data['converter_runs'] else 'no'}")
        for problem in inst.problems:
            print(f"problem: {problem}")
        if not inst.problems:
            print("ok")
    return 0 if not inst.problems else 1


def _install(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.llama_cpp.install import install_llama_cpp
    from core.process_tree import Interrupted, quiet_output, run_until_signal

    events = install_llama_cpp(args.source, python=args.python, jobs=args.jobs,
                               sdist_file=Path(args.sdist_file) if args.sdist_file else None,
                               force_rebuild=args.rebuild)
    try:
        # SIGINT, SIGTERM and SIGHUP stop the build with every compiler process it started.
        status = run_until_signal(lambda: drive(events, args))
    except Interrupted as stop:
        if stop.name == "SIGHUP":
            quiet_output()
        print(f"\ninterrupted by {stop.name}: the build stopped; run the same command to start it again",
              file=sys.stderr)
        return stop.exit_code
    return 0 if status == "completed" else 1


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("llama-cpp", parents=[parent], help="find, check and build llama.cpp")
    sub = parser.add_subparsers(dest="llama_cpp_command", metavar="ACTION", required=True)

    status = sub.add_parser("status", parents=[parent], help="where llama.cpp is and what is missing")
    status.add_argument("--probe", action="store_true",
                        help="also start the converter (--help) to catch gguf-py/script version skew")
    status.set_defaults(func=_status)

    install = sub.add_parser("install", parents=[parent],
                             help="get the pinned llama.cpp and build llama-quantize + llama-server (no-op when built)")
    install.add_argument("--source", choices=["auto", "sdist", "git"], default="auto",
                         help="git: fetch the pinned commit from GitHub; sdist: vendor/llama.cpp of the "
                              "llama-cpp-python sdist from PyPI (offline-friendly); auto (default): a tree "
                              "already built, else git when GitHub answers, else sdist")
    install.add_argument("--sdist-file", help="use this llama_cpp_python-*.tar.gz instead of downloading it")
    install.add_argument("--python", default=sys.executable,
                         help="interpreter whose environment gets the converter's requirements")
    install.add_argument("--jobs", "-j", type=int, default=None, help="parallel build jobs (default: all cores)")
    install.add_argument("--rebuild", action="store_true", help="rebuild even if the binaries work")
    install.add_argument("--verbose", "-v", action="store_true", help="print every build line")
    install.set_defaults(func=_install)
