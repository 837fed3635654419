"""The Evaluate area: open a results directory and read it — overview, pairwise tests, categories,
persona drill-down, two models' transcripts side by side — with filters, sort, export, live reload.

All numbers come from `core.eval.report`; this module only lays them out. Loading runs in a thread
worker (numpy/scipy and a large conversations.jsonl must not freeze input); a running evaluation is
re-read when its files change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static, TabbedContent, Tabs
from textual.worker import Worker

from core.errors import TunerError
from core.redact import redact
from tui_tuner.screens.base import AreaScreen
from tui_tuner.screens.eval.breakdown import BreakdownPane
from tui_tuner.screens.eval.export import ExportDialog, ExportRequest
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.overview import OverviewPane
from tui_tuner.screens.eval.pairwise import PairwisePane
from tui_tuner.screens.eval.personas import SHOWS, PersonasPane
from tui_tuner.screens.eval.side_by_side import SideBySidePane, TranscriptSlot
from tui_tuner.screens.eval.tables import colour
from tui_tuner.screens.eval.view_request import ViewRequest
from tui_tuner.tones import tone

__all__ = ["EvalScreen", "ViewRequest"]

if TYPE_CHECKING:  # the runner (httpx) loads only when a run starts; the report and results modules (their
    # statistics) when a results directory is first opened, not with the area
    from core.eval.report import Report, Settings
    from core.eval.results import EvalResults
    from core.eval.runner import RunConfig

REFRESH_INTERVAL_S = 3.0
"""How often the files of the open directory are checked for changes (stat only; a reload happens only
when run.json, personas.json or conversations.jsonl changed)."""
BANNER_MAX_LINES = 6
RECENT_RUNS = 20

TABS = {"overview": "tab-overview", "pairwise": "tab-pairwise", "categories": "tab-categories",
        "personas": "tab-personas", "side-by-side": "tab-transcripts"}


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
    from core.eval.results import CONVERSATIONS_FILE, PERSONAS_FILE, RUN_FILE

    signature = []
    for name in (RUN_FILE, PERSONAS_FILE, CONVERSATIONS_FILE):
        try:
            st = (directory / name).stat()
            signature.append((st.st_size, st.st_mtime_ns))
        except OSError:
            signature.append(None)
    return tuple(signature)


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
        # The tabs by key (the tab strip is four Tabs away from the open bar otherwise).
        Binding("right_square_bracket", "step_tab(1)", "Next tab", id="eval.next-tab", key_display="]"),
        Binding("left_square_bracket", "step_tab(-1)", "Prev tab", id="eval.prev-tab", key_display="["),
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

    def __init__(self, view: ViewRequest | None = None) -> None:
        """view: a results directory to open on mount, and where to look in it (`tui-tuner eval view`)."""
        super().__init__()
        self.directory: Path | None = None
        self.results: EvalResults | None = None
        self.report: Report | None = None
        self._settings: Settings | None = None
        self._signature: tuple | None = None
        self._load_error: str | None = None
        self._view_request = view
        self._generation = 0
        self._run_worker: Worker[None] | None = None
        self._run_form: dict[str, str] = {}
        """The last run form's fields, so the next run starts from them."""

    # --- layout --------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with Vertical(id="eval-body"):
            with Horizontal(id="eval-open-bar"):
                # Short enough to read whole at 80 columns (the recent-runs list takes a third of the bar).
                yield Input(placeholder="results directory (the one with run.json)", id="eval-dir")
                yield Select([], prompt="recent runs", id="eval-recent")
            yield Static(id="eval-banner")
            yield Static(id="eval-run-status", classes="-hidden")
            yield Static(id="eval-summary")
            with TabbedContent(initial="tab-overview", id="eval-tabs"):
                # Only the first tab's widgets now: each other pane is built when its tab is first shown.
                yield OverviewPane(built=True)
                yield PairwisePane()
                yield BreakdownPane()
                yield PersonasPane()
                yield SideBySidePane()

    @property
    def settings(self) -> Settings:
        """Success thresholds from the [eval] config table, read when first needed."""
        if self._settings is None:
            from core.eval.report import Settings, settings_from_config

            config = getattr(self.app, "config", None)
            self._settings = settings_from_config(config.section("eval")) if config is not None else Settings()
        return self._settings

    def on_mount(self) -> None:
        self._show_empty()
        self._load_recent()
        self.set_interval(REFRESH_INTERVAL_S, self._check_for_changes)
        if self._view_request is not None:
            self.open_directory(self._view_request.directory)

    def _apply_view_request(self) -> None:
        """Once the requested directory is loaded: the tab, model filter, show filter and persona asked for."""
        request, self._view_request = self._view_request, None
        if request is None or self.report is None:
            return
        models = [m.name for m in self.report.models]
        if request.model is not None:
            if request.model in models:
                self.query_one(PersonasPane).set_filters(model=request.model)
                if request.model != self.report.baseline:
                    self.slot.model_b = request.model
            else:
                self.notify(f"no model {request.model!r} in these results ({', '.join(models)})", severity="warning", markup=False)
        if request.show is not None and request.show in dict((v, k) for k, v in SHOWS):
            self.query_one(PersonasPane).set_filters(show=request.show)
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
        self._load_worker(directory, self._generation, self.settings)

    @work(thread=True, exclusive=True, group="eval-load", exit_on_error=False)
    def _load_worker(self, directory: Path, generation: int, settings: Settings) -> None:
        from core.eval.report import build_report
        from core.eval.results import CONVERSATIONS_FILE, RUN_FILE, load_results

        signature = files_signature(directory)
        try:
            results = load_results(directory)
            if not (directory / RUN_FILE).exists() and not (directory / CONVERSATIONS_FILE).exists():
                raise TunerError(f"{directory}: not an evaluation results directory "
                                 f"(no {RUN_FILE}, no {CONVERSATIONS_FILE})")
            report = build_report(results, settings)
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
    async def _loaded(self, event: ResultsLoaded) -> None:
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
            self.query_one(SideBySidePane).slot = TranscriptSlot()
        self._render_all(keep_filters=same_dir)
        if self._view_request is not None and self._view_request.directory == event.directory:
            self._apply_view_request()
        if not same_dir and (self.focused is None or self.focused.id == "eval-dir"):
            # Leave the path input so the screen's single-key bindings work (and show in the footer).
            # Focus inside the active pane: TabbedContent switches to the pane of a focused widget.
            await self._active_pane().build()
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
        self.query_one(OverviewPane).show(self.report)
        self.query_one(PairwisePane).show(self.report)
        self.query_one(BreakdownPane).show(self.report)
        self.query_one(PersonasPane).show(self.report, self.results, keep_filters=keep_filters)
        self.query_one(SideBySidePane).show(self.results, self._persona_order())

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
        ok, bad, warn = colour("success"), colour("error"), colour("warning")
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

    # --- between the tabs -----------------------------------------------------------------------
    @property
    def slot(self) -> TranscriptSlot:
        """Which persona, conversation and pair of models the side-by-side tab shows."""
        return self.query_one(SideBySidePane).slot

    def persona_filters(self) -> dict[str, object]:
        return self.query_one(PersonasPane).persona_filters()

    def visible_personas(self) -> list:
        return self.query_one(PersonasPane).visible_personas()

    @on(DataTable.RowSelected, "#overview-table, #pairwise-table, #categories-table")
    async def _drill_into_personas(self, event: DataTable.RowSelected) -> None:
        """Enter on a model, a comparison or a category opens the personas behind it."""
        report = self.report
        key = event.row_key.value
        if report is None or key is None:
            return
        personas = self.query_one(PersonasPane)
        await personas.build()
        table_id = event.data_table.id
        if table_id == "categories-table":
            personas.set_filters(category=str(key))
        elif table_id == "overview-table":
            personas.set_filters(model=str(key), sort="mean")
        else:
            comparison = next((c for c in report.pairwise if c.name == key), None)
            if comparison is None:
                return
            personas.set_filters(model=comparison.candidate, sort="delta")
            self.slot.model_a, self.slot.model_b = comparison.reference, comparison.candidate
        self.query_one("#eval-tabs", TabbedContent).active = "tab-personas"
        self.query_one("#personas-table", DataTable).focus()

    @on(DataTable.RowSelected, "#personas-table")
    def _persona_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.show_side_by_side(str(event.row_key.value))

    def show_side_by_side(self, persona_id: str | None = None, conv_index: int | None = None) -> None:
        if persona_id is not None:
            self.slot.persona_id = persona_id
        if conv_index is not None:
            self.slot.conv_index = conv_index
        self.query_one(SideBySidePane).show(self.results, self._persona_order())
        self.query_one("#eval-tabs", TabbedContent).active = "tab-transcripts"

    def _persona_order(self) -> list[str]:
        visible = [p.persona_id for p in self.visible_personas()]
        return visible or (self.results.persona_ids if self.results else [])

    _PANE_FOCUS = {"tab-overview": "#overview-table", "tab-pairwise": "#pairwise-table",
                   "tab-categories": "#categories-table", "tab-personas": "#personas-table",
                   "tab-transcripts": "#pane-a"}

    def _active_pane(self) -> LazyPane:
        tabs = self.query_one("#eval-tabs", TabbedContent)
        return tabs.get_pane(tabs.active)  # type: ignore[return-value]

    def _focus_active_pane(self) -> None:
        tabs = self.query_one("#eval-tabs", TabbedContent)
        if tabs.query_one(Tabs).active_tab is not tabs.get_tab(tabs.active):
            # A key has moved the tab strip on and its activation is not handled yet: focusing this pane now
            # would switch back to it (TabbedContent follows focus). That activation focuses its own pane.
            return
        target = self._PANE_FOCUS.get(tabs.active)
        if target and self._active_pane().built:
            self.query_one(target).focus()

    @on(TabbedContent.TabActivated, "#eval-tabs")
    async def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if isinstance(event.pane, LazyPane):
            await event.pane.build()  # its first showing: its widgets, filled from what was loaded
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

    async def action_focus_filter(self) -> None:
        self.query_one("#eval-tabs", TabbedContent).active = "tab-personas"
        await self.query_one(PersonasPane).build()
        self.query_one("#persona-search", Input).focus()

    def action_side_by_side(self) -> None:
        if self.results is None:
            self.notify("open a results directory first", severity="warning")
            return
        tabs = self.query_one("#eval-tabs", TabbedContent)
        pid = self.query_one(PersonasPane).highlighted_persona() if tabs.active == "tab-personas" else None
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

    def action_step_tab(self, step: int) -> None:
        # Through the tab strip, which the tabbed content follows: setting the content's `active` from
        # here raced with the strip's own activation message when keys came fast (a tab came back).
        strip = self.query_one("#eval-tabs", TabbedContent).query_one(Tabs)
        strip.action_next_tab() if step > 0 else strip.action_previous_tab()

    async def action_back(self) -> None:
        tabs = self.query_one("#eval-tabs", TabbedContent)
        if tabs.active == "tab-transcripts":
            tabs.active = "tab-personas"
            await self.query_one(PersonasPane).build()
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
        from core.eval.report import export_text, write_export

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
        from tui_tuner.screens.eval.run_dialog import EvalRunDialog

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
        from core.eval.runner import EvalRun, Progress, RunFinished, RunStarted
        from core.jobs.model import format_duration

        output_dir = config.output_dir
        self._run_status(f"starting: connecting to the servers for {output_dir} …")
        try:
            async for event in EvalRun(config).events():
                match event:
                    case RunStarted():
                        servers = ", ".join(f"{root} ×{slots}" for root, slots in event.servers.items())
                        self._run_status(f"running: {event.to_run} to run, {event.already_done} already done "
                                         f"(servers {servers})  ·  K stops, finished work is kept")
                        self.open_directory(event.output_dir)
                    case Progress():
                        eta = f", ETA {format_duration(event.eta_s)}" if event.eta_s is not None else ""
                        failed = f", {event.failed} failed" if event.failed else ""
                        self._run_status(f"running: {event.done}/{event.total} conversations{failed}, "
                                         f"{format_duration(event.elapsed_s)}{eta}  ·  K stops, finished work "
                                         "is kept")
                    case RunFinished():
                        failed = f"; {event.failed} failed (R, then Resume, retries them)" if event.failed else ""
                        line = (f"{event.status}: {event.done}/{event.total} conversations in "
                                f"{format_duration(event.elapsed_s)}{failed}")
                        self._run_status(line, error=bool(event.failed))
                        self.notify(line, severity="warning" if event.failed else "information", markup=False)
                        self._load(Path(event.output_dir))
                        self._load_recent()
                    case _:
                        pass  # per-conversation events: the viewer shows them as the results file grows
        except TunerError as exc:
            self._run_status(f"run not started: {exc.one_line()}", error=True)
            self.notify(exc.one_line(), severity="error", timeout=8, markup=False)
        except asyncio.CancelledError:
            self._run_status(f"stopped: finished conversations are saved in {output_dir}; "
                             "R, then Resume, finishes the run")
            raise
        finally:
            self.call_later(self.refresh_bindings)

