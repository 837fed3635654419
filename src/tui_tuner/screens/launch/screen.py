"""Launch (area 2): the guide's working script template as a form that cannot make its mistakes.

Left, the form in five sections (model & data, training, LoRA, tracking, backend) with a one-line
error under any field that is wrong. Right, what will run: the exact command, the preflight findings
(severity, message, fix) and the generated PEP 723 script, all updated as you type. Hub checks (token,
gated model, dataset, repo) run on `ctrl+t` and again before Launch; Launch asks for confirmation and
never submits a configuration with errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TabbedContent, TabPane
from textual.widgets._footer import FooterKey

from core import paths
from core.config import load_config
from core.errors import TunerError
from core.flavors import FLAVORS
from core.launch.config import (
    BACKENDS,
    LOSS_ON,
    OPTIMIZERS,
    SCHEDULERS,
    STRATEGIES,
    FieldError,
    LaunchConfig,
    load_preset,
    save_preset,
)
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.closing import QuitSafeSelect, closing
from tui_tuner.screens.launch.command_view import CommandView
from tui_tuner.tones import tone

if TYPE_CHECKING:  # the launcher, preflight and their panels load with the rest of the form
    from core.launch import launcher
    from core.launch.preflight import PreflightReport

LAST_CONFIG = "launch-last.toml"
REFRESH_DELAY_S = 0.25
REST_OF_FORM_AT_LATEST_S = 0.5
"""Should no frame with the footer's keys be painted (a screen never shown), the form is completed anyway."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: str = "input"  # input | select | check
    placeholder: str = ""
    """Input: the placeholder; check box: its label. Short enough to read whole in the form's narrowest
    field (about 25 columns at 100-139 columns); the longer explanation goes in `hint`."""
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    """The field's tooltip."""


