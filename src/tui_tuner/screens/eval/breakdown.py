"""The Breakdown tab: categories and rubric criteria (exploratory, no test)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.tables import colour, fill, signed

if TYPE_CHECKING:  # the report module loads with the first results, not with the area
    from core.eval.report import Report


class BreakdownPane(LazyPane):
    def __init__(self, *, built: bool = False) -> None:
        super().__init__("Breakdown", id="tab-categories", built=built)
        self._report: Report | None = None

    def compose_content(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Exploratory: few personas per category, so no test; Δ is paired within the "
                         "category.", classes="muted")
            yield DataTable(id="categories-table", cursor_type="row", zebra_stripes=True)
            yield Static("Rubric criteria (which part of the rubric moved; Δ paired by persona)",
                         classes="section-title")
            yield DataTable(id="criteria-table", cursor_type="row", zebra_stripes=True)

    def show(self, report: Report) -> None:
        self._report = report
        if self.built:
            self.render_content()

    def render_content(self) -> None:
        if self._report is not None:
            self._render_categories(self._report)
            self._render_criteria(self._report)

    def _render_categories(self, report: Report) -> None:
        from core.eval.report import fmt

        candidates = [m.name for m in report.models if m.name != report.baseline]
        fill(self.query_one("#categories-table", DataTable),
             ["category", "personas", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]],
             [[Text(r.category, style="bold"), str(r.n_personas), *[fmt(r.means.get(m.name)) for m in report.models],
               *[signed(r.diffs.get(c)) for c in candidates]] for r in report.categories],
             [r.category for r in report.categories])

    def _render_criteria(self, report: Report) -> None:
        from core.eval.report import fmt

        candidates = [m.name for m in report.models if m.name != report.baseline]
        bad = colour("error")
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
            rows.append([label, *cells, *[signed(r.diffs.get(c)) for c in candidates]])
        fill(self.query_one("#criteria-table", DataTable),
             ["criterion", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]], rows,
             [r.criterion for r in report.criteria])
