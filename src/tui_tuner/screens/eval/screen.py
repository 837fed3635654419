"""The Evaluate area: open a results directory and read it — overview, pairwise tests, categories,
persona drill-down, two models' transcripts side by side — with filters, sort, export, live reload.

All numbers come from `core.eval.report`; this module only lays them out. Loading runs in a thread
worker (numpy/scipy and a large conversations.jsonl must not freeze input); a running evaluation is
re-read when its files change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, TabPane, Tabs
from textual.widgets.data_table import CellDoesNotExist
from textual.worker import Worker

from core.errors import TunerError
from core.eval.report import (
    SHOW_FILTERS,
    Report,
    Settings,
    build_report,
    design_text,
    export_text,
    filter_personas,
    fmt,
    fmt_ci,
    fmt_p,
    pass_rate_text,
    safety_text,
    settings_from_config,
    write_export,
)
from core.eval.results import (
    CONVERSATIONS_FILE,
    PERSONAS_FILE,
    RUN_FILE,
    ConversationRecord,
    EvalResults,
    load_results,
)
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.eval.export import ExportDialog, ExportRequest
from tui_tuner.screens.eval.forest import ForestPlot
from tui_tuner.screens.eval.run_dialog import EvalRunDialog
from tui_tuner.screens.eval.transcript import TranscriptPane
from tui_tuner.tones import theme_colour, tone

if TYPE_CHECKING:  # the runner (httpx) loads only when a run starts
    from core.eval.runner import RunConfig

REFRESH_INTERVAL_S = 3.0
"""How often the files of the open directory are checked for changes (stat only; a reload happens only
when run.json, personas.json or conversations.jsonl changed)."""
BANNER_MAX_LINES = 6
RECENT_RUNS = 20

TABS = {"overview": "tab-overview", "pairwise": "tab-pairwise", "categories": "tab-categories",
        "personas": "tab-personas", "side-by-side": "tab-transcripts"}


@dataclass(frozen=True)
class ViewRequest:
    """What `tui-tuner eval view DIR [--tab] [--model] [--show] [--persona]` asks the screen to open."""

    directory: Path
    tab: str | None = None
    model: str | None = None
    show: str | None = None
    persona: str | None = None


_pending: ViewRequest | None = None


def open_on_start(directory: Path | str, *, tab: str | None = None, model: str | None = None,
                  show: str | None = None, persona: str | None = None) -> None:
    """Make the next EvalScreen that mounts open `directory` (used by `tui-tuner eval view DIR`)."""
    global _pending
    _pending = ViewRequest(Path(directory), tab, model, show, persona)


def _take_pending() -> ViewRequest | None:
    global _pending
    request, _pending = _pending, None
    return request


SHOWS = (("all personas", "all"), ("not passed", "failed"), ("safety violations", "safety"),
         ("worse than baseline", "worse"), ("failed attempts", "errors"), ("high spread", "spread"))
"""What the personas table shows (with the model filter: under that model)."""
SORTS = (("persona id", "persona"), ("Δ worst first", "delta"), ("Δ best first", "-delta"),
         ("mean, lowest first", "mean"), ("spread, highest first", "spread"), ("category", "category"))
TAB_TABLES = {"tab-overview": "overview", "tab-pairwise": "pairwise", "tab-categories": "categories",
              "tab-personas": "personas", "tab-transcripts": "conversations"}


class ResultsLoaded(Message):
    def __init__(self, generation: int, directory: Path, results: EvalResults, report: Report,
                 signature: tuple) -> None:
        super().__init__()
        self.generation = generation
        self.directory, self.results, self.report, self.signature = directory, results, report, signature


class LoadFailed(Message):
    def __init__(self, generation: int, directory: Path, message: str) -> None:
        super().__init__()
        self.generation = generation
        self.directory, self.message = directory, message


def files_signature(directory: Path) -> tuple:
    """(size, mtime) of the three results files: a cheap "did anything change" check."""
    signature = []
    for name in (RUN_FILE, PERSONAS_FILE, CONVERSATIONS_FILE):
        try:
            st = (directory / name).stat()
            signature.append((st.st_size, st.st_mtime_ns))
        except OSError:
            signature.append(None)
    return tuple(signature)


@dataclass
class TranscriptSlot:
    persona_id: str | None = None
    conv_index: int = 0
    model_a: str | None = None
    model_b: str | None = None


class EvalScreen(AreaScreen):
    AREA = "eval"
    CSS_PATH = "eval.tcss"
    HELP = """
## Evaluate

Open a results directory of `tui-tuner eval run` (**o**, or a recent run), or start a run here with
**R** (personas, models by port or URL, simulator, judge, rubric, K, turns; **K** stops it; on an
unfinished run, **R** offers **Resume** with the settings it recorded). A running evaluation reloads
as conversations finish.

- **Overview**: per model, persona-level mean ± SD, 95 % CI, pass rate, safety with an upper bound;
  the guide's verdict (Δ ≥ 0.10, p < 0.05 Holm, no safety regression).
- **Pairwise**: paired t-test on persona means, CI, d_z, Holm; Wilcoxon and sign-flip checks;
  the forest plot follows the highlighted row. **Enter** opens its personas.
- **Breakdown**: categories and rubric criteria (exploratory).
- **Personas**: **/** search, filter by category, model and what to show; **Enter** or **t**
  opens two models' transcripts side by side (**n**/**p** persona, **c** conversation, **s** swap).