def _choices(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


FLAVOR_CHOICES = tuple(
    (f"{f.name:<15} {f'{f.gpu_count}x {f.gpu_name} {f.gpu_memory_gb:g}GB' if f.is_gpu else 'CPU only':<22} "
     f"${f.price_per_hour:.2f}/h", f.name)
    for f in FLAVORS
)

FORM: tuple[tuple[str, tuple[FieldSpec, ...]], ...] = (
    ("Model & data", (
        FieldSpec("base_model", "Base model", placeholder="user/model or ./folder",
                  hint="a Hub model id (google/gemma-3-12b-it) or a local model folder"),
        FieldSpec("dataset", "Dataset", placeholder="user/data or a .jsonl",
                  hint="a Hub dataset id (user/name) or a local .jsonl file of chats (`messages`)"),
        FieldSpec("dataset_split", "Split", placeholder="train"),
        FieldSpec("output_repo", "Output repo", placeholder="user/my-adapter"),
        FieldSpec("private", "Private repo", "check", "and the Trackio Space",
                  hint="the adapter repo and the Trackio Space are created private"),
        FieldSpec("max_length", "Max length", placeholder="tokens, e.g. 2048"),
        FieldSpec("loss_on", "Loss on", "select", options=(("assistant turns only", "assistant"),
                                                           ("all tokens", "all"))),
    )),
    ("Training", (
        FieldSpec("epochs", "Epochs"),
        FieldSpec("max_steps", "Max steps", placeholder="0 = all epochs"),
        FieldSpec("eval_fraction", "Eval hold-out", placeholder="0 = none, e.g. 0.05"),
        FieldSpec("batch_size", "Batch size"),
        FieldSpec("gradient_accumulation", "Grad accumulation"),
        FieldSpec("learning_rate", "Learning rate"),
        FieldSpec("scheduler", "Scheduler", "select", options=_choices(SCHEDULERS)),
        FieldSpec("warmup_ratio", "Warmup ratio"),
        FieldSpec("optimizer", "Optimizer", "select", options=_choices(OPTIMIZERS)),
        FieldSpec("gradient_checkpointing", "Grad checkpointing", "check", "less VRAM, 20% slower",
                  hint="recompute activations in the backward pass: less GPU memory, about 20% slower"),
        FieldSpec("logging_steps", "Logging steps"),
        FieldSpec("save_steps", "Save steps"),
        FieldSpec("save_total_limit", "Keep checkpoints"),
        FieldSpec("seed", "Seed"),
    )),
    ("LoRA", (
        FieldSpec("lora_r", "Rank r"),
        FieldSpec("lora_alpha", "Alpha"),
        FieldSpec("lora_dropout", "Dropout"),
        FieldSpec("lora_targets", "Target modules", placeholder="all-linear or q_proj,…",
                  hint="all-linear, or module names separated by commas: q_proj,k_proj,v_proj,o_proj"),
        FieldSpec("load_in_4bit", "4-bit base (QLoRA)", "check", "NF4, needs a CUDA GPU",
                  hint="the frozen base in NF4 weights (bitsandbytes): needs a CUDA GPU"),
    )),
    ("Tracking", (
        FieldSpec("trackio_project", "Trackio project"),
        FieldSpec("trackio_space", "Trackio Space", placeholder="empty = local SQLite",
                  hint="a Hub Space (user/trackio) to watch the run live; empty = a local SQLite file"),
        FieldSpec("run_name", "Run name prefix", placeholder="empty = <model>-sft",
                  hint="a timestamp is added: <prefix>-YYYYmmdd-HHMMSS (the command shows it)"),
    )),
    ("Backend", (
        FieldSpec("backend", "Backend", "select", options=(("HF Jobs", "hf-jobs"), ("this machine", "local"),
                                                           ("MLX (Apple Silicon)", "mlx"))),
        FieldSpec("flavor", "Flavor", "select", options=FLAVOR_CHOICES),
        FieldSpec("gpus", "GPUs", placeholder="0 = every GPU",
                  hint="0 = every GPU of the flavor (HF Jobs) or of this machine"),
        FieldSpec("strategy", "Multi-GPU", "select", options=(("auto (calculator)", "auto"), ("DDP", "ddp"),
                                                              ("FSDP full shard", "fsdp"), ("one GPU", "single"))),
        FieldSpec("timeout", "Timeout", placeholder="6h, 90m, 2d"),
        FieldSpec("namespace", "Namespace", placeholder="empty = you"),
        FieldSpec("mlx_lora_layers", "MLX LoRA layers"),
    )),
)
FIELDS = {spec.name: spec for _, specs in FORM for spec in specs}
BACKEND_ONLY = {"flavor": {"hf-jobs"}, "namespace": {"hf-jobs"}, "mlx_lora_layers": {"mlx"},
                "gpus": {"hf-jobs", "local"}, "strategy": {"hf-jobs", "local"}}
"""Rows that mean something for some backends only (hidden for the others)."""
assert set(BACKENDS) == {v for _, v in FIELDS["backend"].options} and set(LOSS_ON) == {
    v for _, v in FIELDS["loss_on"].options} and set(STRATEGIES) == {v for _, v in FIELDS["strategy"].options}


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class LaunchScreen(AreaScreen):
    AREA = "launch"
    CSS_PATH = "launch.tcss"
    AUTO_FOCUS = "#f-base_model"
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", id="launch.launch"),
        Binding("ctrl+t", "check", "Check online", id="launch.check"),
        Binding("ctrl+s", "save_preset", "Save preset", id="launch.save_preset"),
        Binding("ctrl+o", "load_preset", "Load preset", id="launch.load_preset"),
        Binding("ctrl+g", "toggle_script", "Script/preflight", id="launch.toggle_tab"),
        Binding("ctrl+f", "cheapest_flavor", "Cheapest flavor", id="launch.cheapest_flavor"),
        Binding("escape", "blur", "Back", id="launch.back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self._applying = False
        self.config = LaunchConfig()
        self.form_errors: list[FieldError] = []
        self.report: PreflightReport | None = None
        self.checked_online = False
        self._preflight_started = 0
        """Preflights started so far: a report from one started before the latest is stale and not shown
        (thread workers run on after a newer one starts, and under load an older one can end last)."""
        self._online_config: LaunchConfig | None = None
        """The settings the last Hub-checked report was for: an offline report of the same settings knows
        less (a late keystroke event can start one after Launch), so it does not replace it."""
        self.last_job_id: str | None = None
        self.script_text = ""
        """The script the preview shows (plain text)."""
        self.form_ready = False
        """Every field mounted (all but the first section are mounted after the first frame)."""
        self._rest_scheduled = False

    # -- layout ----------------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Horizontal(id="launch-body"):
            with VerticalScroll(id="launch-form"):
                with Horizontal(id="preset-row"):
                    yield Input(placeholder="preset.toml", id="preset-path", compact=True)
                    yield Button("Load", id="preset-load", compact=True)
                    yield Button("Save", id="preset-save", compact=True)
                # The first section only: the rest (most of the form's 200-odd widgets) is mounted right
                # after the first frame, so entering Launch paints at once and the first field takes keys.
                yield from self._section(*FORM[0])
                with Horizontal(id="launch-buttons"):
                    yield Button("Check online", id="check", compact=True)
                    yield Button("Launch…", id="launch", variant="warning", compact=True)
            with Vertical(id="launch-side"):
                yield Static("Command", classes="section-title", id="command-title")
                yield CommandView(id="command-preview")
                # The preflight and script tabs come with the rest of the form (they show nothing before it).
                yield Static("", id="launch-status")

    def _section(self, title: str, specs: tuple[FieldSpec, ...]) -> list[Widget]:
        widgets: list[Widget] = [Static(title, classes="section-title")]
        for spec in specs:
            widgets.append(Horizontal(Label(spec.label, classes="field-label"), self._widget(spec),
                                      classes="field", id=f"row-{spec.name}"))
            widgets.append(Static("", classes="field-error", id=f"err-{spec.name}"))
        return widgets

    @staticmethod
    def _side_tabs() -> TabbedContent:
        from tui_tuner.screens.launch.findings import FindingsPanel
        from tui_tuner.screens.token_histogram import TokenHistogram

        tabs = TabbedContent(id="launch-tabs")
        # What `with TabbedContent(): with TabPane(...)` does in compose.
        tabs.compose_add_child(TabPane("Preflight", VerticalScroll(
            TokenHistogram(id="launch-histogram"), FindingsPanel(id="findings"), id="findings-scroll"), id="tab-preflight"))
        tabs.compose_add_child(TabPane("Script", VerticalScroll(Static("", id="script-preview"), id="script-scroll"),
                                       id="tab-script"))
        return tabs

    async def _mount_rest_of_form(self) -> None:
        # A quit in this window (ctrl+q right after entering Launch) prunes the screen: what is mounted
        # from then on is never composed, so stop at the first sign of it (before and after each await).
        if closing(self):
            return
        rest = [widget for title, specs in FORM[1:] for widget in self._section(title, specs)]
        await self.query_one("#launch-form").mount_all(rest, before="#launch-buttons")
        if closing(self):
            return
        await self.query_one("#launch-side").mount(self._side_tabs(), before="#launch-status")
        if closing(self):
            return
        self.form_ready = True
        # The first section took keys while the rest was mounting: what the user typed there stays.
        first = [self.query_one(f"#f-{spec.name}") for spec in FORM[0][1]]
        typed = [getattr(widget, "value", None) for widget in first]
        for problem in self._apply(self._initial_config()):
            self.notify(problem, severity="warning", timeout=8)
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for widget, value in zip(first, typed, strict=True):
                if getattr(widget, "value", None) != value:
                    widget.value = value  # type: ignore[attr-defined]
        self._refresh_now()

    @staticmethod
    def _widget(spec: FieldSpec) -> Input | Select[str] | Checkbox:
        wid = f"f-{spec.name}"
        if spec.kind == "select":
            return QuitSafeSelect(spec.options, allow_blank=False, id=wid, compact=True, tooltip=spec.hint or None)
        if spec.kind == "check":
            return Checkbox(spec.placeholder, id=wid, compact=True, tooltip=spec.hint or None)
        return Input(placeholder=spec.placeholder, id=wid, compact=True, tooltip=spec.hint or None)

    def on_mount(self) -> None:
        # Stacked below 100 columns, the panel's top border carries the title: one more row for the preflight.
        self.query_one("#launch-side").border_title = "Command"
        self._apply(self._initial_config())  # the first section's fields, for the first frame
        # The rest of the form is built once a frame with the footer's keys (and the first section) has been
        # painted (`_compositor_refresh`). "Two refreshes on" raced with the screen becoming current: the
        # callbacks could run before any paint, and the first frame then waited for the whole form.
        self.set_timer(REST_OF_FORM_AT_LATEST_S, self._schedule_rest_of_form)

    def _compositor_refresh(self) -> None:
        super()._compositor_refresh()
        if not self._rest_scheduled and any(isinstance(w, FooterKey) for w in self._compositor.visible_widgets):
            self._schedule_rest_of_form()

    def _schedule_rest_of_form(self) -> None:
        if not self._rest_scheduled and not closing(self):
            self._rest_scheduled = True
            self.call_later(self._mount_rest_of_form)

    def _initial_config(self) -> LaunchConfig:
        last = paths.data_dir() / LAST_CONFIG
        try:
            if last.is_file():
                return load_preset(last)
            section = {k: v for k, v in load_config().section("launch").items() if k != "local_python"}
            return LaunchConfig.from_dict(section, source="config [launch]") if section else LaunchConfig()
        except TunerError as exc:
            self.notify(exc.one_line(), severity="warning")
            return LaunchConfig()

    # -- form <-> config ----------------------------------------------------------------------------------
    def _apply(self, config: LaunchConfig) -> list[str]:
        """Put a config into the form without triggering a refresh per field; return the values a choice
        field could not take (e.g. a preset naming an unknown flavor), as messages."""
        skipped: list[str] = []
        self._applying = True
        try:
            # One walk of the form, not one query per field (36 walks of the screen, on the first frame).
            fields = {w.id: w for w in self.query_one("#launch-form").query("Input, Select, Checkbox")}
            for name, spec in FIELDS.items():
                value = getattr(config, name)
                widget = fields.get(f"f-{name}")
                if widget is None:  # the rest of the form is not mounted yet
                    continue
                if spec.kind == "select":
                    allowed = {v for _, v in spec.options}
                    if value in allowed:
                        widget.value = value  # type: ignore[attr-defined]
                    else:
                        kept = widget.value  # type: ignore[attr-defined]
                        skipped.append(f"{name}: {value!r} is not a known choice; kept {kept}")
                elif spec.kind == "check":
                    widget.value = bool(value)  # type: ignore[attr-defined]
                else:
                    widget.value = _text(value)  # type: ignore[attr-defined]
        finally:
            self._applying = False
        return skipped

    def form_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in FIELDS.items():
            widget = self.query_one(f"#f-{name}")
            value = widget.value  # type: ignore[attr-defined]
            values[name] = value if spec.kind != "select" or value != Select.BLANK else getattr(LaunchConfig(), name)
        return values

    def read_form(self) -> tuple[LaunchConfig, list[FieldError]]:
        config, errors = LaunchConfig.from_form(self.form_values())
        bad = {e.field for e in errors}
        errors += [e for e in config.validate() if e.field not in bad]
        return config, errors

    # -- live refresh ----------------------------------------------------------------------------------
    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Input.Changed | Select.Changed | Checkbox.Changed) -> None:
        if self._applying or not (event.control.id or "").startswith("f-"):
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(REFRESH_DELAY_S, self._refresh_now)

    @property
    def refresh_pending(self) -> bool:
        """A typed change waits for its debounced refresh (preview, errors, preflight)."""
        return self._timer is not None

    def _refresh_now(self) -> None:
        self._timer = None
        if not self.form_ready or closing(self):  # mounting the rest of the form refreshes
            return
        self.config, self.form_errors = self.read_form()
        self.checked_online = False
        self._show_backend_rows()
        self._show_field_errors()
        self._update_preview()
        self._auto_preflight(self.config, self._start_preflight())

    def _start_preflight(self) -> int:
        self._preflight_started += 1
        return self._preflight_started

    def _show_backend_rows(self) -> None:
        for name, backends in BACKEND_ONLY.items():
            shown = self.config.backend in backends
            self.query_one(f"#row-{name}").display = shown
            if not shown:
                self.query_one(f"#err-{name}").set_class(False, "-shown")

    def _update_preview(self) -> None:
        from rich.syntax import Syntax

        from core.launch import launcher

        try:
            script, command = launcher.preview(self.config)
        except TunerError as exc:
            self.query_one("#command-preview", CommandView).show_error(Text(exc.one_line(), style=tone("error")))
            return
        self.script_text = redact(script.text)
        self.query_one("#command-preview", CommandView).show(command)
        self.query_one("#script-preview", Static).update(
            Syntax(self.script_text, "python", theme="ansi_dark", line_numbers=True, word_wrap=False))

    def _show_field_errors(self) -> None:
        errors: dict[str, str] = {}
        for e in self.form_errors:
            errors.setdefault(e.field, e.message + (f" ({e.fix})" if e.fix else ""))
        if self.report is not None:
            for name, message in self.report.field_errors().items():
                errors.setdefault(name, message)
        for name in FIELDS:
            line = self.query_one(f"#err-{name}", Static)
            message = errors.get(name)
            line.update(Text(f"✗ {redact(message)}", style=tone("error")) if message else "")
            hidden = name in BACKEND_ONLY and self.config.backend not in BACKEND_ONLY[name]
            line.set_class(bool(message) and not hidden, "-shown")
            self.query_one(f"#f-{name}").set_class(bool(message), "-invalid")
        token_error = errors.get("token")
        status = self.query_one("#launch-status", Static)
        if token_error:
            status.update(Text(f"✗ token: {redact(token_error)}", style=tone("error")))

    # -- preflight ---------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False, name="preflight")
    def _auto_preflight(self, config: LaunchConfig, started: int) -> None:
        """Everything that needs no network, as you type (Hub checks would hit its rate limits)."""
        from core.launch.preflight import PreflightOptions, run_preflight

        options = PreflightOptions(online=False, offline_note="Hub checks (token, gated model, dataset, repo) not run yet",
                                   offline_fix="ctrl+t checks them; Launch always does")
        report = run_preflight(config, options)
        self.app.call_from_thread(self._show_report, report, False, started, config)

    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False, name="preflight (online)")
    def _online_preflight(self, config: LaunchConfig, started: int) -> None:
        from core.launch.preflight import PreflightOptions, run_preflight

        report = run_preflight(config, PreflightOptions(online=True))
        self.app.call_from_thread(self._show_report, report, True, started, config)

    def _show_report(self, report: PreflightReport, online: bool, started: int | None = None,
                     config: LaunchConfig | None = None) -> None:
        from tui_tuner.screens.launch.findings import FindingsPanel
        from tui_tuner.screens.token_histogram import TokenHistogram

        if closing(self):  # a preflight that ended while the app quits
            return
        if started is not None and started != self._preflight_started:
            return  # a newer preflight was started: this report describes an older form
        if online:
            self._online_config = config
        elif config is not None and config == self._online_config:
            return
        self.report = report
        self.checked_online = online
        self.query_one("#findings", FindingsPanel).show_report(report, checked_online=online)
        # The profile was taken in the preflight's thread worker (cached per dataset and tokenizer).
        profile = report.data_profile.profile if report.data_profile else None
        self.query_one("#launch-histogram", TokenHistogram).show(profile, report.max_length or self.config.max_length)
        self._show_field_errors()

    def action_check(self) -> None:
        if not self.form_ready:
            return
        self._refresh_form_only()
        self.query_one("#findings").show_busy("checking the Hub…")  # type: ignore[attr-defined]
        self.query_one("#launch-tabs", TabbedContent).active = "tab-preflight"
        self._online_preflight(self.config, self._start_preflight())

    def _refresh_form_only(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.config, self.form_errors = self.read_form()
        self._show_field_errors()
        self._update_preview()

    # -- launch ------------------------------------------------------------------------------------------
    def action_launch(self) -> None:
        if not self.form_ready:
            return
        from core.launch import launcher

        self._refresh_form_only()
        if self.form_errors:
            self.notify(f"{len(self.form_errors)} field(s) need fixing; nothing was submitted", severity="error")
            return
        try:  # find_spec only: cheap enough for the UI thread
            launcher.require_backend_packages(self.config.backend)
        except TunerError as exc:  # a missing extra: its one line, nothing checked or submitted
            self.notify(exc.one_line(), severity="error", timeout=10, markup=False)
            return
        self.query_one("#findings").show_busy("preflight before launch…")  # type: ignore[attr-defined]
        self.query_one("#launch-tabs", TabbedContent).active = "tab-preflight"
        self._start_preflight()  # an as-you-type check still running must not overwrite the launch's own
        self._plan_for_launch(self.config)

    @work(thread=True, exclusive=True, group="preflight", exit_on_error=False, name="preflight")
    def _plan_for_launch(self, config: LaunchConfig) -> None:
        from core.launch import launcher
        from core.launch.preflight import PreflightOptions

        plan = launcher.plan(config, PreflightOptions(online=True))
        self.app.call_from_thread(self._confirm, plan)

    def _confirm(self, plan: launcher.LaunchPlan) -> None:
        from tui_tuner.screens.launch.confirm import ConfirmLaunch

        if closing(self):  # no confirmation over an app that is quitting: nothing is submitted
            return
        self._show_report(plan.report, True, config=plan.config)
        if plan.report.errors:
            self.notify(f"preflight found {len(plan.report.errors)} error(s); nothing was submitted",
                        severity="error")
            return

        def decided(ok: bool | None) -> None:
            if ok:
                self.query_one("#launch-status", Static).update(Text("submitting…", style="dim"))
                self._submit(plan)
            else:
                self.query_one("#launch-status", Static).update(Text("launch cancelled; nothing submitted",
                                                                     style="dim"))

        self.app.push_screen(ConfirmLaunch(plan), decided)

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False, name="launch")
    def _submit(self, plan: launcher.LaunchPlan) -> None:
        from core.launch import launcher

        try:
            job = launcher.launch(plan)
        except TunerError:
            self.app.call_from_thread(self._show_status, Text("not submitted (see the error)", style=tone("error")))
            raise
        save_preset(plan.config, paths.data_dir() / LAST_CONFIG)
        self.app.call_from_thread(self._launched, job.id, job.backend, job.status)

    def _show_status(self, text: Text) -> None:
        if not closing(self):
            self.query_one("#launch-status", Static).update(text)

    def _launched(self, job_id: str, backend: str, status: str) -> None:
        self.last_job_id = job_id
        if closing(self):  # submitted while the app quits: the job is in the store, nothing to show
            return
        message = f"launched {backend} job {job_id} ({status}) — press 3 to monitor it"
        self._show_status(Text(f"✓ {message}", style=tone("ok")))
        self.notify(message, title="Launched", timeout=8)

    # -- presets -----------------------------------------------------------------------------------------
    def _preset_path(self) -> Path | None:
        text = self.query_one("#preset-path", Input).value.strip()
        if not text:
            self.notify("type a preset file name first (e.g. gemma-coach.toml)", severity="warning")
            self.query_one("#preset-path", Input).focus()
            return None
        return Path(text).expanduser()

    def action_save_preset(self) -> None:
        if not self.form_ready:
            return
        path = self._preset_path()
        if path is None:
            return
        self._refresh_form_only()
        try:
            saved = save_preset(self.config, path)
        except TunerError as exc:
            self.notify(exc.one_line(), severity="error", markup=False)
            return
        self.notify(f"preset saved to {saved}")

    def action_load_preset(self) -> None:
        if not self.form_ready:
            return
        path = self._preset_path()
        if path is None:
            return
        try:
            config = load_preset(path)
        except TunerError as exc:
            self.notify(exc.one_line(), severity="error")
            return
        for problem in self._apply(config):
            self.notify(problem, severity="warning", timeout=8)
        self._refresh_now()
        self.notify(f"preset loaded from {path}")

    @on(Button.Pressed, "#preset-load")
    def _load_pressed(self) -> None:
        self.action_load_preset()

    @on(Button.Pressed, "#preset-save")
    def _save_pressed(self) -> None:
        self.action_save_preset()

    @on(Button.Pressed, "#check")
    def _check_pressed(self) -> None:
        self.action_check()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_cheapest_flavor(self) -> None:
        """Switch to the cheapest flavor the memory estimate says fits (preflight's suggestion)."""
        cheapest = self.report.cheapest_flavor if self.report else None
        if not cheapest:
            self.notify("no flavor suggestion yet (the memory fit needs a known model)", severity="warning")
            return
        self.query_one("#f-flavor", Select).value = cheapest
        self.notify(f"flavor set to {cheapest}, the cheapest that fits")

    def action_toggle_script(self) -> None:
        if not self.form_ready:
            return
        tabs = self.query_one("#launch-tabs", TabbedContent)
        tabs.active = "tab-script" if tabs.active == "tab-preflight" else "tab-preflight"

    def action_blur(self) -> None:
        self.set_focus(None)
