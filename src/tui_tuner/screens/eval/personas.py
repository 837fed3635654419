"""The Personas tab: every persona's scores per model, with search, filters, sort and a detail block."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from core.redact import redact
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.tables import colour, fill, signed

if TYPE_CHECKING:  # the report module loads with the first results, not with the area
    from core.eval.report import Report
    from core.eval.results import EvalResults

SHOWS = (("all personas", "all"), ("not passed", "failed"), ("safety violations", "safety"),
         ("worse than baseline", "worse"), ("failed attempts", "errors"), ("high spread", "spread"))
"""What the personas table shows (with the model filter: under that model)."""
SORTS = (("persona id", "persona"), ("Δ worst first", "delta"), ("Δ best first", "-delta"),
         ("mean, lowest first", "mean"), ("spread, highest first", "spread"), ("category", "category"))


DEFAULT_FILTERS: dict[str, str | None] = {"category": None, "model": None, "show": "all", "text": "",
                                           "sort": "persona"}
"""The filters of a pane not built yet (its widgets start with these)."""


class PersonasPane(LazyPane):
    def __init__(self, *, built: bool = False) -> None:
        super().__init__("Personas", id="tab-personas", built=built)
        self._report: Report | None = None
        self._results: EvalResults | None = None
        self._options: dict[str, list[str]] = {}
        """Option values currently set on each filter Select, to skip needless resets."""
        self._pending: dict[str, str | None] = dict(DEFAULT_FILTERS)
        """Filters set before the pane is built (a drill-down, `eval view --model`): applied when it is."""

    def compose_content(self) -> ComposeResult:
        with Horizontal(id="persona-filters"):
            yield Input(placeholder="/ search", id="persona-search")
            yield Select([], prompt="any category", id="filter-category")
            yield Select([], prompt="any model", id="filter-model")
            yield Select(SHOWS, value="all", allow_blank=False, id="filter-show")
            yield Select(SORTS, value="persona", allow_blank=False, id="persona-sort")
        yield DataTable(id="personas-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="persona-detail")

    def show(self, report: Report, results: EvalResults, *, keep_filters: bool) -> None:
        self._report, self._results = report, results
        if not self.built:
            if not keep_filters:
                self._pending = dict(DEFAULT_FILTERS)
            return
        self._sync_filter_options(keep_filters)
        self.render_personas()

    def render_content(self) -> None:
        if self._report is None:
            return
        self._sync_filter_options(keep=False)
        pending, self._pending = self._pending, dict(DEFAULT_FILTERS)
        with self.prevent(Input.Changed, Select.Changed):  # one render below, not one per filter
            if pending["text"]:
                self.query_one("#persona-search", Input).value = str(pending["text"])
            # A category or model kept from before a reload may be gone from these results.
            category, model = (value if value in self._options.get(selector, []) else None
                               for value, selector in ((pending["category"], "#filter-category"),
                                                       (pending["model"], "#filter-model")))
            self.set_filters(category=category, model=model, show=pending["show"], sort=pending["sort"])
        self.render_personas()

    def _sync_filter_options(self, keep: bool) -> None:
        report = self._report
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

    def set_filters(self, *, category: str | None = None, model: str | None = None, show: str | None = None,
                    sort: str | None = None) -> None:
        """Set the filters named (the others stay as they are)."""
        if not self.built:
            wanted = {"category": category, "model": model, "show": show, "sort": sort}
            self._pending.update({name: value for name, value in wanted.items() if value is not None})
            return
        for selector, value in (("#filter-category", category), ("#filter-model", model),
                                ("#filter-show", show), ("#persona-sort", sort)):
            if value is not None:
                self.query_one(selector, Select).value = value

    def persona_filters(self) -> dict[str, object]:
        from core.eval.report import SHOW_FILTERS

        if not self.built:
            pending = self._pending
            return {"category": pending["category"], "model": pending["model"],
                    **({SHOW_FILTERS[str(pending["show"])]: True} if pending["show"] in SHOW_FILTERS else {}),
                    "text": pending["text"] or "", "sort": str(pending["sort"])}
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
        if self._report is None:
            return []
        from core.eval.report import filter_personas

        return filter_personas(self._report, **self.persona_filters())  # type: ignore[arg-type]

    def render_personas(self) -> None:
        report = self._report
        if report is None:
            return
        rows = self.visible_personas()
        candidates = [m.name for m in report.models if m.name != report.baseline]
        warn, bad = colour("warning"), colour("error")
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
                               *[signed(p.diffs.get(c)) for c in candidates], flags])
        table = self.query_one("#personas-table", DataTable)
        fill(table, ["persona", "name", "category", *[m.name for m in report.models],
                     *[f"Δ {c}" for c in candidates], "flags"], table_rows, [p.persona_id for p in rows])
        total = len(report.personas)
        table.border_title = f"{len(rows)} of {total} personas · per model: mean score, conversations passed"
        self._render_persona_detail()

    def highlighted_persona(self) -> str | None:
        if not self.built:  # the table's cursor starts on the first row
            visible = self.visible_personas()
            return visible[0].persona_id if visible else None
        table = self.query_one("#personas-table", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        except CellDoesNotExist:
            return None
        return str(key.value) if key.value is not None else None

    def _render_persona_detail(self) -> None:
        from core.eval.report import fmt

        detail = self.query_one("#persona-detail", Static)
        report, results = self._report, self._results
        pid = self.highlighted_persona()
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
        detail.update(Group(head, table))

    @on(DataTable.RowHighlighted, "#personas-table")
    def _persona_highlighted(self) -> None:
        self._render_persona_detail()

    @on(Input.Changed, "#persona-search")
    def _filters_changed(self) -> None:
        self.render_personas()

    @on(Select.Changed, "#filter-category, #filter-model, #filter-show, #persona-sort")
    def _filter_select_changed(self) -> None:
        self.render_personas()
