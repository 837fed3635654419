"""A Line-API log view over a bounded buffer: 100k+ lines/s in, constant memory, only visible lines rendered.

Modelled on toolong's `LogLines` and k9s' log view: lines arrive in batches (one `append` per batch, see
`core.jobs.log_follow.follow_async`), the widget keeps the last N in a ring (`LogBuffer`), renders
only what is on screen (`render_line`), follows the tail while the view is at the bottom, and keeps the
viewport still (with an "N new lines" counter) once the user scrolls up. The full log is on disk.
"""

from __future__ import annotations

import re
from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from core.jobs.log_buffer import DEFAULT_MAX_LINES, LogBuffer

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
_ERRORISH = re.compile(r"Traceback|Error|error:|CUDA out of memory|Killed|FAILED")
_WARNISH = re.compile(r"Warning|WARNING|warn\b")


class LogView(ScrollView, can_focus=True):
    """Scrollable tail of a job's log; `append(lines)` is the only way in."""

    COMPONENT_CLASSES = {"logview--error", "logview--warning", "logview--marker"}
    DEFAULT_CSS = """
    LogView { background: $surface; scrollbar-gutter: stable; }
    LogView > .logview--error { color: $error; }
    LogView > .logview--warning { color: $warning; }
    LogView > .logview--marker { color: $text-muted; text-style: italic; }
    """
    BINDINGS = [
        Binding("end,G", "tail", "Tail", id="monitor.log.tail", show=False),
        Binding("home,g", "top", "Top", id="monitor.log.top", show=False),
    ]

    following: reactive[bool] = reactive(True)
    """True while the view sticks to the newest line."""
    unseen: reactive[int] = reactive(0)
    """Lines that arrived while the user was reading further up."""

    def __init__(self, max_lines: int = DEFAULT_MAX_LINES, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.buffer = LogBuffer(max_lines)
        self._max_width = 0
        self.query_text = ""
        """Case-insensitive substring filter (empty: every line is shown)."""
        self._matches: deque[int] = deque()
        """Positions (in the full log) of the kept lines that match the filter, oldest first."""

    @property
    def line_count(self) -> int:
        return len(self.buffer.lines)

    @property
    def shown_count(self) -> int:
        return len(self._matches) if self.query_text else len(self.buffer.lines)

    def append(self, lines: list[str]) -> None:
        """Add a batch of lines (one layout update per batch, not per line)."""
        if not lines:
            return
        at_bottom = self.following or self.scroll_y >= self.max_scroll_y - 1
        shown_before = self.shown_count
        start = self.buffer.total
        self.buffer.extend(lines)
        if self.query_text:
            query = self.query_text
            self._matches.extend(start + i for i, text in enumerate(lines) if query in text.lower())
            first = self.buffer.first_index
            dropped = 0
            while self._matches and self._matches[0] < first:
                self._matches.popleft()
                dropped += 1
        else:
            dropped = shown_before + len(lines) - len(self.buffer.lines)
        widest = max(map(len, lines))
        if widest > self._max_width:
            self._max_width = min(widest, 1000)
        self.virtual_size = Size(self._max_width + 1, self.shown_count)
        if at_bottom and self.following:
            self._stick_to_tail()
        else:
            # The ring dropped lines from the top: move the viewport with its text.
            if dropped:
                self.scroll_to(y=max(0, self.scroll_y - dropped), animate=False, immediate=True)
            self.unseen += len(lines)
        self.refresh()
        self._update_subtitle()

    def set_filter(self, query: str) -> None:
        """Show only the kept lines containing `query` (case-insensitive); empty shows everything."""
        self.query_text = query.strip().lower()
        self._matches.clear()
        if self.query_text:
            first = self.buffer.first_index
            self._matches.extend(first + i for i, text in enumerate(self.buffer.lines)
                                 if self.query_text in text.lower())
        self.virtual_size = Size(self._max_width + 1, self.shown_count)
        self.following = True
        self.unseen = 0
        self._stick_to_tail()
        self.refresh()
        self._update_subtitle()

    def _stick_to_tail(self) -> None:
        self._scroll_to_bottom()
        # The size may not be laid out yet (first batch, resize): stick again once it is.
        self.call_after_refresh(self._scroll_to_bottom)

    def _scroll_to_bottom(self) -> None:
        if self.following:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.following:
            self._stick_to_tail()

    def clear(self) -> None:
        self.buffer.clear()
        self._matches.clear()
        self._max_width = 0
        self.virtual_size = Size(0, 0)
        self.unseen = 0
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= self.shown_count:
            return Strip.blank(width, self.rich_style)
        if self.query_text:
            index = self._matches[index] - self.buffer.first_index
        text = _ANSI.sub("", self.buffer.lines[index]).expandtabs(4)
        style = self.rich_style
        if _ERRORISH.search(text):
            style = style + self.get_component_rich_style("logview--error", partial=True)
        elif _WARNISH.search(text):
            style = style + self.get_component_rich_style("logview--warning", partial=True)
        elif text.startswith("—— "):
            style = style + self.get_component_rich_style("logview--marker", partial=True)
        strip = Strip([Segment(text, style)], len(text))
        return strip.crop_extend(scroll_x, scroll_x + width, Style.null() + self.rich_style)

    def _update_subtitle(self) -> None:
        total = self.buffer.total
        shown = len(self.buffer.lines)
        text = f"{total:,} lines" if total == shown else f"last {shown:,} of {total:,} lines"
        if self.query_text:
            text = f"filter {self.query_text!r}: {len(self._matches):,} of " + text
        if not self.following and self.unseen:
            text += f" · {self.unseen:,} new ↓ (end)"
        self.border_subtitle = text

    def on_mouse_scroll_up(self) -> None:
        self.following = False

    def watch_scroll_y(self, old: float, new: float) -> None:  # type: ignore[override]
        super().watch_scroll_y(old, new)
        if new < old and new < self.max_scroll_y - 1:
            self.following = False
        elif new >= self.max_scroll_y - 1 and not self.following:
            self.following = True
            self.unseen = 0
            self._update_subtitle()

    def action_tail(self) -> None:
        self.following = True
        self.unseen = 0
        self._stick_to_tail()
        self._update_subtitle()

    def action_top(self) -> None:
        self.following = False
        self.scroll_home(animate=False, immediate=True)
