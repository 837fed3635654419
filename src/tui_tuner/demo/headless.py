"""`tui-tuner demo --headless` and `--json`: the demo's events as lines with rich progress bars, or JSON.

On a terminal each running step has a live progress bar (rich); in a log (CI) progress is printed every
tenth of the way instead, so the log stays short. SIGINT, SIGTERM and SIGHUP cancel the run: each step's
cleanup ends what it started (training job, converter, llama-server) before the command exits.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from core.demo import events as ev
from tui_tuner.output import emit_json_line

EXIT_FAILED = 2


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class HeadlessPrinter:
    """Human rendering of the demo's events."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self.verbose = verbose
        self.live = self.console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self._bucket: int | None = None
        self.status = ""

    # -- progress bar (terminal only) -----------------------------------------------------------------
    def _start_bar(self, title: str) -> None:
        if not self.live:
            return
        self.progress = Progress(TextColumn("    "), BarColumn(bar_width=30), TaskProgressColumn(),
                                 TextColumn("{task.description}"), TimeElapsedColumn(), console=self.console,
                                 transient=True)
        self.progress.start()
        self.task = self.progress.add_task(title, total=None)

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        self.progress, self.task = None, None

    def print(self, text: str | Text) -> None:
        self.console.print(text)

    # -- events ---------------------------------------------------------------------------------------
    def handle(self, event: ev.DemoEvent) -> None:
        match event:
            case ev.DemoStarted():
                verb = "resuming in" if event.resumed else "writing to"
                self.print(Text.assemble(("tui-tuner demo", "bold"), f": {len(event.steps)} steps, {verb} ",
                                         (event.output_dir, "bold")))
            case ev.StepStarted():
                self._bucket = None
                self.print(Text.assemble((f"[{event.index}/{event.total}] ", "bold cyan"), (event.title, "bold")))
                self._start_bar(event.title)
            case ev.StepLog():
                self._log(event)
            case ev.StepProgress():
                self._progress(event)
            case ev.StepFinished():
                self._stop_bar()
                if event.skipped:
                    self.print(Text(f"    ↷ already done: {event.summary}", style="green"))
                else:
                    self.print(Text.assemble(("    ✓ ", "bold green"), event.summary,
                                             (f"  ({_duration(event.seconds)})", "dim")))
            case ev.StepFailed():
                self._stop_bar()
                self.print(Text.assemble(("    ✗ ", "bold red"), (event.error, "bold red")))
                if event.hint:
                    self.print(Text.assemble(("      fix: ", "bold"), event.hint))
            case ev.DemoFinished():
                self._stop_bar()
                self.status = event.status
                self.print("")
                for line in event.lines:
                    self.print(Text(line, style="bold" if not line.startswith(" ") else ""))
                if event.summary_path:
                    self.print(Text(f"(also in {event.summary_path})", style="dim"))

    def _log(self, event: ev.StepLog) -> None:
        if event.level == "detail" and not self.verbose:
            return
        if event.text.startswith("$ ") and not self.verbose:
            return
        style = {"warning": "yellow", "error": "bold red"}.get(event.level, "dim")
        self.print(Text(f"    {event.text}", style=style))

    def _progress(self, event: ev.StepProgress) -> None:
        eta = f", ETA {_duration(event.eta_s)}" if event.eta_s is not None else ""
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=event.total, completed=event.done,
                                 description=f"{event.label}{eta}")
            return
        fraction = event.fraction
        if fraction is None:
            return
        bucket = int(fraction * 10)
        if bucket != self._bucket:
            self._bucket = bucket
            self.print(Text(f"    {fraction:5.0%} {event.label}{eta}", style="dim"))

    def close(self) -> None:
        self._stop_bar()


def run_headless(settings: Any, *, fresh: bool = False, json_lines: bool = False, verbose: bool = False) -> int:
    from core.demo.runner import DemoRun
    from core.process_tree import Interrupted, quiet_output, run_until_signal

    run = DemoRun(settings, fresh=fresh)
    printer = None if json_lines else HeadlessPrinter(verbose=verbose)
    final: dict[str, str] = {}

    async def main() -> None:
        async with contextlib.aclosing(run.events()) as events:
            async for event in events:
                if printer is None:
                    emit_json_line(ev.event_to_dict(event))
                else:
                    printer.handle(event)
                match event:
                    case ev.DemoFinished():
                        final["status"] = event.status

    try:
        run_until_signal(main)
    except Interrupted as stop:
        if printer is not None:
            printer.close()
        if stop.signum == signal.SIGHUP:  # the terminal is gone
            quiet_output()
        message = f"canceled during the {run.current or 'first'} step; every child process was stopped. " \
                  f"Run the same command again to resume (everything is in {run.out})."
        if json_lines:
            emit_json_line({"event": "DemoFinished", "status": "canceled", "output_dir": str(run.out)})
        print(message, file=sys.stderr)
        return stop.exit_code
    finally:
        if printer is not None:
            printer.close()
    return 0 if final.get("status") == "completed" else EXIT_FAILED
