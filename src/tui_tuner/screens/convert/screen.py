"""Convert (area 4): the guide's GGUF section as a guided wizard.

Left, the form (adapter, base, output folder, quant types with bits per weight, merge method, options);
right, the plan as a checklist that updates as you type, the live progress of the running tool (current
tensor, Writing bar, quantize [i/n]) and its raw log in a scrollable pane. Runs are resumable: start the
same conversion again and finished steps are skipped. `ctrl+k` cancels: the tool's process group is
killed and the screen says what was kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    Checkbox,
    Input,
    Label,
    ProgressBar,
    RichLog,
    Select,
    SelectionList,
    Static,
)
from textual.widgets.selection_list import Selection
from textual.worker import Worker

from core.config import load_config
from core.convert.events import (
    ConvertEvent,
    LogLine,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepStarted,
)
from core.convert.pipeline import ConversionRun, ConvertSpec, step_title
from core.convert.quant_types import DEFAULT_QUANT, QUANT_TYPES
from core.errors import TunerError
from core.llama_cpp import LlamaCppInstall, locate_llama_cpp
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.convert.steps import StepList
from tui_tuner.tones import tone

LEVEL_TONES = {"error": "error", "warning": "warning"}
"""Log level → tone (tui_tuner.tones); info lines are plain."""
MERGE_METHODS = [("auto (by free RAM)", "auto"), ("peft merge_and_unload", "peft"),
                 ("low-RAM (one shard at a time)", "low-ram")]


def _fmt_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


LOG_HINT = "The tools' own lines (merge, convert, quantize, verify, smoke test) show here during a run."


class ConvertScreen(AreaScreen):
    AREA = "convert"
    CSS_PATH = "convert.tcss"
    AUTO_FOCUS = "#adapter"
    BINDINGS = [
        Binding("ctrl+s", "start", "Start / resume", id="convert.start"),
        Binding("ctrl+k", "cancel", "Cancel", id="convert.cancel"),
        Binding("r", "refresh_llama", "Re-check llama.cpp", id="convert.refresh"),
        Binding("l", "focus_log", "Log", id="convert.log"),
        Binding("escape", "blur", "Back", id="convert.back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run: ConversionRun | None = None
        self.worker: Worker | None = None
        self.llama: LlamaCppInstall | None = None
        self.last_error: tuple[str, str] | None = None
        self._defaults = load_config().section("convert")
        self._recent: dict[str, Any] = {}
        self.external = False
        """A conversion another driver runs is on show (`tui-tuner demo`): the form is its record."""
        self._external_form: dict[str, Any] | None = None

    # layout ----------------------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        d = self._defaults
        with Horizontal(id="convert-body"):
            with VerticalScroll(id="convert-form"):
                yield Static("", id="llama-status")
                yield Button("Install llama.cpp", id="install-llama", variant="warning")
                yield Label("Resume a recent conversion", id="recent-label")
                yield Select([], prompt="recent conversions", id="recent")
                yield Label("Adapter (Hub repo or folder)")
                yield Input(placeholder="user/my-lora  or  ./runs/my-run/adapter", id="adapter")
                yield Label("Base model (Hub id or folder; empty = adapter's base)")
                # A bare id in the placeholder's dim colour reads as a value already chosen; empty is the adapter's base.
                yield Input(placeholder="optional, e.g. Qwen/Qwen3-14B", id="base")
                yield Label("Output folder")
                yield Input(value=str(d.get("output_dir", "")), placeholder="required, e.g. ./my-gguf", id="output")
                yield Label("Model name (files: <name>-<QUANT>.gguf)")
                yield Input(placeholder="from the adapter", id="name")
                yield Label("Quantization (bits per weight)")
                yield SelectionList[str](*self._quant_selections(), id="quants")
                yield Label("Merge")
                yield Select(MERGE_METHODS, value="auto", allow_blank=False, id="merge-method")
                yield Checkbox("Keep the adapter separate (GGUF LoRA)", id="no-merge")
                yield Checkbox("Skip download (use what is there)", id="skip-download")
                yield Checkbox("Skip merge (use merged/ in the output)", id="skip-merge")
                yield Checkbox("Smoke test with llama-server", value=True, id="smoke")
                yield Checkbox("Upload to the Hub", id="upload")
                yield Input(placeholder="GGUF repo (default <you>/<name>-GGUF)", id="gguf-repo")
                yield Static("", id="form-status")
                with Horizontal(id="convert-buttons"):
                    yield Button("Start", id="start", variant="primary")
                    yield Button("Cancel", id="cancel", variant="error", disabled=True)
            with Vertical(id="convert-run"):
                yield Static("Plan", classes="section-title")
                yield StepList(id="steps")
                yield Static("", id="current")
                yield ProgressBar(total=None, show_eta=False, id="progress")
                yield Static("", id="failure")
                yield Static("Log", classes="section-title", id="log-title")
                yield RichLog(id="log", max_lines=5000, wrap=False, markup=False, highlight=False)

    def _quant_selections(self) -> list[Selection[str]]:
        wanted = {q.strip().upper() for q in self._defaults.get("quant_types", [DEFAULT_QUANT])}
        out = []
        for q in QUANT_TYPES:
            if q.name in {"BF16", "F16"}:
                continue
            note = "  needs imatrix" if q.needs_imatrix else ("  *" if q.recommended else "")
            out.append(Selection(f"{q.name:<8}{q.bpw:5.2f} bpw{note}", q.name, q.name in wanted))
        return out

    def on_mount(self) -> None:
        self.query_one("#failure", Static).display = False
        # Hidden until a run: an idle indeterminate bar animates forever, a repaint every frame over SSH.
        self.query_one("#progress", ProgressBar).display = False
        self._log(Text(LOG_HINT, style="dim"))  # an empty box would not say what it is for
        self.action_refresh_llama()
        self.load_recent()
        self.call_after_refresh(self._update_plan)

    # recent runs (the store's conversions table) -----------------------------------------------------------------
    @work(thread=True, exclusive=True, group="convert-recent", exit_on_error=False)
    def load_recent(self) -> None:
        """Read the recent conversions off the event loop (opening the store writes to disk)."""
        from core.convert.records import list_records
        from core.store import Store

        try:
            records = list_records(Store(), limit=15)
        except Exception as exc:  # a broken store must not take the screen down
            self.app.call_from_thread(self.notify, f"cannot read recent conversions: {exc}", severity="warning")
            records = []
        self.app.call_from_thread(self._show_recent, records)

    def _show_recent(self, records: list[Any]) -> None:
        self._recent = {r.id: r for r in records}
        options = [(f"{r.status:<9} {Path(r.output_dir).name}  ({r.id})", r.id) for r in records]
        recent = self.query_one("#recent", Select)
        recent.set_options(options)
        recent.display = bool(options)
        self.query_one("#recent-label", Label).display = bool(options)
        # The rows above the first field changed height, and the quant list scrolled the form to its own
        # highlight as it mounted: show the form from its top, where the focused first field is.
        self.call_after_refresh(self.query_one("#convert-form").scroll_home, animate=False)

    @on(Select.Changed, "#recent")
    def _recent_chosen(self, event: Select.Changed) -> None:
        record = self._recent.get(str(event.value)) if event.value is not Select.BLANK else None
        if record is None:
            return
        self.fill_form(record.spec, record.output_dir)
        self.notify(f"{record.id}: form filled; ctrl+s resumes from the first unfinished step", timeout=6)

    def fill_form(self, spec: dict[str, Any], output_dir: str) -> None:
        """The form as `spec` (a ConvertSpec's `to_dict()`) set it up."""
        values = {"adapter": spec.get("adapter") or "", "base": spec.get("base_model") or "",
                  "output": output_dir, "name": spec.get("model_name") or "",
                  "gguf-repo": spec.get("gguf_repo") or ""}
        for widget_id, value in values.items():
            self.query_one(f"#{widget_id}", Input).value = str(value)
        checks = {"no-merge": spec.get("mode") == "lora", "skip-download": bool(spec.get("skip_download")),
                  "skip-merge": bool(spec.get("skip_merge")), "smoke": spec.get("smoke_test", True),
                  "upload": bool(spec.get("upload"))}
        for widget_id, value in checks.items():
            self.query_one(f"#{widget_id}", Checkbox).value = bool(value)
        self.query_one("#merge-method", Select).value = spec.get("merge_method") or "auto"
        quants = self.query_one("#quants", SelectionList)
        quants.deselect_all()
        known = {q.name for q in QUANT_TYPES}
        for name in spec.get("quant_types") or []:
            if name in known and name not in {"BF16", "F16"}:
                quants.select(name)

    # form → spec -----------------------------------------------------------------------------------------------
    def spec_from_form(self) -> ConvertSpec:
        def val(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        def checked(widget_id: str) -> bool:
            return self.query_one(f"#{widget_id}", Checkbox).value

        quants = tuple(self.query_one("#quants", SelectionList).selected)
        spec = ConvertSpec(
            output_dir=Path(val("output")).expanduser() if val("output") else Path(""),
            base_model=val("base"),
            adapter=val("adapter") or None,
            quant_types=quants or (),
            merge_method=str(self.query_one("#merge-method", Select).value),
            mode="lora" if checked("no-merge") else "merge",
            skip_download=checked("skip-download"),
            skip_merge=checked("skip-merge"),
            smoke_test=checked("smoke"),
            upload=checked("upload"),
            gguf_repo=val("gguf-repo") or None,
            model_name=val("name") or None,
        ).resolved()  # `./models/x` means the app's folder, not the output folder the tools run in
        if not val("output"):
            spec.output_dir = Path("")  # still "required", not the current folder
        return spec

    def _form_problem(self, spec: ConvertSpec) -> str | None:
        if not str(spec.output_dir) or str(spec.output_dir) == ".":
            return "output folder: required"
        try:
            spec.validate()
        except TunerError as exc:
            return exc.one_line()
        return None

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(SelectionList.SelectedChanged)
    async def _form_changed(self) -> None:
        if (self.worker is None or self.worker.is_finished) and not self.external:
            await self._update_plan()

    async def _update_plan(self) -> None:
        if self.external or self._form_shows_external():
            return  # the checklist shows the external run until the form asks for something else
        self._external_form = None
        if self.worker is None or self.worker.is_finished:
            self.remove_class("-run-shown")
        spec = self.spec_from_form()
        problem = self._form_problem(spec)
        status = self.query_one("#form-status", Static)
        if problem:
            status.update(Text(problem, style=tone("warning")))
        else:
            quants = ", ".join(q.name for q in spec.quants()) or "none"
            status.update(Text(f"ready: {spec.name}-<{quants}>.gguf in {spec.output_dir}", style=tone("ok")))
        self.query_one("#start", Button).disabled = problem is not None
        try:
            plan = spec.plan()
        except TunerError:
            plan = ["preflight", "download", "merge", "convert", "verify"]
        await self.query_one(StepList).plan([(s, step_title(s)) for s in plan])

    # llama.cpp -------------------------------------------------------------------------------------------------
    def action_refresh_llama(self) -> None:
        self.llama = locate_llama_cpp()
        status = self.query_one("#llama-status", Static)
        inst = self.llama
        if inst.ok:
            commit = (inst.commit or "unknown")[:10]
            status.update(Text.assemble(("llama.cpp ✓ ", tone("good")), (f"{inst.source}, commit {commit}", "dim")))
        else:
            text = Text("llama.cpp: ", style=tone("warning", extra="bold"))
            text.append("\n".join(f"• {p}" for p in inst.problems), style=tone("warning"))
            status.update(text)
        self.query_one("#install-llama", Button).display = not inst.ok

    @on(Button.Pressed, "#install-llama")
    def _install_llama(self) -> None:
        if self.worker is not None and not self.worker.is_finished:
            return
        from core.llama_cpp.install import install_llama_cpp

        plan = [("source", "llama.cpp source"), ("build", "Build llama-quantize + llama-server"),
                ("python", "Converter requirements")]
        self._begin()
        self.worker = self.run_worker(self._drive(install_llama_cpp("sdist"), None, plan), group="convert",
                                      exclusive=True, exit_on_error=False, name="llama.cpp install")

    # running ---------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_start(self) -> None:
        if self.external:
            self.notify("the demo is running this conversion; it stops with the demo", severity="warning")
            return
        if self.worker is not None and not self.worker.is_finished:
            self.notify("a conversion is already running (ctrl+k cancels it)", severity="warning")
            return
        spec = self.spec_from_form()
        problem = self._form_problem(spec)
        if problem:
            self.notify(problem, severity="error")
            return
        self.start_conversion(spec)

    def start_conversion(self, spec: ConvertSpec, **run_kwargs: Any) -> Worker:
        """Start the pipeline for `spec` in an async worker (also used by tests and the command palette)."""
        self.run = ConversionRun(spec, llama=self.llama, **run_kwargs)
        self._begin()
        plan = [(s, step_title(s)) for s in spec.plan()]
        self.worker = self.run_worker(self._drive(self.run.events(), self.run, plan), group="convert",
                                      exclusive=True, exit_on_error=False, name="conversion")
        return self.worker

    async def show_external_run(self, spec: dict[str, Any], output_dir: str, plan: list[str]) -> None:
        """Show a conversion that another driver runs (`tui-tuner demo`): its settings in the form and its plan
        in the checklist. The driver hands each of its events to `handle_event`, then calls
        `external_run_finished`; Start stays off meanwhile (the driver owns the run and its cancel)."""
        self.external = True
        self.fill_form(spec, output_dir)
        self._external_form = self.spec_from_form().to_dict()
        self._begin()
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = True
        await self.query_one(StepList).plan([(s, step_title(s)) for s in plan])

    async def external_run_finished(self) -> None:
        self.external = False
        await self._update_start_button()

    def _form_shows_external(self) -> bool:
        return self._external_form is not None and self.spec_from_form().to_dict() == self._external_form

    def _begin(self) -> None:
        # A run is on show: in the narrow layout the form gives the plan, progress and log most of the height
        # (convert.tcss) until the form asks for another run (`_update_plan`).
        self.add_class("-run-shown")
        self.last_error = None
        self.query_one("#failure", Static).display = False
        self.query_one("#log", RichLog).clear()
        self.query_one("#current", Static).update("")
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self.query_one("#progress", ProgressBar).display = True
        self.query_one("#start", Button).disabled = True
        self.query_one("#cancel", Button).disabled = False

    async def _drive(self, events: Any, run: ConversionRun | None, plan: list[tuple[str, str]]) -> None:
        await self.query_one(StepList).plan(plan)  # rows exist before the first event arrives
        try:
            async for event in events:
                self.handle_event(event)
        except asyncio.CancelledError:
            summary = run.cancel_summary() if run is not None else "canceled"
            self._log(Text(summary, style=tone("canceled")))
            if run is not None and run.current:
                self.query_one(StepList).set_state(run.current, "canceled", "canceled")
            self.notify(summary + " — start again to resume", severity="warning", timeout=10)
            raise
        finally:
            self.query_one("#cancel", Button).disabled = True
            await self._update_start_button()
            if run is None:
                self.action_refresh_llama()
            else:
                self.load_recent()

    async def _update_start_button(self) -> None:
        self.query_one("#start", Button).disabled = self._form_problem(self.spec_from_form()) is not None

    def action_cancel(self) -> None:
        if self.worker is not None and not self.worker.is_finished:
            self.worker.cancel()

    def action_focus_log(self) -> None:
        self.query_one("#log", RichLog).focus()

    def action_blur(self) -> None:
        self.set_focus(None)

    # events → widgets ------------------------------------------------------------------------------------------
    def _log(self, text: Text | str) -> None:
        self.query_one("#log", RichLog).write(text)

    def handle_event(self, event: ConvertEvent) -> None:
        steps = self.query_one(StepList)
        match event:
            case StepStarted():
                steps.set_state(event.step, "running", "")
                self._log(Text(f"==> {step_title(event.step)}", style="bold"))
                self.query_one("#current", Static).update(Text(step_title(event.step), style="bold"))
                self.query_one("#progress", ProgressBar).update(total=None, progress=0)
            case LogLine():
                self._log(Text(redact(event.text),
                               style=tone(LEVEL_TONES[event.level]) if event.level in LEVEL_TONES else ""))
            case Progress():
                self._progress(event)
            case StepFinished():
                steps.set_state(event.step, "skipped" if event.skipped else "done", event.summary)
                self._log(Text(("↷ " if event.skipped else "✓ ") + event.summary, style=tone("ok")))
                bar = self.query_one("#progress", ProgressBar)
                bar.update(total=1, progress=1)
            case StepFailed():
                steps.set_state(event.step, "failed", "failed")
                self.last_error = (event.error, event.hint)
                failure = self.query_one("#failure", Static)
                text = Text.assemble(("✗ ", tone("error")), (event.error, tone("error")))
                if event.hint:
                    text.append("\nfix: ", style="bold")
                    text.append(event.hint)
                failure.update(text)
                failure.display = True
                self._log(Text(f"✗ {event.error}", style=tone("error")))
                self.notify(f"{step_title(event.step)} failed: {event.error}", severity="error", timeout=10)
            case PipelineFinished():
                style = tone({"completed": "good", "failed": "error"}.get(event.status, "canceled"))
                self._log(Text(f"{event.status}: {event.message}", style=style))
                for path in event.kept:
                    self._log(Text(f"   kept {path}", style="dim"))
                if event.status == "completed":
                    self.notify(event.message or "done", timeout=8)

    def _progress(self, event: Progress) -> None:
        bar = self.query_one("#progress", ProgressBar)
        if event.total:
            bar.update(total=event.total, progress=event.done)
        else:
            bar.update(total=None)
        if event.unit == "B" and event.total:
            label = f"{event.label}  {_fmt_bytes(event.done)} / {_fmt_bytes(event.total)}"
        elif event.total:
            label = f"{event.label}  ({event.done:.0f}/{event.total:.0f} {event.unit})"
        else:
            label = event.label
        self.query_one("#current", Static).update(label)
