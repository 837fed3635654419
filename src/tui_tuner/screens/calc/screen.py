"""Calculator (area 1): peak GPU memory of a fine-tune, which HF Jobs flavors fit, and what the run costs.

Left: the form (model from the catalog or any Hub id / config.json path, method, lengths, LoRA, optimizer,
checkpointing, old bitsandbytes (QLoRA only), dtype, loss path, and the run: examples, epochs, tokens per
example, MFU). Right: the summary line, the breakdown table, a bar chart of the terms against the chosen
GPU, and a verdict per flavor with time and cost; the recommended flavor is starred. Everything updates
as you type (debounced). A bad field shows one line under itself and the last good result stays on screen.
Keys (outside the form; `esc` leaves it): `r` recompute, `y` copy the equivalent CLI command, `g` the
guide's tables, `m` show multi-GPU flavors too.
Hub lookups (only config.json) run in a thread so a slow or dead network never freezes the form.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import DataTable, Input, Label, Select, Static, Switch

from core.calc.catalog import CATALOG, find_entry
from core.calc.estimate import KV_BYTES
from core.calc.formats import LOSS_LABELS, OPTIMIZERS, QUANT_FORMATS, WEIGHT_FORMATS
from core.calc.plan import DEFAULT_FIELDS, CalcResult, FormErrors, calculate, cli_command
from core.calc.sharding import STRATEGIES, STRATEGY_LABELS
from core.costing import RunCost
from core.flavors import Flavor, get_flavor, gpu_flavors
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.calc.chart import MemoryChart
from tui_tuner.screens.token_histogram import histogram_text
from tui_tuner.tones import tone

DEBOUNCE_S = 0.3
SHARED_FIELDS = {"max_length", "batch_size"}
"""Fields that inference uses too; the others only matter for training."""
TEXT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("max_length", "Max length (tokens)", "padded sequence length"),
    ("batch_size", "Batch size", "per-device micro-batch"),
    ("grad_accum", "Gradient accumulation", "steps per optimizer update"),
    ("lora_r", "LoRA r", "rank"),
    ("lora_targets", "LoRA targets", "q_proj,k_proj,v_proj,o_proj or all-linear"),
    ("lora_dropout", "LoRA dropout", "0 saves activation memory"),
    ("galore_rank", "GaLore rank", "galore_* optimizers (full fine-tune); default 128"),
    ("virtual_tokens", "Virtual tokens", "prompt / prefix tuning: trained tokens"),
    ("prefix_projection", "Prefix projection", "prefix tuning: MLP hidden size; empty = none"),
)
RUN_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("examples", "Examples", "training examples"),
    ("epochs", "Epochs", "passes over the data"),
    ("tokens_per_example", "Tokens / example", "average; default min(max length, 2048)"),
    ("mfu", "MFU %", "default 12 (QLoRA) / 25; throughput assumption"),
)
PEFT_OPTIONS = [("LoRA", "lora"), ("LoRA-FA (A frozen)", "lora-fa"), ("IA3 (scaling vectors)", "ia3"),
                ("LayerNorm tuning", "ln-tuning"), ("Prompt tuning", "prompt-tuning"),
                ("Prefix tuning", "prefix-tuning")]
METHOD_OPTIONS = [("QLoRA (4-bit NF4)", "qlora"), ("LoRA (16-bit base)", "lora"),
                  ("Full fine-tune", "full")]
MODE_OPTIONS = [("Training step", "training"), ("Inference (weights + KV cache)", "inference")]
TERM_COLUMNS = ("Term", "GB", "Share", "How")
FLAVOR_COLUMNS = ("Flavor", "GPU", "$/h", "Verdict", "Headroom", "Est. time", "Est. cost")
DTYPE_OPTIONS = [("bf16", "bf16"), ("fp16", "fp16"), ("fp32 (AMP, fp32 master)", "fp32")]
QUANT_OPTIONS = [("auto (NF4+DQ for QLoRA, else the dtype)", "auto"), *((q, q) for q in QUANT_FORMATS)]
ATTENTION_OPTIONS = [("sdpa", "sdpa"), ("flash-attention-2 (Ampere+)", "flash-attention-2"), ("eager (s² scores)", "eager")]
STRATEGY_OPTIONS = [("auto (fastest that fits each flavor)", "auto"),
                    *((STRATEGY_LABELS[s], s) for s in STRATEGIES if s != "single")]
SWITCHES = (("gradient_checkpointing", "Gradient checkpointing"), ("optimizer_in_backward", "Optimizer in backward"),
            ("activation_offloading", "Activation offloading"), ("compile", "torch.compile"), ("dora", "DoRA"),
            ("quantize_lora_targets_only", "Quantise targets only"), ("unsloth", "Unsloth kernels"))
ADAPTER_ONLY_SWITCHES = {"dora", "quantize_lora_targets_only", "unsloth"}
"""Adapter options: hidden for a full fine-tune."""


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f}"


def verdict(run: RunCost, best: Flavor | None) -> Text:
    if run.headroom_bytes < 0:
        return Text(f"no: {-run.headroom_bytes / 1e9:.1f} GB short", style=tone("error"))
    if run.problem:
        return Text(f"no: {run.problem.split(' (')[0]}", style=tone("error"))
    how = f" ({run.strategy})" if run.flavor.gpu_count > 1 and run.strategy not in ("single", "") else ""
    if best is not None and run.flavor.name == best.name:
        return Text("★ recommended" + (" (tight)" if run.tight else "") + how, style=tone("good"))
    return Text(("fits (tight)" if run.tight else "fits") + how, style=tone("warning") if run.tight else tone("ok"))


class TermsTable(DataTable):
    """The breakdown. The How column takes the width the other columns leave and wraps its explanation
    (rows as tall as they need), so no note is cut off at any terminal width; it is rebuilt when the
    table's width changes (a resized terminal, the form stacking on top below 100 columns)."""

    MIN_HOW = 24
    """Narrower than this the notes wrap into a column of fragments: the table scrolls sideways instead."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: list[tuple[str, tuple[Text, Text, Text, Text]]] = []
        self._built_for = -1

    def show(self, rows: list[tuple[str, tuple[Text, Text, Text, Text]]]) -> None:
        self._rows = rows
        self._build()

    def how_width(self) -> int:
        """The How column's width: the table's, less the other columns, the cell padding and the scrollbar."""
        others = sum(max(len(label), *(cells[i].cell_len for _, cells in self._rows))
                     for i, label in enumerate(TERM_COLUMNS[:-1])) if self._rows else 0
        padding = 2 * self.cell_padding * len(TERM_COLUMNS)
        return max(self.MIN_HOW, self.size.width - self.styles.scrollbar_size_vertical - others - padding)

    def _build(self) -> None:
        self._built_for = self.size.width
        # Rebuild the columns too: DataTable widths only ever grow, so they would depend on history.
        self.clear(columns=True)
        self.add_columns(*TERM_COLUMNS[:-1])
        self.add_column(TERM_COLUMNS[-1], width=self.how_width())
        for key, cells in self._rows:
            self.add_row(*cells, height=None, key=key)

    def on_resize(self) -> None:
        if self.size.width != self._built_for:
            self._build()


class GuideTables(ModalScreen[None]):
    """The training guide's logits and GPU-selection tables, computed by the estimator."""

    BINDINGS: ClassVar = [Binding("escape", "dismiss", "Close", id="calc.guide.close"),
                          Binding("g", "dismiss", "Close", show=False, id="calc.guide.close_g")]
    DEFAULT_CSS = """
    GuideTables { align: center middle; }
    GuideTables > Vertical { width: 96; height: auto; max-height: 90%; border: round $primary;
                             background: $surface; padding: 0 1; }
    GuideTables DataTable { height: auto; margin: 0 0 1 0; }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Logits: vocab × length × 4 bytes (GB) — one fp32 copy", classes="section-title")
            yield DataTable(id="guide-logits", cursor_type="none", zebra_stripes=True)
            yield Static("GPU selection — the guide's QLoRA script, cheapest of A10G / A100 that fits",
                         classes="section-title")
            yield DataTable(id="guide-gpus", cursor_type="none", zebra_stripes=True)
            yield Static("esc closes", classes="muted")

    def on_mount(self) -> None:
        from core.calc.guide import GUIDE_COLUMNS, GUIDE_CONTEXTS, guide_gpu_selection, guide_logits_table

        logits = self.query_one("#guide-logits", DataTable)
        logits.add_columns("Model", "Vocab", *(f"@{n // 1024}k" for n in GUIDE_CONTEXTS))
        for row in guide_logits_table():
            logits.add_row(row.model, row.vocab_label, *(f"{gb:.1f} GB" for gb in row.gb))
        gpus = self.query_one("#guide-gpus", DataTable)
        gpus.add_columns("Context", *(name for name, _ in GUIDE_COLUMNS))
        cells = guide_gpu_selection()
        for context in GUIDE_CONTEXTS:
            row = [c for c in cells if c.context == context]
            gpus.add_row(f"≤{context}", *(f"{c.label}  ({c.worst_model} {c.worst_total_gb:.1f} GB)" for c in row))


class CalcScreen(AreaScreen):
    AREA = "calc"
    CSS_PATH = Path(__file__).with_name("calc.tcss")
    BINDINGS: ClassVar = [
        Binding("r", "recompute", "Recompute", id="calc.recompute"),
        Binding("y", "copy_cli", "Copy CLI", id="calc.copy_cli"),
        Binding("g", "guide", "Guide tables", id="calc.guide"),
        Binding("m", "toggle_multi", "Multi-GPU rows", id="calc.toggle_multi"),
        Binding("escape", "focus_results", "Leave the form", show=False, id="calc.focus_results"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.result: CalcResult | None = None
        self.chart_flavor: Flavor | None = None
        self._timer: Timer | None = None
        self._generation = itertools.count(1)
        self._latest = 0
        self.show_multi_gpu = False
        self.profile: Any = None
        """The dataset profile (core.calc.dataset_profile.DatasetProfile) once one is read."""
        self._profile_timer: Timer | None = None
        """Multi-GPU flavors are hidden by default: the estimate is per GPU and the guide's script trains
        on one, so they only add the same GPU at a higher price."""

    # ---- layout ---------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        defaults = self._defaults()
        keys = [e.key for e in CATALOG] + [h for e in CATALOG for h in e.hub_ids]
        with Horizontal(id="calc-body"):
            with VerticalScroll(id="calc-form"):
                yield Label("Estimate")
                yield Select(MODE_OPTIONS, value=defaults["mode"], allow_blank=False, id="mode")
                yield Static("Model", classes="section-title")
                yield Select([(f"{e.display} · {e.family}", e.key) for e in CATALOG], prompt="catalog…",
                             id="model-pick", allow_blank=True)
                yield Input(str(defaults["model"]), placeholder="catalog key, Hub id or config.json path",
                            id="model", suggester=SuggestFromList(keys, case_sensitive=False))
                yield Static("", id="model-error", classes="field-error")
                with Vertical(id="inference-fields", classes="-hidden"):
                    yield Label("Weights")
                    yield Select([(w, w) for w in WEIGHT_FORMATS], value=defaults["weights"], allow_blank=False,
                                 id="weights")
                    yield Static("", id="weights-error", classes="field-error")
                    yield Label("KV cache dtype")
                    yield Select([(k, k) for k in KV_BYTES], value=defaults["kv_dtype"], allow_blank=False,
                                 id="kv_dtype")
                yield Label("Method", classes="training-only")
                yield Select(METHOD_OPTIONS, value=defaults["method"], allow_blank=False, id="method",
                             classes="training-only")
                for name, label, hint in TEXT_FIELDS:
                    yield from self._field(name, label, hint, defaults)
                with Vertical(id="adapter-fields", classes="training-only"):
                    # inside a training-only box: hidden in inference mode whatever the method says
                    yield Label("Adapter", classes="adapter-only")
                    yield Select(PEFT_OPTIONS, value=defaults["peft_method"], allow_blank=False, id="peft_method",
                                 classes="adapter-only")
                    yield Static("", id="peft_method-error", classes="field-error")
                with Vertical(id="training-fields", classes="training-only"):
                    yield Label("Optimizer")
                    yield Select([(k, k) for k in OPTIMIZERS], value=defaults["optimizer"], allow_blank=False,
                                 id="optimizer")
                    yield Static("", id="optimizer-error", classes="field-error")
                    for name, label in SWITCHES:
                        with Horizontal(classes="switch-row adapter-only" if name in ADAPTER_ONLY_SWITCHES
                                        else "switch-row"):
                            yield Switch(value=bool(defaults[name]), id=name)
                            yield Label(label)
                    with Horizontal(classes="switch-row qlora-only"):
                        yield Switch(value=bool(defaults["old_bitsandbytes"]), id="old_bitsandbytes",
                                     tooltip="bitsandbytes < 0.43.2 kept every 4-bit matmul's input for "
                                             "backward (fixed in PR #1270); the generated script pins a newer one")
                        yield Label("bitsandbytes < 0.43.2")
                    yield Label("Dtype")
                    yield Select(DTYPE_OPTIONS, value=defaults["dtype"], allow_blank=False, id="dtype")
                    yield Label("Loss path")
                    yield Select([(label, key) for key, label in LOSS_LABELS.items()],
                                 value=defaults["loss_impl"], allow_blank=False, id="loss_impl")
                    yield Label("Base weights")
                    yield Select(QUANT_OPTIONS, value=defaults["quant"], allow_blank=False, id="quant")
                    yield Static("", id="quant-error", classes="field-error")
                    yield Label("Attention")
                    yield Select(ATTENTION_OPTIONS, value=defaults["attention"], allow_blank=False, id="attention")
                    yield Label("Multi-GPU strategy")
                    yield Select(STRATEGY_OPTIONS, value=defaults["strategy"], allow_blank=False, id="strategy")
                    yield Static("Data", classes="section-title")
                    yield Input("", placeholder="JSONL path or Hub dataset: real token lengths", id="dataset")
                    yield Static("", id="dataset-error", classes="field-error")
                    yield Static("Run", classes="section-title")
                    for name, label, hint in RUN_FIELDS:
                        yield from self._field(name, label, hint, defaults)
            with Vertical(id="calc-results"):
                yield Static("", id="calc-summary")
                yield Static("", id="calc-stale", classes="warning-line")
                yield TermsTable(id="calc-terms", cursor_type="none", zebra_stripes=True)
                yield MemoryChart(id="calc-chart")
                yield Static("", id="calc-dataset")
                yield DataTable(id="calc-flavors", cursor_type="row", zebra_stripes=True)

    def _field(self, name: str, label: str, hint: str, defaults: dict[str, Any]) -> ComposeResult:
        extra = "" if name in SHARED_FIELDS else " training-only"
        yield Label(label, id=f"{name}-label", classes=extra.strip())
        yield Input(str(defaults.get(name, "")), placeholder=hint, id=name, classes=extra.strip())
        yield Static("", id=f"{name}-error", classes="field-error" + extra)

    def _defaults(self) -> dict[str, Any]:
        """Form defaults, overridable in the config file's [calc] table (e.g. model = "qwen3-8b")."""
        values = dict(DEFAULT_FIELDS)
        config = getattr(self.app, "config", None)
        if config is not None:
            for key, value in config.section("calc").items():
                if key in values:
                    values[key] = value if isinstance(value, bool) else str(value)
        return values

    def on_mount(self) -> None:
        self.query_one("#calc-flavors", DataTable).add_columns(*FLAVOR_COLUMNS)
        self._show_method(str(self._defaults()["method"]))
        self.recompute()

    # ---- reading the form -----------------------------------------------------------------------
    def fields(self) -> dict[str, Any]:
        values: dict[str, Any] = {"model": self.query_one("#model", Input).value}
        for name, _, _ in (*TEXT_FIELDS, *RUN_FIELDS):
            values[name] = self.query_one(f"#{name}", Input).value
        for name in ("mode", "method", "optimizer", "dtype", "loss_impl", "weights", "kv_dtype", "quant", "attention",
                     "strategy", "peft_method"):
            values[name] = self.query_one(f"#{name}", Select).value
        for name in (*(n for n, _ in SWITCHES), "old_bitsandbytes"):
            values[name] = self.query_one(f"#{name}", Switch).value
        return values

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def _changed(self, event: Input.Changed | Select.Changed | Switch.Changed) -> None:
        if event.control.id == "model-pick":
            if isinstance(event.value, str) and event.value:
                self.query_one("#model", Input).value = event.value
            return
        if event.control.id == "dataset":
            self._schedule_profile()
            return
        if event.control.id == "mode":
            self._show_mode(str(event.value))
        if event.control.id == "method":
            self._show_method(str(event.value))
        self._schedule()

    def _show_mode(self, mode: str) -> None:
        """Inference needs the weight format and KV dtype; the training-only fields step aside."""
        inference = mode == "inference"
        self.query_one("#inference-fields").set_class(not inference, "-hidden")
        for widget in self.query(".training-only"):
            widget.set_class(inference, "-hidden")
        label = self.query_one("#max_length-label", Label)
        label.update("Context (prompt + generated)" if inference else "Max length (tokens)")

    def _show_method(self, method: str) -> None:
        """The old-bitsandbytes switch only changes a QLoRA estimate, so it shows only for QLoRA."""
        for widget in self.query(".qlora-only"):
            widget.set_class(method != "qlora", "-hidden")
        for widget in self.query(".adapter-only"):
            widget.set_class(method == "full", "-hidden")

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE_S, self.recompute)

    # ---- computing --------------------------------------------------------------------------------
    def recompute(self) -> None:
        """Compute now: on the UI thread when no network is involved, else in a thread worker."""
        self._timer = None
        fields = self.fields()
        if self.profile is not None and not str(fields.get("tokens_per_example", "")).strip():
            length = str(fields.get("max_length", "")).strip().replace(",", "")
            if length.isdigit() and int(length) > 0:
                fields["tokens_per_example"] = str(self.profile.mean_tokens_at(int(length)))
        generation = next(self._generation)
        self._latest = generation
        model = str(fields["model"]).strip()
        local = model.startswith((".", "/", "~")) or model.endswith(".json") or Path(model).expanduser().exists()
        if find_entry(model) is not None or ("/" not in model and not local):
            self._apply(generation, self._calculate(fields))
        else:  # the Hub, or a config counted on the meta device: seconds, so off the UI thread
            self.query_one("#calc-stale", Static).update(
                f"reading {model} …" if local else f"fetching config.json of {model} …")
            self._calculate_in_thread(generation, fields)

    @staticmethod
    def _calculate(fields: dict[str, Any]) -> CalcResult | FormErrors:
        try:
            return calculate(fields)
        except FormErrors as exc:
            return exc

    @work(thread=True, exclusive=True, group="calc-hub", exit_on_error=False)
    def _calculate_in_thread(self, generation: int, fields: dict[str, Any]) -> None:
        outcome = self._calculate(fields)
        self.app.call_from_thread(self._apply, generation, outcome)

    def _apply(self, generation: int, outcome: CalcResult | FormErrors) -> None:
        if generation != self._latest:
            return  # a newer edit has been computed or is on its way
        errors = outcome.errors if isinstance(outcome, FormErrors) else {}
        self.form_errors = errors
        for widget in self.query(".field-error"):
            name = (widget.id or "").removesuffix("-error")
            message = errors.get(name, "")
            widget.update(redact(message))
            widget.set_class(bool(message), "-shown")
        stale = self.query_one("#calc-stale", Static)
        if isinstance(outcome, FormErrors):
            stale.update("fix the marked field — showing the last valid estimate" if self.result else
                         "fix the marked field to see an estimate")
            return
        stale.update("")
        self.result = outcome
        best = outcome.best_flavor
        if self.chart_flavor is None or self._follow_best or not self.chart_flavor.is_gpu:
            self.chart_flavor = best or get_flavor("h200")
        self._render_result(outcome)

    _follow_best = True
    """The chart follows the recommended flavor until the user picks another row."""

    # ---- rendering ----------------------------------------------------------------------------------
    def _render_result(self, result: CalcResult) -> None:
        est = result.estimate
        arch = result.arch
        best = result.best_flavor
        inference = est.kind == "inference"
        summary = Text()
        summary.append(f"{arch.name}", style="bold")
        what = (f"inference · {est.inputs.weights} weights · {est.inputs.context_length:,} tokens of context × "  # type: ignore[union-attr]
                f"{est.inputs.batch_size}" if inference else  # type: ignore[union-attr]
                f"{result.inputs.method} · {result.inputs.max_length:,} tokens × {result.inputs.batch_size}")
        summary.append(f"  {arch.total_params / 1e9:.2f}B params · vocab {arch.vocab_size:,} · {what}\n")
        summary.append(f"Peak {est.total_gb:.1f} GB", style="bold")
        logits = est.term("logits")
        if logits is not None and logits.bytes:
            summary.append(f" · logits {logits.bytes / 1e9:.1f} GB")
        summary.append(f" · peak at {est.peak_phase}\n")
        if best is not None:
            summary.append("Recommended: ", style="bold")
            summary.append(f"{best.name} ({best.gpu_name} {best.gpu_memory_gb:g} GB, ${best.price_per_hour:.2f}/h)",
                           style=tone("good"))
            if result.best is not None:
                summary.append(f" · {result.plan.examples:,} ex × {result.plan.epochs:g} ep ≈ "
                               f"{result.best.hours:.1f} h ≈ ${result.best.cost:.2f}")
        else:
            summary.append("No single-GPU flavor fits: " + ("shorten the context or quantise the weights" if inference
                           else "shorten max length, use QLoRA, checkpointing or a chunked loss"), style=tone("error"))
        for note in est.notes:
            summary.append(f"\n{note}", style="italic")
        self.query_one("#calc-summary", Static).update(summary)

        rows: list[tuple[str, tuple[Text, Text, Text, Text]]] = []
        for term in est.terms:
            share = term.bytes / est.total_bytes if est.total_bytes else 0.0
            style = "" if term.at_peak else "dim"
            rows.append((term.key or term.name, (
                Text(term.name, style=style), Text(_gb(term.bytes), style=style, justify="right"),
                Text(f"{share:.0%}" if term.at_peak else "—", style=style, justify="right"),
                Text(term.note + ("" if term.at_peak else " (not at the peak)"), style=style))))
        rows.append(("total", (Text("total", style="bold"), Text(_gb(est.total_bytes), style="bold", justify="right"),
                               Text("100%", justify="right"), Text("what must fit on one GPU"))))
        self.query_one(TermsTable).show(rows)

        table = self.query_one("#calc-flavors", DataTable)
        table.clear(columns=True)
        table.add_columns(*FLAVOR_COLUMNS)
        for fl, cells in self._flavor_rows(result):
            name_style = tone("good") if best and fl.name == best.name else ""
            gpu = f"{fl.gpu_count}× {fl.gpu_name} {fl.gpu_memory_gb:g}GB" if fl.gpu_count > 1 else \
                f"{fl.gpu_name} {fl.gpu_memory_gb:g}GB"
            table.add_row(Text(fl.name, style=name_style), gpu, f"{fl.price_per_hour:.2f}", *cells, key=fl.name)
        if table.row_count and self.chart_flavor is not None:
            # Keep the cursor on the flavor the chart shows (rows are re-sorted on every change).
            keys = [row.key.value for row in table.ordered_rows]
            if self.chart_flavor.name in keys:
                table.move_cursor(row=keys.index(self.chart_flavor.name), animate=False)
        chart = self.query_one(MemoryChart)
        chart.estimate = est
        chart.flavor = self.chart_flavor
        self._render_profile(result.inputs.max_length)

    def _flavor_rows(self, result: CalcResult) -> list[tuple[Flavor, tuple[Text, Text, Text, Text]]]:
        """Verdict, headroom, time and cost per flavor: fitting ones first by price, then by shortfall."""
        est = result.estimate
        rows: list[tuple[Flavor, tuple[Text, Text, Text, Text]]] = []
        if result.runs:
            runs = result.runs
        else:  # inference: no run to price, only the verdict
            runs = [RunCost(flavor=f, fits=est.usable(f), headroom_bytes=est.headroom_bytes(f), tokens_per_second=0,
                            seconds=0, cost=0, steps=0, problem=est.unsupported(f)) for f in gpu_flavors()]
        ordered = sorted(runs, key=lambda r: (not r.fits, r.flavor.price_per_hour if r.fits else -r.headroom_bytes,
                                              r.flavor.gpu_memory_gb))
        best = result.best_flavor
        for run in ordered:
            if run.flavor.gpu_count > 1 and not self.show_multi_gpu and not (best and run.flavor.name == best.name):
                continue  # shown when asked for, or when the recommendation needs several GPUs
            timing = (Text(f"{run.hours:.1f} h", justify="right"), Text(f"${run.cost:,.2f}", justify="right")) \
                if result.runs else (Text("—", justify="right"), Text(f"${run.flavor.price_per_hour:.2f}/h",
                                                                       justify="right"))
            rows.append((run.flavor, (verdict(run, best), Text(f"{run.headroom_bytes / 1e9:+.1f} GB", justify="right"),
                                      *timing)))
        return rows

    # ---- the dataset profile ------------------------------------------------------------------------
    def _schedule_profile(self) -> None:
        if self._profile_timer is not None:
            self._profile_timer.stop()
        self._profile_timer = self.set_timer(DEBOUNCE_S * 2, self._start_profile)

    def _start_profile(self) -> None:
        self._profile_timer = None
        source = self.query_one("#dataset", Input).value.strip()
        error = self.query_one("#dataset-error", Static)
        if not source:
            self.profile = None
            error.update("")
            error.set_class(False, "-shown")
            self.recompute()
            return
        self.query_one("#calc-dataset", Static).update(f"reading {source} …")
        self._profile_in_thread(source, self.query_one("#model", Input).value.strip())

    @work(thread=True, exclusive=True, group="calc-profile", exit_on_error=False)
    def _profile_in_thread(self, source: str, model: str) -> None:
        from core.calc.dataset_profile import profile_dataset
        from core.errors import TunerError

        try:
            outcome: Any = profile_dataset(source, model=model, sample=50_000)
        except TunerError as exc:
            outcome = exc
        self.app.call_from_thread(self._apply_profile, source, outcome)

    def _apply_profile(self, source: str, outcome: Any) -> None:
        if source != self.query_one("#dataset", Input).value.strip():
            return  # the field changed meanwhile
        error = self.query_one("#dataset-error", Static)
        if isinstance(outcome, Exception):
            error.update(redact(outcome.one_line() if hasattr(outcome, "one_line") else str(outcome)))
            error.set_class(True, "-shown")
            self.profile = None
            self.query_one("#calc-dataset", Static).update("")
            return
        error.update("")
        error.set_class(False, "-shown")
        self.profile = outcome
        self.recompute()

    def _render_profile(self, max_length: int) -> None:
        """Token-length histogram of the dataset with the max-length marker under it."""
        panel = self.query_one("#calc-dataset", Static)
        panel.update("" if self.profile is None else histogram_text(self.profile, max_length))

    @on(DataTable.RowHighlighted, "#calc-flavors")
    def _pick_flavor(self, event: DataTable.RowHighlighted) -> None:
        if self.result is None or event.row_key.value is None:
            return
        flavor = get_flavor(str(event.row_key.value))
        if flavor is None:
            return
        if self.chart_flavor is not None and flavor.name != self.chart_flavor.name:
            best = self.result.best_flavor
            self._follow_best = bool(best and flavor.name == best.name)
        self.chart_flavor = flavor
        self.query_one(MemoryChart).flavor = flavor

    # ---- actions --------------------------------------------------------------------------------------
    def action_recompute(self) -> None:
        self.recompute()

    def action_toggle_multi(self) -> None:
        self.show_multi_gpu = not self.show_multi_gpu
        if self.result is not None:
            self._render_result(self.result)
        self.notify("multi-GPU flavors shown (per-GPU memory with the strategy in the verdict)" if self.show_multi_gpu
                    else "multi-GPU flavors hidden", timeout=3)

    form_errors: dict[str, str] = {}
    """The fields the last computation refused (name -> message); empty when the form is valid."""

    def action_copy_cli(self) -> None:
        # The line must run as copied: a form with a refused field (an unknown model id) would copy a
        # command that fails, so say which field to fix instead. No --json: the line is for people.
        if self.form_errors:
            name, message = next(iter(self.form_errors.items()))
            self.notify(redact(f"nothing copied: fix {name} first ({message})"), severity="warning",
                        markup=False)
            return
        line = cli_command(self.fields())
        self.app.copy_to_clipboard(line)
        self.notify(redact(line), title="Copied the CLI command", timeout=6)

    def action_guide(self) -> None:
        self.app.push_screen(GuideTables())

    def action_focus_results(self) -> None:
        """Leave the form (letter keys then act as commands) for the flavor table."""
        self.query_one("#calc-flavors", DataTable).focus()