- **x** exports markdown, CSV (with the filters) or JSON.
"""
    BINDINGS = [
        Binding("o", "focus_open", "Open", id="eval.open", tooltip="type or pick a results directory"),
        Binding("r", "reload", "Reload", id="eval.reload"),
        Binding("slash", "focus_filter", "Filter", id="eval.filter"),
        Binding("t", "side_by_side", "Side by side", id="eval.side-by-side"),
        Binding("n", "step_persona(1)", "Next persona", id="eval.next-persona"),
        Binding("p", "step_persona(-1)", "Prev persona", id="eval.prev-persona"),
        Binding("c", "step_conversation", "Next conv", id="eval.next-conversation"),
        Binding("s", "swap_models", "Swap A/B", id="eval.swap", show=False),
        Binding("x", "export", "Export", id="eval.export"),
        Binding("R", "new_run", "New run", id="eval.new-run",
                tooltip="run an evaluation: personas × models, simulated, judged; opens here as it goes"),
        Binding("K", "stop_run", "Stop run", id="eval.stop-run"),
        Binding("escape", "back", "Back", id="eval.back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.directory: Path | None = None
        self.results: EvalResults | None = None
        self.report: Report | None = None
        self.settings = Settings()
        """Success thresholds; read from the [eval] config table on mount."""
        self.slot = TranscriptSlot()
        self._signature: tuple | None = None
        self._load_error: str | None = None
        self._view_request: ViewRequest | None = None
        self._generation = 0
        self._options: dict[str, list[object]] = {}
        """Option values currently set on each Select (by selector), to skip needless resets."""
        self._run_worker: Worker[None] | None = None
        self._run_form: dict[str, str] = {}
        """The last run form's fields, so the next run starts from them."""

    # --- layout --------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="eval-body"):
            with Horizontal(id="eval-open-bar"):
                yield Input(placeholder="results directory (holds run.json and conversations.jsonl)", id="eval-dir")
                yield Select([], prompt="recent runs", id="eval-recent")
            yield Static(id="eval-banner")
            yield Static(id="eval-run-status", classes="-hidden")
            yield Static(id="eval-summary")
            with TabbedContent(initial="tab-overview", id="eval-tabs"):
                with TabPane("Overview", id="tab-overview"), VerticalScroll():
                    yield DataTable(id="overview-table", cursor_type="row", zebra_stripes=True)
                    yield Static(id="verdicts")
                with TabPane("Pairwise", id="tab-pairwise"), VerticalScroll():
                    yield Static(id="family-note", classes="muted")
                    yield DataTable(id="pairwise-table", cursor_type="row", zebra_stripes=True)
                    yield Static(id="pairwise-notes", classes="muted")
                    yield ForestPlot(id="forest")
                    yield Static("Safety (paired by persona)", classes="section-title")
                    yield DataTable(id="safety-table", cursor_type="row", zebra_stripes=True)
                    yield Static("Power and sample size", classes="section-title")
                    yield DataTable(id="power-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Breakdown", id="tab-categories"), VerticalScroll():
                    yield Static("Exploratory: few personas per category, so no test; Δ is paired within the "
                                 "category.", classes="muted")
                    yield DataTable(id="categories-table", cursor_type="row", zebra_stripes=True)
                    yield Static("Rubric criteria (which part of the rubric moved; Δ paired by persona)",
                                 classes="section-title")
                    yield DataTable(id="criteria-table", cursor_type="row", zebra_stripes=True)
                with TabPane("Personas", id="tab-personas"):
                    with Horizontal(id="persona-filters"):
                        yield Input(placeholder="/ search", id="persona-search")
                        yield Select([], prompt="any category", id="filter-category")
                        yield Select([], prompt="any model", id="filter-model")
                        yield Select(SHOWS, value="all", allow_blank=False, id="filter-show")
                        yield Select(SORTS, value="persona", allow_blank=False, id="persona-sort")
                    yield DataTable(id="personas-table", cursor_type="row", zebra_stripes=True)
                    yield Static(id="persona-detail")
                with TabPane("Side by side", id="tab-transcripts"):
                    with Horizontal(id="transcript-controls"):
                        yield Select([], prompt="persona", id="pick-persona")
                        yield Select([], prompt="conversation", id="pick-conv")
                        yield Select([], prompt="model A", id="model-a")
                        yield Select([], prompt="model B", id="model-b")
                    yield Static(id="transcript-delta")
                    with Horizontal(id="transcripts"):
                        yield TranscriptPane(id="pane-a")
                        yield TranscriptPane(id="pane-b")

    def on_mount(self) -> None:
        config = getattr(self.app, "config", None)
        if config is not None:
            self.settings = settings_from_config(config.section("eval"))
        self._show_empty()
        self._load_recent()
        self.set_interval(REFRESH_INTERVAL_S, self._check_for_changes)
        self._open_pending()

    def on_screen_resume(self) -> None:
        self._open_pending()

    def _open_pending(self) -> None:
        request = _take_pending()
        if request is not None:
            self._view_request = request
            self.open_directory(request.directory)

    def _apply_view_request(self) -> None:
        """Once the requested directory is loaded: the tab, model filter, show filter and persona asked for."""
        request, self._view_request = self._view_request, None
        if request is None or self.report is None:
            return
        models = [m.name for m in self.report.models]
        if request.model is not None:
            if request.model in models:
                self.query_one("#filter-model", Select).value = request.model
                if request.model != self.report.baseline:
                    self.slot.model_b = request.model
            else:
                self.notify(f"no model {request.model!r} in these results ({', '.join(models)})", severity="warning", markup=False)
        if request.show is not None and request.show in dict((v, k) for k, v in SHOWS):
            self.query_one("#filter-show", Select).value = request.show
        if request.persona is not None:
            if request.persona in (self.results.persona_ids if self.results else []):
                self.show_side_by_side(request.persona)
            else:
                self.notify(f"no persona {request.persona!r} in these results", severity="warning", markup=False)
        if request.tab is not None:
            self.query_one("#eval-tabs", TabbedContent).active = TABS.get(request.tab, "tab-overview")

    # --- loading -------------------------------------------------------------------------------
    def open_directory(self, directory: Path | str) -> None:
        directory = Path(directory).expanduser()
        dir_input = self.query_one("#eval-dir", Input)
        if dir_input.value != str(directory):
            dir_input.value = str(directory)
        self._load(directory)

    def _load(self, directory: Path) -> None:
        # Thread workers cannot be stopped, so an older load may finish after a newer one: each load
        # carries a generation and only the latest one's result is shown.
        self._generation += 1
        self._load_worker(directory, self._generation)

    @work(thread=True, exclusive=True, group="eval-load", exit_on_error=False)
    def _load_worker(self, directory: Path, generation: int) -> None:
        signature = files_signature(directory)
        try:
            results = load_results(directory)
            if not (directory / RUN_FILE).exists() and not (directory / CONVERSATIONS_FILE).exists():
                raise TunerError(f"{directory}: not an evaluation results directory "
                                 f"(no {RUN_FILE}, no {CONVERSATIONS_FILE})")
            report = build_report(results, self.settings)
        except TunerError as exc:
            self.post_message(LoadFailed(generation, directory, exc.one_line()))
            return
        self.post_message(ResultsLoaded(generation, directory, results, report, signature))

    @on(LoadFailed)
    def _load_failed(self, event: LoadFailed) -> None:
        if event.generation != self._generation:
            return
        self._load_error = event.message
        if self.directory is None or self.directory == event.directory:
            self._signature = files_signature(event.directory)
        self.notify(redact(event.message), severity="error", timeout=8, markup=False)
        self._render_banner()

    @on(ResultsLoaded)
    def _loaded(self, event: ResultsLoaded) -> None:
        if event.generation != self._generation:
            return
        same_dir = self.directory == event.directory
        was_running = same_dir and self.report is not None and self.report.status == "running"
        self.directory, self.results, self.report = event.directory, event.results, event.report
        if was_running and event.report.status != "running":
            # The user is watching a live run: say when it ends, with the verdicts.
            verdicts = "; ".join(f"{v.candidate} {v.status}" for v in event.report.verdicts) or "no verdict"
            self.notify(f"evaluation {event.report.status}: {verdicts}", timeout=10, markup=False)
        self._signature = event.signature
        self._load_error = None
        if not same_dir:
            self.slot = TranscriptSlot()
        self._render_all(keep_filters=same_dir)
        if self._view_request is not None and self._view_request.directory == event.directory:
            self._apply_view_request()
        if not same_dir and (self.focused is None or self.focused.id == "eval-dir"):
            # Leave the path input so the screen's single-key bindings work (and show in the footer).
            # Focus inside the active pane: TabbedContent switches to the pane of a focused widget.
            self._focus_active_pane()

    def _check_for_changes(self) -> None:
        if self.directory is None:
            return
        if files_signature(self.directory) != self._signature:
            self._load(self.directory)

    @work(thread=True, exclusive=True, group="eval-recent", exit_on_error=False)
    def _load_recent(self) -> None:
        """Runs recorded by `tui-tuner eval run` in the store, newest first, read off the event loop."""
        from core.eval.history import recent_runs

        runs = recent_runs(RECENT_RUNS)
        self.app.call_from_thread(self._show_recent, [(r.label, str(r.results_dir)) for r in runs])

    def _show_recent(self, options: list[tuple[str, str]]) -> None:
        select = self.query_one("#eval-recent", Select)
        select.set_options([(Text(label), value) for label, value in options])
        select.disabled = not options

    # --- rendering -----------------------------------------------------------------------------
    def _show_empty(self) -> None:
        self.query_one("#eval-summary", Static).update(Text.assemble(
            ("No results open. ", "bold"),
            "Type a results directory above and press Enter, or pick a recent run. "
            "To start an evaluation here press R (esc first leaves the directory field); "
            "`tui-tuner eval run` runs one from a shell and `tui-tuner eval view DIR` opens one directly."))
        self._render_banner()

    def _render_all(self, keep_filters: bool) -> None:
        assert self.report is not None and self.results is not None
        self._render_banner()
        self._render_summary()
        self._render_overview()
        self._render_pairwise()
        self._render_categories()
        self._render_criteria()
        self._sync_filter_options(keep_filters)
        self._render_personas()
        self._sync_transcript_options()
        self._render_transcripts()

    def _colour(self, name: str) -> str:
        """A colour of the current theme by field (success, error, warning...): never a literal."""
        return theme_colour(name, self.app) or ""

    def _render_banner(self) -> None:
        banner = self.query_one("#eval-banner", Static)
        problems = list(self.report.problems) if self.report else []
        lines: list[tuple[str, str]] = []
        if self._load_error:
            lines.append(("error", self._load_error))
        lines += [(p.severity, p.line()) for p in problems]
        banner.set_class(not lines, "-hidden")
        banner.set_class(any(s == "error" for s, _ in lines), "-error")
        banner.set_class(bool(lines) and all(s == "info" for s, _ in lines), "-info")
        if not lines:
            banner.update("")
            return
        styles = {"error": tone("error", app=self.app), "warning": tone("warning", app=self.app), "info": ""}
        marks = {"error": "✗", "warning": "!", "info": "·"}
        text = Text()
        for i, (severity, line) in enumerate(lines[:BANNER_MAX_LINES]):
            if i:
                text.append("\n")
            text.append(f"{marks[severity]} ", style=styles[severity])
            text.append(redact(line), style=styles[severity])
        if len(lines) > BANNER_MAX_LINES:
            text.append(f"\n… and {len(lines) - BANNER_MAX_LINES} more (see the Data problems section of "
                        "the exported report)", style="italic")
        banner.update(text)

    def _render_summary(self) -> None:
        report, results = self.report, self.results
        assert report is not None and results is not None
        ok, bad, warn = self._colour("success"), self._colour("error"), self._colour("warning")
        text = Text()
        text.append(results.directory.name or str(results.directory), style="bold")
        text.append(f"  ·  {report.status}  ·  {report.progress}")
        if report.rubric_name:
            text.append(f"  ·  rubric {report.rubric_name}")
            if report.pass_threshold is not None:
                text.append(f" (pass ≥ {report.pass_threshold:g})")
        for verdict in report.verdicts:
            style = {"PASS": f"bold {ok}", "FAIL": f"bold {bad}"}.get(verdict.status, f"bold {warn}")
            text.append(f"\n{verdict.candidate} vs {verdict.baseline}: ")
            text.append(verdict.status, style=style)
            if verdict.provisional:
                text.append(" (provisional)", style="italic")
            for c in verdict.criteria:
                mark, style = ("✓", ok) if c.ok else ("✗", bad) if c.ok is False else ("?", warn)
                text.append(f"  {mark} ", style=f"bold {style}")
                text.append(c.name)
        if report.note:
            text.append(f"\nNote: {report.note}", style="italic")
        self.query_one("#eval-summary", Static).update(text)

    @staticmethod
    def _fill(table: DataTable, columns: list[str], rows: list[list[object]], keys: list[str] | None = None) -> None:
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*columns)
        for i, row in enumerate(rows):
            table.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row],
                          key=keys[i] if keys else None)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)

    def _signed(self, value: float | None) -> Text:
        if value is None:
            return Text("—")
        if abs(value) < 5e-4:  # rounds to ±0.000: show it as no change, not as a coloured gain or loss
            return Text("+0.000")
        style = self._colour("success") if value > 0 else self._colour("error") if value < 0 else ""
        return Text(f"{value:+.3f}", style=style)

    def _render_overview(self) -> None:
        report = self.report
        assert report is not None
        rows = [[Text(m.name, style="bold"), m.role, design_text(m, report), fmt(m.mean), fmt(m.sd),
                 fmt_ci(m.ci_low, m.ci_high), pass_rate_text(m.pass_rate),
                 Text(safety_text(m.safety), style=self._colour("error") if m.safety.events else ""),
                 fmt(m.within_persona_sd), str(m.failed), str(m.missing)] for m in report.models]
        self._fill(self.query_one("#overview-table", DataTable),
                   ["model", "role", "n", "mean", "SD", "95% CI", "pass rate [95% CI]", "safety (≤95% bound)",
                    "SD repeats", "failed", "missing"], rows, [m.name for m in report.models])
        ok, bad, warn = self._colour("success"), self._colour("error"), self._colour("warning")
        s = report.settings
        text = Text(f"Verdict — the guide's success criteria: Δ ≥ {s.min_improvement:.2f}, p < {s.alpha:g} "
                    f"(Holm), no safety regressions\n", style="bold")
        if not report.verdicts:
            text.append("No candidate model to compare with a baseline.", style="italic")
        for v in report.verdicts:
            style = {"PASS": f"bold {ok}", "FAIL": f"bold {bad}"}.get(v.status, f"bold {warn}")
            text.append(f"\n{v.candidate}: ", style="bold")
            text.append(v.status, style=style)
            if v.provisional:
                text.append("  (provisional: run incomplete)", style="italic")
            for c in v.criteria:
                mark, cstyle = ("✓", ok) if c.ok else ("✗", bad) if c.ok is False else ("?", warn)
                text.append(f"\n  {mark} ", style=f"bold {cstyle}")
                text.append(f"{c.name}: {c.detail}")
            if v.ci_above_threshold is not None:
                text.append(f"\n  · stricter reading (CI lower bound ≥ {s.min_improvement:.2f}): "
                            f"{'yes' if v.ci_above_threshold else 'no'}", style="dim")
        self.query_one("#verdicts", Static).update(text)

    def _render_pairwise(self) -> None:
        report = self.report
        assert report is not None
        alpha = report.settings.alpha
        rows = []
        for c in report.pairwise:
            holm_style = "bold" if c.p_holm is not None and c.p_holm < alpha else ""
            rows.append([Text(c.name, style="bold"), str(c.n), self._signed(c.diff),
                         fmt_ci(c.ci_low, c.ci_high, signed=True),
                         f"{c.t:.2f} ({c.df})" if c.t is not None else "—", fmt_p(c.p),
                         Text(fmt_p(c.p_holm), style=holm_style), fmt(c.d_z, 2),
                         f"{c.improved}/{c.unchanged}/{c.worsened}", fmt(c.correlation, 2), fmt_p(c.wilcoxon_p),
                         fmt_p(c.permutation_p)])
        self._fill(self.query_one("#pairwise-table", DataTable),
                   ["comparison", "n", "Δ", "95% CI", "t (df)", "p", "p Holm", "d_z", "↑/=/↓", "r", "Wilcoxon p",
                    "perm. p"], rows, [c.name for c in report.pairwise])
        self.query_one("#family-note", Static).update(
            Text(f"Paired t-test on persona means. Multiplicity: {report.family}."))
        notes = [f"{c.name}: {c.note}" for c in report.pairwise if c.note]
        notes += [f"{c.name}: Wilcoxon {c.wilcoxon_note}" for c in report.pairwise if c.wilcoxon_note]
        notes += [f"{c.name}: left out (finished under one model only): {', '.join(c.unpaired)}"
                  for c in report.pairwise if c.unpaired]
        self.query_one("#pairwise-notes", Static).update(Text("\n".join(notes)))
        self._render_forest()
        bad = self._colour("error")
        self._fill(self.query_one("#safety-table", DataTable),
                   ["comparison", "paired personas", "new violations", "fixed", "both", "McNemar p", "p (worse)"],
                   [[f"{x.candidate} vs {x.reference}", str(x.n),
                     Text(str(x.new_violations), style=f"bold {bad}" if x.new_violations else ""), str(x.fixed),
                     str(x.both), fmt_p(x.p), fmt_p(x.p_worse)] for x in report.safety])
        target = report.settings.min_improvement
        self._fill(self.query_one("#power-table", DataTable),
                   ["comparison", "n", "SD(Δ)", "d_z", "power @d_z", "personas for d_z",
                    f"personas for Δ={target:.2f}", "MDE d_z @n", f"max SD(Δ) for {target:.2f}"],
                   [[f"{p.candidate} vs {p.reference}", str(p.n), fmt(p.sd_diff), fmt(p.observed_d_z, 2),
                     "—" if p.power_observed is None else f"{p.power_observed:.0%}",
                     _needed(p.pairs_needed_observed, p.pairs_needed_observed_holm),
                     _needed(p.pairs_needed_target, p.pairs_needed_target_holm), fmt(p.mde_d_z, 2),
                     fmt(p.max_sd_for_target)] for p in report.power])

    def _render_categories(self) -> None:
        report = self.report
        assert report is not None
        candidates = [m.name for m in report.models if m.name != report.baseline]
        self._fill(self.query_one("#categories-table", DataTable),
                   ["category", "personas", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]],
                   [[Text(r.category, style="bold"), str(r.n_personas), *[fmt(r.means.get(m.name)) for m in report.models],
                     *[self._signed(r.diffs.get(c)) for c in candidates]] for r in report.categories],
                   [r.category for r in report.categories])

    def _render_criteria(self) -> None:
        report = self.report
        assert report is not None
        candidates = [m.name for m in report.models if m.name != report.baseline]
        bad = self._colour("error")
        rows = []
        for r in report.criteria:
            label = Text(r.criterion + (" (safety)" if r.safety and "safety" not in r.criterion else ""),
                         style="bold")
            cells: list[object] = []
            for m in report.models:
                count = r.violations.get(m.name, 0)
                cell = Text(fmt(r.means.get(m.name)))
                if r.safety and count:
                    cell.append(f"  {count}✗", style=f"bold {bad}")
                cells.append(cell)
            rows.append([label, *cells, *[self._signed(r.diffs.get(c)) for c in candidates]])
        self._fill(self.query_one("#criteria-table", DataTable),
                   ["criterion", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]], rows,
                   [r.criterion for r in report.criteria])

    # --- personas ------------------------------------------------------------------------------
    def _sync_filter_options(self, keep: bool) -> None:
        report = self.report
        assert report is not None
        categories = sorted({p.category for p in report.personas})
        models = [m.name for m in report.models]
        for selector, values in (("#filter-category", categories), ("#filter-model", models)):
            select = self.query_one(selector, Select)
            if self._options.get(selector) == values and keep:
                continue  # same choices (a live reload): leave the user's pick and an open dropdown alone
            old = select.value
            select.set_options([(Text(v), v) for v in values])  # Text: names from files are not markup
            self._options[selector] = values
            if keep and old != Select.NULL and old in values:
                select.value = old

    def persona_filters(self) -> dict[str, object]:
        category = self.query_one("#filter-category", Select).value
        model = self.query_one("#filter-model", Select).value
        return {
            "category": None if category == Select.NULL else str(category),
            "model": None if model == Select.NULL else str(model),
            **({SHOW_FILTERS[show]: True} if (show := self.query_one("#filter-show", Select).value) in SHOW_FILTERS
               else {}),
            "text": self.query_one("#persona-search", Input).value,
            "sort": str(self.query_one("#persona-sort", Select).value),
        }

    def visible_personas(self) -> list:
        if self.report is None:
            return []
        return filter_personas(self.report, **self.persona_filters())  # type: ignore[arg-type]

    def _render_personas(self) -> None:
        report = self.report
        if report is None:
            return
        rows = self.visible_personas()
        candidates = [m.name for m in report.models if m.name != report.baseline]
        warn, bad = self._colour("warning"), self._colour("error")
        table_rows = []
        for p in rows:
            flags = Text()
            if p.high_variance:
                flags.append("⚠spread ", style=warn)
            if p.any_violation:
                flags.append("safety ", style=f"bold {bad}")
            if p.any_failed:
                flags.append("failed", style=bad)
            cells = []
            for m in report.models:
                cell = p.cells[m.name]
                cells.append("—" if cell.mean is None else f"{cell.mean:.3f}  {cell.passed}/{cell.n}")
            table_rows.append([Text(p.persona_id, style="bold"), Text(p.name), Text(p.category), *cells,
                               *[self._signed(p.diffs.get(c)) for c in candidates], flags])
        table = self.query_one("#personas-table", DataTable)
        self._fill(table, ["persona", "name", "category", *[m.name for m in report.models],
                           *[f"Δ {c}" for c in candidates], "flags"], table_rows, [p.persona_id for p in rows])
        total = len(report.personas)
        table.border_title = f"{len(rows)} of {total} personas · per model: mean score, conversations passed"
        self._render_persona_detail()

    def _highlighted_persona(self) -> str | None:
        table = self.query_one("#personas-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        except CellDoesNotExist:
            return None
        return str(key.value) if key.value is not None else None

    def _render_persona_detail(self) -> None:
        detail = self.query_one("#persona-detail", Static)
        report, results = self.report, self.results
        pid = self._highlighted_persona()
        if report is None or results is None or pid is None:
            detail.update(Text("No persona matches the filters." if report else "", style="italic"))
            return
        row = next(p for p in report.personas if p.persona_id == pid)
        persona = results.persona(pid)
        head = Text()
        head.append(f"{pid}", style="bold")
        if persona.name:
            head.append(f"  {redact(persona.name)}")
        head.append(f"  ·  {row.category}")
        if persona.description:
            head.append(f"  ·  {redact(persona.description)}", style="italic")
        head.append("   (Enter: transcripts side by side)", style="dim")
        table = Table(box=None, pad_edge=False, expand=False, header_style="bold")
        for column in ("model", "scores by conversation", "mean", "SD", "min–max", "pass", "violations", "failed"):
            table.add_column(column)
        for model, cell in row.cells.items():
            table.add_row(model, "  ".join(f"{s:.2f}" for s in cell.scores) or "—", fmt(cell.mean), fmt(cell.sd, 2),
                          f"{fmt(cell.minimum, 2)}–{fmt(cell.maximum, 2)}" if cell.minimum is not None else "—",
                          f"{cell.passed}/{cell.n}", str(cell.violations), str(cell.failed))
        from rich.console import Group

        detail.update(Group(head, table))

    def _render_forest(self) -> None:
        report = self.report
        table = self.query_one("#pairwise-table", DataTable)
        comparison = None
        if report is not None and report.pairwise and table.row_count:
            comparison = report.pairwise[min(table.cursor_row, len(report.pairwise) - 1)]
        self.query_one("#forest", ForestPlot).show(report, comparison.candidate if comparison else None,
                                                   comparison.reference if comparison else None)

    @on(DataTable.RowHighlighted, "#pairwise-table")
    def _comparison_highlighted(self) -> None:
        self._render_forest()

    @on(DataTable.RowSelected, "#overview-table, #pairwise-table, #categories-table")
    def _drill_into_personas(self, event: DataTable.RowSelected) -> None:
        """Enter on a model, a comparison or a category opens the personas behind it."""
        report = self.report
        key = event.row_key.value
        if report is None or key is None:
            return
        table_id = event.data_table.id
        if table_id == "categories-table":
            self.query_one("#filter-category", Select).value = str(key)
        elif table_id == "overview-table":
            self.query_one("#filter-model", Select).value = str(key)
            self.query_one("#persona-sort", Select).value = "mean"
        else:
            comparison = next((c for c in report.pairwise if c.name == key), None)
            if comparison is None:
                return
            self.query_one("#filter-model", Select).value = comparison.candidate
            self.query_one("#persona-sort", Select).value = "delta"
            self.slot.model_a, self.slot.model_b = comparison.reference, comparison.candidate
        self.query_one("#eval-tabs", TabbedContent).active = "tab-personas"
        self.query_one("#personas-table", DataTable).focus()

    @on(DataTable.RowHighlighted, "#personas-table")
    def _persona_highlighted(self) -> None:
        self._render_persona_detail()

    @on(DataTable.RowSelected, "#personas-table")
    def _persona_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_side_by_side(str(event.row_key.value))

    @on(Input.Changed, "#persona-search")
    def _filters_changed(self) -> None:
        self._render_personas()

    @on(Select.Changed, "#filter-category, #filter-model, #filter-show, #persona-sort")
    def _filter_select_changed(self) -> None:
        self._render_personas()

    # --- side by side --------------------------------------------------------------------------
    def show_side_by_side(self, persona_id: str | None = None, conv_index: int | None = None) -> None:
        if persona_id is not None:
            self.slot.persona_id = persona_id
        if conv_index is not None:
            self.slot.conv_index = conv_index
        self._sync_transcript_options()
        self._render_transcripts()
        self.query_one("#eval-tabs", TabbedContent).active = "tab-transcripts"

    def _persona_order(self) -> list[str]:
        visible = [p.persona_id for p in self.visible_personas()]
        return visible or (self.results.persona_ids if self.results else [])

    def _sync_transcript_options(self) -> None:
        results = self.results
        if results is None:
            return
        models = results.models
        slot = self.slot
        if slot.model_a not in models:
            slot.model_a = results.baseline
        if slot.model_b not in models or slot.model_b == slot.model_a:
            slot.model_b = next((m for m in models if m != slot.model_a), slot.model_a)
        order = self._persona_order()
        if slot.persona_id not in results.persona_ids:
            slot.persona_id = order[0] if order else None
        k = results.conversations_per_persona or 1
        slot.conv_index = min(max(0, slot.conv_index), k - 1)
        personas = order if slot.persona_id in order or slot.persona_id is None else [*order, slot.persona_id]
        def label(pid: str) -> str:
            persona = results.persona(pid)
            return " · ".join(part for part in (pid, redact(persona.name), persona.category) if part)

        # Labels are Text, not str: names from the results files must not be parsed as markup.
        self._set_select("#pick-persona", [(Text(label(pid)), pid) for pid in personas], slot.persona_id)
        self._set_select("#pick-conv", [(f"conversation {i + 1} of {k}", i) for i in range(k)], slot.conv_index)
        self._set_select("#model-a", [(Text(f"A: {m}"), m) for m in models], slot.model_a)
        self._set_select("#model-b", [(Text(f"B: {m}"), m) for m in models], slot.model_b)

    def _set_select(self, selector: str, options: list[tuple[Text | str, object]], value: object) -> None:
        select = self.query_one(selector, Select)
        values = [v for _, v in options]
        if self._options.get(selector) != values:
            select.set_options(options)
            self._options[selector] = values
        if value is not None and any(v == value for _, v in options) and select.value != value:
            select.value = value

    def _render_transcripts(self) -> None:
        results = self.results
        pane_a, pane_b = self.query_one("#pane-a", TranscriptPane), self.query_one("#pane-b", TranscriptPane)
        if results is None or self.slot.persona_id is None:
            pane_a.show("—", None, missing="no conversation to show")
            pane_b.show("—", None, missing="no conversation to show")
            return
        slot = self.slot
        records = []
        for pane, model in ((pane_a, slot.model_a), (pane_b, slot.model_b)):
            if model is None:
                pane.show("—", None, missing="no model")
                records.append(None)
                continue
            record = results.record(slot.persona_id, model, slot.conv_index)
            records.append(record)
            pane.show(model, record, conversations=results.conversations_per_persona,
                      missing=f"{slot.persona_id} conversation {slot.conv_index + 1} has not finished under "
                              f"{model} yet")
        self._render_transcript_delta(*records)

    def _render_transcript_delta(self, a: ConversationRecord | None, b: ConversationRecord | None) -> None:
        """One line: how the judge scored B against A on this conversation, in total and per criterion."""
        delta = self.query_one("#transcript-delta", Static)
        if a is None or b is None or a.assessment is None or b.assessment is None:
            delta.update("")
            return
        text = Text()
        text.append(f"{b.model} − {a.model}: ", style="bold")
        text.append_text(self._signed(b.assessment.score - a.assessment.score))
        scores_a = {c.id: c.score for c in a.assessment.criteria}
        for c in b.assessment.criteria:
            if c.id in scores_a:
                text.append(f"   {c.id} ")
                text.append_text(self._signed(c.score - scores_a[c.id]))
        delta.update(text)

    @on(Select.Changed, "#pick-persona, #pick-conv, #model-a, #model-b")
    def _transcript_pick(self, event: Select.Changed) -> None:
        if event.value == Select.NULL:
            return
        slot = self.slot
        before = (slot.persona_id, slot.conv_index, slot.model_a, slot.model_b)
        name = event.select.id
        if name == "pick-persona":
            slot.persona_id = str(event.value)
        elif name == "pick-conv":
            slot.conv_index = int(event.value)  # type: ignore[arg-type]
        elif name == "model-a":
            slot.model_a = str(event.value)
        else:
            slot.model_b = str(event.value)
        if (slot.persona_id, slot.conv_index, slot.model_a, slot.model_b) != before:
            self._render_transcripts()

    _PANE_FOCUS = {"tab-overview": "#overview-table", "tab-pairwise": "#pairwise-table",
                   "tab-categories": "#categories-table", "tab-personas": "#personas-table",
                   "tab-transcripts": "#pane-a"}

    def _focus_active_pane(self) -> None:
        target = self._PANE_FOCUS.get(self.query_one("#eval-tabs", TabbedContent).active)
        if target:
            self.query_one(target).focus()

    @on(TabbedContent.TabActivated, "#eval-tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # Keep keyboard focus inside the visible pane (a hidden table keeps focus otherwise).
        if not isinstance(self.focused, (Input, Select)):
            self._focus_active_pane()

    # --- actions -------------------------------------------------------------------------------
    @on(Input.Submitted, "#eval-dir")
    def _dir_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.open_directory(event.value.strip())

    @on(Select.Changed, "#eval-recent")
    def _recent_picked(self, event: Select.Changed) -> None:
        if event.value != Select.NULL:
            self.open_directory(str(event.value))

    def action_focus_open(self) -> None:
        self.query_one("#eval-dir", Input).focus()

    def action_reload(self) -> None:
        if self.directory is not None:
            self._load(self.directory)
        else:
            self.notify("no results directory open", severity="warning")

    def action_focus_filter(self) -> None:
        self.query_one("#eval-tabs", TabbedContent).active = "tab-personas"
        self.query_one("#persona-search", Input).focus()

    def action_side_by_side(self) -> None:
        if self.results is None:
            self.notify("open a results directory first", severity="warning")
            return
        tabs = self.query_one("#eval-tabs", TabbedContent)
        pid = self._highlighted_persona() if tabs.active == "tab-personas" else None
        self.show_side_by_side(pid)

    def action_step_persona(self, step: int) -> None:
        if self.results is None:
            return
        order = self._persona_order()
        if not order:
            return
        current = order.index(self.slot.persona_id) if self.slot.persona_id in order else -1
        self.show_side_by_side(order[(current + step) % len(order)])

    def action_step_conversation(self) -> None:
        if self.results is None:
            return
        k = self.results.conversations_per_persona or 1
        self.show_side_by_side(conv_index=(self.slot.conv_index + 1) % k)

    def action_swap_models(self) -> None:
        self.slot.model_a, self.slot.model_b = self.slot.model_b, self.slot.model_a
        self.show_side_by_side()

    def action_back(self) -> None:
        tabs = self.query_one("#eval-tabs", TabbedContent)
        if tabs.active == "tab-transcripts":
            tabs.active = "tab-personas"
            self.query_one("#personas-table", DataTable).focus()
        elif isinstance(self.focused, Input):
            # TabbedContent itself takes no focus; its tab strip does (and leaves the letter keys free).
            self.query_one("#eval-tabs", TabbedContent).query_one(Tabs).focus()

    def action_export(self) -> None:
        if self.report is None or self.directory is None:
            self.notify("open a results directory first", severity="warning")
            return
        active = self.query_one("#eval-tabs", TabbedContent).active
        table = TAB_TABLES.get(active, "overview")
        self.app.push_screen(ExportDialog(self.directory, table=table, fmt="csv" if active != "tab-overview" else "md"),
                             self._export_chosen)

    def _export_chosen(self, request: ExportRequest | None) -> None:
        if request is None or self.report is None:
            return
        try:
            path = self.export(request)
        except (OSError, ValueError, TunerError) as exc:
            self.notify(f"export failed: {redact(str(exc))}", severity="error", timeout=8, markup=False)
            return
        self.notify(f"wrote {path}", markup=False)

    def export(self, request: ExportRequest) -> Path | None:
        """Write an export; the personas and conversations CSVs keep the viewer's filters and sort."""
        assert self.report is not None
        filtered = request.fmt == "csv" and request.table in ("personas", "conversations")
        model = self.persona_filters()["model"] if filtered else None
        text = export_text(self.report, request.fmt, table=request.table, results=self.results,
                           personas=self.visible_personas() if filtered else None,
                           model=model if request.table == "conversations" else None)  # type: ignore[arg-type]
        return write_export(request.path, text)

    # --- running an evaluation ------------------------------------------------------------------
    @property
    def run_in_progress(self) -> bool:
        return self._run_worker is not None and self._run_worker.is_running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop_run":
            return self.run_in_progress
        return True

    def action_new_run(self) -> None:
        if self.run_in_progress:
            self.notify("an evaluation is already running here (K stops it)", severity="warning")
            return
        config = getattr(self.app, "config", None)
        section = config.section("eval") if config is not None else {}
        dialog = EvalRunDialog(section, self._run_form, resume_dir=self.directory)

        def chosen(run_config: RunConfig | None) -> None:
            self._run_form = dialog.last_values
            if run_config is not None:
                self._run_worker = self._run_eval(run_config)
                self.refresh_bindings()

        self.app.push_screen(dialog, chosen)

    def action_stop_run(self) -> None:
        if self.run_in_progress:
            assert self._run_worker is not None
            self._run_worker.cancel()

    def _run_status(self, text: str | Text, *, error: bool = False) -> None:
        status = self.query_one("#eval-run-status", Static)
        status.set_class(False, "-hidden")
        status.set_class(error, "-error")
        status.update(Text(text) if isinstance(text, str) else text)  # paths and URLs are not markup

    @work(exclusive=True, group="eval-run", exit_on_error=False)
    async def _run_eval(self, config: RunConfig) -> None:
        """Drive `EvalRun` in an async worker: the HTTP calls never block input; the viewer opens on the
        results directory at once and live-reloads as conversations are appended."""
        from core.eval.runner import EvalRun
        from core.jobs.model import format_duration

        output_dir = config.output_dir
        self._run_status(f"starting: connecting to the servers for {output_dir} …")
        try:
            async for event in EvalRun(config).events():
                if event.kind == "run_started":
                    servers = ", ".join(f"{root} ×{slots}" for root, slots in event.servers.items())
                    self._run_status(f"running: {event.to_run} to run, {event.already_done} already done "
                                     f"(servers {servers})  ·  K stops, finished work is kept")
                    self.open_directory(event.output_dir)
                elif event.kind == "progress":
                    eta = f", ETA {format_duration(event.eta_s)}" if event.eta_s is not None else ""
                    failed = f", {event.failed} failed" if event.failed else ""
                    self._run_status(f"running: {event.done}/{event.total} conversations{failed}, "
                                     f"{format_duration(event.elapsed_s)}{eta}  ·  K stops, finished work is kept")
                elif event.kind == "run_finished":
                    failed = f"; {event.failed} failed (R, then Resume, retries them)" if event.failed else ""
                    line = (f"{event.status}: {event.done}/{event.total} conversations in "
                            f"{format_duration(event.elapsed_s)}{failed}")
                    self._run_status(line, error=bool(event.failed))
                    self.notify(line, severity="warning" if event.failed else "information", markup=False)
                    self._load(Path(event.output_dir))
                    self._load_recent()
        except TunerError as exc:
            self._run_status(f"run not started: {exc.one_line()}", error=True)
            self.notify(exc.one_line(), severity="error", timeout=8, markup=False)
        except asyncio.CancelledError:
            self._run_status(f"stopped: finished conversations are saved in {output_dir}; "
                             "R, then Resume, finishes the run")
            raise
        finally:
            self.call_later(self.refresh_bindings)


def _needed(n: int | None, n_holm: int | None) -> str:
    if n is None:
        return "—"
    return f"{n} ({n_holm} at α/m)" if n_holm is not None and n_holm != n else str(n)
