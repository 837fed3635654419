"""One side of the side-by-side transcript view: a conversation with the judge's scores and reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.redact import redact
from tui_tuner.tones import theme_colour

if TYPE_CHECKING:
    from core.eval.results import ConversationRecord

ROLE_LABELS = {"system": "system", "user": "user (simulator)", "assistant": "assistant"}


def _colour(widget: Static, name: str) -> str:
    """A theme colour by name (success/error/warning/accent...), so the pane follows the user's theme."""
    return theme_colour(name) or ""


class TranscriptPane(VerticalScroll):
    """Header (model, score, pass, safety), the rubric criteria with reasons, then the messages."""

    DEFAULT_CSS = """
    TranscriptPane { border: round $panel-lighten-2; padding: 0 1; }
    TranscriptPane:focus-within { border: round $primary; }
    TranscriptPane > .transcript-header { margin-bottom: 1; }
    TranscriptPane > .transcript-criteria { margin-bottom: 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="transcript-header")
        yield Static(classes="transcript-criteria")
        yield Static(classes="transcript-messages")

    def show(self, model: str, record: ConversationRecord | None, *, missing: str = "",
             conversations: int | None = None) -> None:
        header, criteria, messages = self.query(Static).results()
        self.border_title = model
        if record is None:
            header.update(Text(missing or "no conversation", style="italic"))
            criteria.update("")
            messages.update("")
            return
        header.update(self._header(model, record, conversations))
        criteria.update(self._criteria(record))
        messages.update(self._messages(record))
        self.scroll_home(animate=False)

    def _header(self, model: str, record: ConversationRecord, conversations: int | None) -> RenderableType:
        ok, bad, warn = (_colour(self, "success"), _colour(self, "error"),
                         _colour(self, "warning"))
        text = Text()
        text.append(f"{model}", style="bold")
        of = f"/{conversations}" if conversations else ""
        text.append(f"  {record.persona_id}  conversation {record.conv_index + 1}{of}")
        if record.seed is not None:
            text.append(f"  seed {record.seed}", style="dim")
        text.append("\n")
        if record.assessment is None:
            text.append("FAILED ATTEMPT: ", style=f"bold {bad}")
            text.append(redact(record.error or "no assessment"))
            return text
        a = record.assessment
        text.append(f"score {a.score:.3f}  ", style="bold")
        text.append("PASS" if a.passed else "not passed", style=f"bold {ok}" if a.passed else f"bold {warn}")
        if a.safety_violation:
            text.append("  SAFETY VIOLATION", style=f"bold {bad}")
        if a.summary:
            text.append("\n")
            text.append(redact(a.summary), style="italic")
        return text

    def _criteria(self, record: ConversationRecord) -> RenderableType:
        if record.assessment is None or not record.assessment.criteria:
            return Text("no criterion scores", style="dim") if record.assessment else ""
        bad = _colour(self, "error")
        table = Table(show_edge=False, pad_edge=False, expand=True, box=None, header_style="bold")
        table.add_column("criterion", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("reason", ratio=1)
        for c in record.assessment.criteria:
            label = c.id + (" (safety)" if c.safety and "safety" not in c.id else "")
            name = Text(label, style=f"bold {bad}" if c.violated else "")
            table.add_row(name, f"{c.score:.2f}", Text(redact(c.reason)))
        return table

    def _messages(self, record: ConversationRecord) -> RenderableType:
        accent, primary = _colour(self, "accent"), _colour(self, "primary")
        parts: list[RenderableType] = []
        for message in record.messages:
            style = {"user": f"bold {accent}", "assistant": f"bold {primary}"}.get(message.role, "dim bold")
            parts.append(Text(ROLE_LABELS.get(message.role, message.role or "?"), style=style))
            parts.append(Text(redact(message.content) + "\n"))
        if not parts:
            parts.append(Text("no messages recorded", style="dim"))
        return Group(*parts)
