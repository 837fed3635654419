"""Training curves in the terminal (textual-plotext): loss, eval loss, learning rate against the step."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

from core.jobs.trackio_reader import CURVE_KEYS
from tui_tuner.tones import theme_colour

MAX_POINTS = 400
"""Curves are thinned to this many points: a terminal has ~100 columns, more points only cost time."""


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    points = [(x, y) for x, y in points if math.isfinite(y)]
    if len(points) <= MAX_POINTS:
        return points
    step = len(points) / MAX_POINTS
    return [points[int(i * step)] for i in range(MAX_POINTS)] + [points[-1]]


def _plot_colour(field: str) -> tuple[int, int, int] | str:
    """A theme colour as the RGB triple plotext takes ("default" outside a running app)."""
    from textual.color import Color

    value = theme_colour(field)
    return Color.parse(value).rgb if value else "default"


class TrainingCurves(PlotextPlot):
    """Loss and eval loss on the left axis, learning rate on the right; redrawn only when data changed."""

    DEFAULT_CSS = """
    TrainingCurves { height: 1fr; min-height: 8; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._signature: tuple[object, ...] = ()
        self.source = ""

    def show_series(self, series: dict[str, list[tuple[float, float]]], source: str) -> None:
        signature = (source, *((k, len(series.get(k, ())), (series.get(k) or [(0, 0)])[-1]) for k in CURVE_KEYS))
        if signature == self._signature:
            return
        self._signature = signature
        self.source = source
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        drawn = False
        for key, color in (("train/loss", _plot_colour("primary")), ("eval/loss", _plot_colour("accent"))):
            points = _thin(series.get(key, []))
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], label=key, color=color, marker="braille")
                drawn = True
        lr = _thin(series.get("train/learning_rate", []))
        if lr:
            plt.plot([p[0] for p in lr], [p[1] for p in lr], label="lr", color=_plot_colour("secondary"), marker="braille",
                     yside="right")
            drawn = True
        plt.title(f"training curves ({source})" if drawn else f"no training metrics yet ({source})")
        plt.xlabel("step")
        self.refresh()
