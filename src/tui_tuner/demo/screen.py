"""The demo's own screen: the step checklist, the running step's progress, a log and, at the end, the summary.

It is the home of `tui-tuner demo` (key 0): the driver switches to the real areas while their step runs
(the jobs area on the training job, the convert area on the conversion, the evaluation viewer at the end)
and this screen keeps the whole picture.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, RichLog, Static

from core.demo import events as ev
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.convert.steps import StepList
from tui_tuner.tones import tone

VIEW_STEP = ("view", "Open the results viewer")
"""The last row of the checklist: the front end's own step, after the core's."""
LOG_TONES = {"warning": "warning", "error": "error", "detail": "muted"}
"""Log level → tone (tui_tuner.tones); info lines are plain."""


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class DemoScreen(AreaScreen):
    AREA = "demo"
    DEFAULT_CSS = """
    DemoScreen #demo-body { height: 1fr; }
    DemoScreen #demo-left { width: 1fr; min-width: 40; padding: 0 1; }
    DemoScreen #demo-title { text-style: bold; margin-bottom: 1; }
    DemoScreen #demo-current { height: auto; margin-top: 1; }
    DemoScreen #demo-progress { margin-bottom: 1; }
    DemoScreen #demo-hint { color: $text-muted; height: auto; }
    DemoScreen #demo-summary { height: auto; margin-top: 1; }
    DemoScreen #demo-log { width: 1fr; border-left: solid $panel; }
    DemoScreen StepList > .step-row { text-wrap: nowrap; text-overflow: ellipsis; }
    DemoScreen.-narrow #demo-body { layout: vertical; }
    DemoScreen.-narrow #demo-left { height: auto; }
    DemoScreen.-narrow #demo-title { margin-bottom: 0; }
    DemoScreen.-narrow #demo-current { margin-top: 0; }
    DemoScreen.-narrow #demo-progress { margin-bottom: 0; }
    DemoScreen.-narrow #demo-hint { display: none; }
    DemoScreen.-narrow #demo-summary { margin-top: 0; }
    DemoScreen.-narrow #demo-log { border-left: none; border-top: solid $panel; min-height: 4; }
    """
    BINDINGS: ClassVar = [
        Binding("l", "focus_log", "Log", id="demo.log"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, str] = {}
        self.output_dir = ""
        self.finished: ev.DemoFinished | None = None
        self._title = ""

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="demo-body"):
            with Vertical(id="demo-left"):
                yield Static("tui-tuner demo: the whole loop on this CPU", id="demo-title")
                yield StepList(id="demo-steps")
                yield Static("", id="demo-current")
                yield ProgressBar(total=None, show_eta=False, id="demo-progress")
                yield Static(Text.assemble(
                    "The areas follow each step: ", ("3", "bold"), " the training job, ", ("4", "bold"),
                    " the conversion, ", ("5", "bold"), " the evaluation; ", ("0", "bold"), " (", ("F6", "bold"), " in a text field) comes back here. ",
                    ("ctrl+q", "bold"), " stops the demo and every process it started; run it again to resume."),
                    id="demo-hint")
                yield Static("", id="demo-summary")
            yield RichLog(id="demo-log", max_lines=5000, wrap=True, markup=False, highlight=False)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")

    def action_focus_log(self) -> None:
        self.query_one("#demo-log", RichLog).focus()

    def log_line(self, text: str | Text, style: str = "") -> None:
        self.query_one("#demo-log", RichLog).write(text if isinstance(text, Text) else Text(text, style=style))

    async def plan(self, steps: list[tuple[str, str]]) -> None:
        await self.query_one(StepList).plan([*steps, VIEW_STEP])
        self.states = {step: "pending" for step, _ in [*steps, VIEW_STEP]}

    def set_state(self, step: str, state: str, summary: str | None = None) -> None:
        self.states[step] = state
        self.query_one(StepList).set_state(step, state, summary)

    def handle(self, event: ev.DemoEvent) -> None:
        """Show one demo event (the driver calls this for every event, whatever area is on screen)."""
        progress = self.query_one("#demo-progress", ProgressBar)
        current = self.query_one("#demo-current", Static)
        match event:
            case ev.DemoStarted():
                self.output_dir = event.output_dir
                verb = "resuming in" if event.resumed else "writing to"
                self.log_line(Text.assemble(("tui-tuner demo ", "bold"), f"{verb} {event.output_dir}"))
            case ev.StepStarted():
                self.set_state(event.step, "running", "")
                self._title = f"[{event.index}/{event.total}] {event.title}"
                current.update(Text(self._title, style="bold"))
                progress.update(total=None, progress=0)
                self.log_line(Text(f"[{event.index}/{event.total}] {event.title}", style="bold"))
            case ev.StepLog():
                self.log_line(f"  {event.text}", tone(LOG_TONES[event.level]) if event.level in LOG_TONES else "")
            case ev.StepProgress():
                if event.total:
                    progress.update(total=event.total, progress=event.done)
                eta = f", ETA {_duration(event.eta_s)}" if event.eta_s is not None else ""
                current.update(Text.assemble((self._title, "bold"), f"\n{event.label}{eta}"))
            case ev.StepFinished():
                self.set_state(event.step, "skipped" if event.skipped else "done", event.summary)
                progress.update(total=1, progress=1)
                took = "" if event.skipped else f" ({_duration(event.seconds)})"
                self.log_line(("  ↷ already done: " if event.skipped else "  ✓ ") + event.summary + took,
                              tone("ok"))
            case ev.StepFailed():
                self.set_state(event.step, "failed", event.error)
                current.update(Text.assemble(("✗ ", tone("error")), (event.error, tone("error")),
                                             (f"\nfix: {event.hint}" if event.hint else "", "")))
                self.log_line(f"  ✗ {event.error}" + (f" (fix: {event.hint})" if event.hint else ""),
                              tone("error"))
            case ev.DemoFinished():
                self.finished = event
                self.show_summary(event)

    def show_error(self, error: BaseException) -> None:
        from core.errors import TunerError
        from core.redact import redact

        line = error.one_line() if isinstance(error, TunerError) else f"{type(error).__name__}: {error}"
        self.query_one("#demo-current", Static).update(Text.assemble(("✗ ", tone("error")), (redact(line), tone("error"))))

    def show_summary(self, event: ev.DemoFinished) -> None:
        style = tone({"completed": "good", "failed": "error"}.get(event.status, "canceled"))
        text = Text()
        for i, line in enumerate(event.lines):
            text.append(("\n" if i else "") + line, style=style if i == 0 else ("" if line.startswith(" ") else "bold"))
        self.query_one("#demo-summary", Static).update(text)
        self.query_one("#demo-current", Static).update(Text(event.lines[0] if event.lines else event.status,
                                                            style=style))
        for line in event.lines:
            self.log_line(line)
