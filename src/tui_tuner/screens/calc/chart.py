"""Horizontal bar chart of the memory terms against one GPU's memory (Rich rendering in a Static)."""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from core.calc import MemoryEstimate
from core.calc.gpus import gpu_capacity_bytes
from core.flavors import Flavor
from tui_tuner.tones import theme_colour, tone

PALETTE = ("primary", "accent", "success", "secondary", "warning", "error")
"""Theme colour fields the bars cycle through (each term also has its name and number beside its bar)."""


def _bar_colour(index: int) -> str:
    return theme_colour(PALETTE[index % len(PALETTE)]) or ""
LABEL_WIDTH = 22
"""The narrowest label column; it widens to the longest term shown (up to MAX_LABEL_WIDTH)."""
MAX_LABEL_WIDTH = 30
NUMBER_WIDTH = 16
MIN_BAR_WIDTH = 10


def bar(fraction: float, width: int) -> str:
    """A bar of `fraction` × `width` cells with eighth-block resolution."""
    eighths = max(0, round(fraction * width * 8))
    full, rest = divmod(eighths, 8)
    full = min(full, width)
    return "█" * full + ("" if full >= width or not rest else " ▏▎▍▌▋▊▉"[rest])


def render_chart(estimate: MemoryEstimate, flavor: Flavor, width: int) -> Text:
    capacity = gpu_capacity_bytes(flavor)
    total = estimate.total_bytes
    scale = max(capacity, total)
    terms = [t for t in estimate.terms if t.at_peak and t.bytes > 0]
    # A term's name whole ("checkpointed activations", not "checkpointed activati"): the bars give way, down
    # to MIN_BAR_WIDTH cells (a narrow chart, e.g. beside the help panel, keeps the old label width).
    wanted = min(MAX_LABEL_WIDTH, max([LABEL_WIDTH, *(len(t.name) + 1 for t in terms)]))
    label_width = min(wanted, max(LABEL_WIDTH, width - NUMBER_WIDTH - 2 - MIN_BAR_WIDTH))
    bar_width = max(MIN_BAR_WIDTH, width - label_width - NUMBER_WIDTH - 2)
    text = Text()
    verdict = "fits" if total <= capacity else "does NOT fit"
    text.append(f"{flavor.gpu_name} {flavor.gpu_memory_gb:g} GB ({capacity / 1e9:.1f} GB on the card): ",
                style="bold")
    text.append(f"peak {total / 1e9:.1f} GB = {total / capacity:.0%} — {verdict}\n",
                style=tone("good") if total <= capacity else tone("error"))
    for i, term in enumerate(terms):
        colour = _bar_colour(i)
        text.append(f"{term.name[:label_width - 1]:<{label_width}}")
        text.append(f"{bar(term.bytes / scale, bar_width):<{bar_width}}", style=colour)
        text.append(f" {term.bytes / 1e9:7.2f} GB\n")
    # One stacked bar: every term in its colour, then the free (or missing) memory, then the card's edge.
    text.append(f"{'total vs GPU':<{label_width}}")
    used = 0
    for i, term in enumerate(terms):
        cells = round(term.bytes / scale * bar_width)
        cells = min(cells, bar_width - used)
        text.append("█" * cells, style=_bar_colour(i))
        used += cells
    edge = min(bar_width, round(capacity / scale * bar_width))
    if used < edge:
        text.append("░" * (edge - used), style="dim")
        used = edge
    text.append(" " * max(0, bar_width - used))
    text.append("│", style=tone("error") if total > capacity else "bold")
    text.append(f"{total / 1e9:6.1f}/{capacity / 1e9:.0f} GB")
    return text


class MemoryChart(Static):
    """The estimate's terms as bars scaled to the chosen GPU; redraws when either changes."""

    estimate: reactive[MemoryEstimate | None] = reactive(None, layout=True)
    flavor: reactive[Flavor | None] = reactive(None, layout=True)

    def render(self) -> RenderableType:
        if self.estimate is None or self.flavor is None:
            return Text("No estimate yet.", style="dim")
        return render_chart(self.estimate, self.flavor, max(40, self.content_size.width))
