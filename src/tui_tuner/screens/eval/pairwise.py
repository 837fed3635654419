"""The Pairwise tab: paired t-tests on persona means (Holm), their forest plot, safety and power."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from tui_tuner.screens.eval.forest import ForestPlot
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.tables import colour, fill, signed

if TYPE_CHECKING:  # the report module loads with the first results, not with the area
    from core.eval.report import Report


class PairwisePane(LazyPane):
    def __init__(self, *, built: bool = False) -> None:
        super().__init__("Pairwise", id="tab-pairwise", built=built)
        self._report: Report | None = None

    def compose_content(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(id="family-note", classes="muted")
            yield DataTable(id="pairwise-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="pairwise-notes", classes="muted")
            yield ForestPlot(id="forest")
            yield Static("Safety (paired by persona)", classes="section-title")
            yield DataTable(id="safety-table", cursor_type="row", zebra_stripes=True)
            yield Static("Power and sample size", classes="section-title")
            yield DataTable(id="power-table", cursor_type="row", zebra_stripes=True)

    def show(self, report: Report) -> None:
        self._report = report
        if self.built:
            self.render_content()

    def render_content(self) -> None:
        from core.eval.report import fmt, fmt_ci, fmt_p

        report = self._report
        if report is None:
            return
        alpha = report.settings.alpha
        rows = []
        for c in report.pairwise:
            holm_style = "bold" if c.p_holm is not None and c.p_holm < alpha else ""
            rows.append([Text(c.name, style="bold"), str(c.n), signed(c.diff),
                         fmt_ci(c.ci_low, c.ci_high, signed=True),
                         f"{c.t:.2f} ({c.df})" if c.t is not None else "—", fmt_p(c.p),
                         Text(fmt_p(c.p_holm), style=holm_style), fmt(c.d_z, 2),
                         f"{c.improved}/{c.unchanged}/{c.worsened}", fmt(c.correlation, 2), fmt_p(c.wilcoxon_p),
                         fmt_p(c.permutation_p)])
        fill(self.query_one("#pairwise-table", DataTable),
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
        bad = colour("error")
        fill(self.query_one("#safety-table", DataTable),
             ["comparison", "paired personas", "new violations", "fixed", "both", "McNemar p", "p (worse)"],
             [[f"{x.candidate} vs {x.reference}", str(x.n),
               Text(str(x.new_violations), style=f"bold {bad}" if x.new_violations else ""), str(x.fixed),
               str(x.both), fmt_p(x.p), fmt_p(x.p_worse)] for x in report.safety])
        target = report.settings.min_improvement
        fill(self.query_one("#power-table", DataTable),
             ["comparison", "n", "SD(Δ)", "d_z", "power @d_z", "personas for d_z",
              f"personas for Δ={target:.2f}", "MDE d_z @n", f"max SD(Δ) for {target:.2f}"],
             [[f"{p.candidate} vs {p.reference}", str(p.n), fmt(p.sd_diff), fmt(p.observed_d_z, 2),
               "—" if p.power_observed is None else f"{p.power_observed:.0%}",
               _needed(p.pairs_needed_observed, p.pairs_needed_observed_holm),
               _needed(p.pairs_needed_target, p.pairs_needed_target_holm), fmt(p.mde_d_z, 2),
               fmt(p.max_sd_for_target)] for p in report.power])

    def _render_forest(self) -> None:
        report = self._report
        table = self.query_one("#pairwise-table", DataTable)
        comparison = None
        if report is not None and report.pairwise and table.row_count:
            comparison = report.pairwise[min(table.cursor_row, len(report.pairwise) - 1)]
        self.query_one("#forest", ForestPlot).show(report, comparison.candidate if comparison else None,
                                                   comparison.reference if comparison else None)

    @on(DataTable.RowHighlighted, "#pairwise-table")
    def _comparison_highlighted(self) -> None:
        self._render_forest()


def _needed(n: int | None, n_holm: int | None) -> str:
    if n is None:
        return "—"
    return f"{n} ({n_holm} at α/m)" if n_holm is not None and n_holm != n else str(n)
