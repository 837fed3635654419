"""The dataset's token-length histogram with the max-length marker, shared by the Calculator and Launch areas.

`histogram_text` is the one rendering; `TokenHistogram` is a Static that fits the bins to its width (the Launch
side panel is narrow at 80 columns).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui_tuner.tones import tone

SPARK = " ▁▂▃▄▅▆▇█"
MAX_BINS = 40
MIN_BINS = 4
LABELLED_BINS = 12
"""Below this many bars the top length label is dropped so the bars keep the width."""


def histogram_text(profile: Any, max_length: int, bins: int = MAX_BINS, top_label: bool = True) -> Text:
    """Summary line, sparkline of token lengths over [0, max], and a ▲ under the bin holding `max_length`
    (▶ when every conversation fits), with the share truncated and the tokens per example there.

    `profile` is a core.calc.dataset_profile.DatasetProfile."""
    counts = profile.histogram(bins)
    top = max(c for _, _, c in counts) or 1
    spark = "".join(SPARK[min(8, -(-c * 8 // top))] if c else SPARK[0] for _, _, c in counts)
    width = counts[0][1] - counts[0][0]
    at = min(len(counts) - 1, max_length // width) if width else 0
    marker = " " * at + ("▲" if max_length < counts[-1][1] else "▶")
    text = Text()
    sample = f" (sample of {profile.profiled:,})" if profile.sampled else ""
    text.append(f"Data: {profile.total:,} conversations{sample} · p50 {profile.percentile(0.5):,} · p95 "
                f"{profile.percentile(0.95):,} · p99 {profile.percentile(0.99):,} · max {max(profile.lengths):,} "
                "tokens\n", style="bold")
    text.append(f"0 {spark}" + (f" {counts[-1][1]:,}\n  " if top_label else "\n  "))
    text.append(marker, style=tone("warning", extra="bold"))
    text.append(f" max length {max_length:,}: {profile.truncated_share(max_length):.1%} truncated, "
                f"{profile.mean_tokens_at(max_length):,} tokens/example", style=tone("warning"))
    return text


class TokenHistogram(Static):
    """Shows a profile (or nothing) at a max length; re-rendered to its width."""

    DEFAULT_CSS = """
    TokenHistogram { height: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("", *args, **kwargs)
        self.profile: Any = None
        self.max_length = 0
        self.display = False  # nothing to show until a profile arrives: takes no line

    def show(self, profile: Any, max_length: int) -> None:
        self.profile, self.max_length = profile, max_length
        self.display = profile is not None
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        if self.profile is None:
            self.update("")
            return
        width = self.size.width or 80
        label = len(f"{max(self.profile.lengths) + MAX_BINS:,}") + 1
        bins = min(MAX_BINS, width - 2 - label)
        if bins >= LABELLED_BINS:
            self.update(histogram_text(self.profile, self.max_length, bins))
        else:  # a narrow panel: every cell for the bars
            self.update(histogram_text(self.profile, self.max_length, max(MIN_BINS, min(MAX_BINS, width - 2)),
                                       top_label=False))
