"""Per-persona differences of one comparison as a text forest plot: is the gain broad or a few personas?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tui_tuner.tones import theme_colour

if TYPE_CHECKING:  # the report module loads with the first results
    from core.eval.report import Report

BAR_HALF_WIDTH = 30
"""Characters on each side of zero; the scale is the largest |Δ| (or the CI bound) in view."""


def persona_differences(report: Report, candidate: str, reference: str) -> list[tuple[str, float]]:
    """(persona, candidate mean − reference mean) for personas finished under both, worst first."""
    pairs = []
    for row in report.personas:
        a, b = row.cells.get(candidate), row.cells.get(reference)
        if a and b and a.mean is not None and b.mean is not None:
            pairs.append((row.persona_id, a.mean - b.mean))
    return sorted(pairs, key=lambda item: (item[1], item[0]))


def _bar(value: float, scale: float) -> tuple[str, str]:
    cells = round(abs(value) / scale * BAR_HALF_WIDTH) if scale > 0 else 0
    cells = min(BAR_HALF_WIDTH, cells)
    if value < 0:
        return " " * (BAR_HALF_WIDTH - cells) + "█" * cells, " " * BAR_HALF_WIDTH
    return " " * BAR_HALF_WIDTH, "█" * cells + " " * (BAR_HALF_WIDTH - cells)


class ForestPlot(Static):
    """One line per persona: a bar left (worse) or right (better) of zero, then the mean and its 95 % CI."""

    def show(self, report: Report | None, candidate: str | None, reference: str | None) -> None:
        if report is None or candidate is None or reference is None:
            self.update("")
            return
        comparison = report.comparison(candidate, reference)
        diffs = persona_differences(report, candidate, reference)
        if comparison is None or not diffs:
            self.update(Text("no persona finished under both models", style="italic"))
            return
        good, bad = theme_colour("success", self.app) or "", theme_colour("error", self.app) or ""
        bounds = [abs(d) for _, d in diffs]
        bounds += [abs(v) for v in (comparison.ci_low, comparison.ci_high) if v is not None]
        bounds.append(report.settings.min_improvement)  # keep the threshold on the scale
        scale = max(bounds) or 1.0
        width = max(len(pid) for pid, _ in diffs)
        text = Text()
        text.append(f"{comparison.name}: per-persona Δ (worst first); scale ±{scale:.2f}\n", style="bold")
        for pid, value in diffs:
            left, right = _bar(value, scale)
            text.append(f"{pid:<{width}} ")
            text.append(left, style=bad)
            text.append("│")
            text.append(right, style=good)
            text.append(f" {value:+.3f}\n")
        if comparison.diff is not None:
            left, right = _bar(comparison.diff, scale)
            marker = (left + "│" + right).replace("█", "■")
            text.append(f"{'mean':<{width}} ", style="bold")
            text.append(marker, style="bold")
            ci = (f"  95% CI [{comparison.ci_low:+.3f}, {comparison.ci_high:+.3f}]"
                  if comparison.ci_low is not None and comparison.ci_high is not None else "")
            text.append(f" {comparison.diff:+.3f}{ci}")
        target = report.settings.min_improvement
        if 0 < target <= scale:
            # Where the guide's threshold falls on the scale, under the bars.
            at = min(BAR_HALF_WIDTH - 1, round(target / scale * BAR_HALF_WIDTH) - 1)
            text.append(f"\n{'':<{width}} {'':<{BAR_HALF_WIDTH}}0{'':<{at}}▲ +{target:.2f} (threshold)",
                        style="dim")
        self.update(text)
