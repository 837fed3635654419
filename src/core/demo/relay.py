"""Turn the events of the tools a step drives (conversion pipeline, llama.cpp installer, a worker process)
into demo events, and run a worker process as a stream of them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from core.convert import events as cv
from core.convert.logparse import LineParser
from core.convert.process import ProcessOutcome, shell_line, stream_process
from core.demo.events import DemoEvent, StepLog, StepProgress

_TQDM = re.compile(r"^(?P<label>[^|]*?):?\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)")


def relay(step: str, event: cv.ConvertEvent) -> list[DemoEvent]:
    """Demo events for one event of a pipeline (core.convert.events), prefixed with the sub-step."""
    match event:
        case cv.StepStarted():
            out: list[DemoEvent] = [StepLog(step, f"▸ {event.title}")]
            if event.command:
                out.append(StepLog(step, f"$ {event.command}"))
            return out
        case cv.LogLine():
            # A tool's own info lines (per-tensor lines, build output) are detail: the log keeps them, the
            # headless output shows them with --verbose only.
            return [StepLog(step, event.text, "detail" if event.level == "info" else event.level)]
        case cv.Progress():
            label = event.label or event.step
            return [StepProgress(step, event.done, event.total, f"{event.step}: {label}"[:80])]
        case cv.StepFinished():
            return [StepLog(step, ("↷ " if event.skipped else "✓ ") + event.summary)]
        case cv.StepFailed():
            text = f"✗ {event.step}: {event.error}" + (f" (fix: {event.hint})" if event.hint else "")
            return [StepLog(step, text, "error")]
        case cv.PipelineFinished():
            return [StepLog(step, f"{event.status}: {event.message}" if event.message else event.status)]
    return []


class WorkerParser(LineParser):
    """A worker's output: JSON lines `{"kind": "result"|"error", ...}` are kept, tqdm bars become progress."""

    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.result: dict[str, Any] | None = None

    def feed(self, text: str, *, partial: bool = False) -> list[cv.Event]:
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict) and data.get("kind") in {"result", "error"}:
                self.result = data
                return []
        match = _TQDM.search(text)
        if match:
            return [cv.Progress(self.step, float(match["n"]), float(match["total"]) or None, "",
                                match["label"].strip() or "working")]
        return super().feed(text, partial=partial)


def worker_env() -> dict[str, str]:
    """The environment of our own `python -m core...` workers: importable from any working directory."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def run_worker(step: str, module: str, args: Sequence[str], *, parser: WorkerParser,
                     cwd: Path | None = None) -> AsyncIterator[DemoEvent]:
    """Run `python -m module args` in its own process group (killed if the consumer stops) and relay it.

    The worker's final JSON line ends up in `parser.result`; a crash without one leaves it None.
    """
    argv = [sys.executable, "-m", module, *args]
    yield StepLog(step, "$ " + shell_line(argv))
    outcome = ProcessOutcome()
    async with contextlib.aclosing(stream_process(argv, parser, outcome, env=worker_env(), cwd=cwd)) as events:
        async for event in events:  # closing us closes it: the worker's process group is killed
            for demo_event in relay(step, event):
                yield demo_event
    if parser.result is None:
        last = outcome.error_line or (outcome.tail.lines[-1] if outcome.tail.lines else f"exit {outcome.returncode}")
        parser.result = {"kind": "error", "error": f"{module} failed: {last}", "hint": ""}
