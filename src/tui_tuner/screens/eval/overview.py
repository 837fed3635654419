"""The Overview tab: per model, persona-level mean ± SD, CI, pass rate, safety; the guide's verdicts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.tables import colour, fill

if TYPE_CHECKING:  # the report module loads with the first results, not with the area
    from core.eval.report import Report


class OverviewPane(LazyPane):
    def __init__(self, *, built: bool = True) -> None:
        super().__init__("Overview", id="tab-overview", built=built)
        self._report: Report | None = None

    def compose_content(self) -> ComposeResult:
        with VerticalScroll():
            yield DataTable(id="overview-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="verdicts")

    def show(self, report: Report) -> None:
        self._report = report
        if self.built:
            self.render_content()

    def render_content(self) -> None:
        from core.eval.report import design_text, fmt, fmt_ci, pass_rate_text, safety_text

        report = self._report
        if report is None:
            return
        rows = [[Text(m.name, style="bold"), m.role, design_text(m, report), fmt(m.mean), fmt(m.sd),
                 fmt_ci(m.ci_low, m.ci_high), pass_rate_text(m.pass_rate),
                 Text(safety_text(m.safety), style=colour("error") if m.safety.events else ""),
                 fmt(m.within_persona_sd), str(m.failed), str(m.missing)] for m in report.models]
        fill(self.query_one("#overview-table", DataTable),
             ["model", "role", "n", "mean", "SD", "95% CI", "pass rate [95% CI]", "safety (≤95% bound)",
              "SD repeats", "failed", "missing"], rows, [m.name for m in report.models])
        ok, bad, warn = colour("success"), colour("error"), colour("warning")
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
