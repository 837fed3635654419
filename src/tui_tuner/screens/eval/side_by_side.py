"""The Side-by-side tab: one persona's conversation under two models, with the judge's Δ per criterion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Select, Static

from core.redact import redact
from tui_tuner.screens.eval.lazy_pane import LazyPane
from tui_tuner.screens.eval.tables import signed
from tui_tuner.screens.eval.transcript import TranscriptPane

if TYPE_CHECKING:
    from core.eval.results import ConversationRecord, EvalResults


@dataclass
class TranscriptSlot:
    persona_id: str | None = None
    conv_index: int = 0
    model_a: str | None = None
    model_b: str | None = None


class SideBySidePane(LazyPane):
    def __init__(self, *, built: bool = False) -> None:
        super().__init__("Side by side", id="tab-transcripts", built=built)
        self.slot = TranscriptSlot()
        self._results: EvalResults | None = None
        self._order: list[str] = []
        self._options: dict[str, list[object]] = {}
        """Option values currently set on each Select (by selector), to skip needless resets."""

    def compose_content(self) -> ComposeResult:
        with Horizontal(id="transcript-controls"):
            yield Select([], prompt="persona", id="pick-persona")
            yield Select([], prompt="conversation", id="pick-conv")
            yield Select([], prompt="model A", id="model-a")
            yield Select([], prompt="model B", id="model-b")
        yield Static(id="transcript-delta")
        with Horizontal(id="transcripts"):
            yield TranscriptPane(id="pane-a")
            yield TranscriptPane(id="pane-b")

    def show(self, results: EvalResults | None, persona_order: list[str]) -> None:
        """Sync the pickers with `results` (personas listed in `persona_order`) and show the slot's pair."""
        self._results, self._order = results, persona_order
        self._settle_slot()  # built or not: the keys (n, p, c, s) step from a complete slot
        if self.built:
            self.render_content()

    def render_content(self) -> None:
        self._settle_slot()
        self._sync_options(self._order)
        self._render_transcripts()

    def _settle_slot(self) -> None:
        """A slot that names models, a persona and a conversation these results have."""
        results, slot, order = self._results, self.slot, self._order
        if results is None:
            return
        models = results.models
        if slot.model_a not in models:
            slot.model_a = results.baseline
        if slot.model_b not in models or slot.model_b == slot.model_a:
            slot.model_b = next((m for m in models if m != slot.model_a), slot.model_a)
        if slot.persona_id not in results.persona_ids:
            slot.persona_id = order[0] if order else None
        k = results.conversations_per_persona or 1
        slot.conv_index = min(max(0, slot.conv_index), k - 1)

    def _sync_options(self, order: list[str]) -> None:
        results = self._results
        if results is None:
            return
        models = results.models
        slot = self.slot
        k = results.conversations_per_persona or 1
        personas = order if slot.persona_id in order or slot.persona_id is None else [*order, slot.persona_id]

        def label(pid: str) -> str:
            persona = results.persona(pid)
            return " · ".join(part for part in (pid, redact(persona.name), persona.category) if part)

        # Labels are Text, not str: names from the results files must not be parsed as markup.
        self._set_select("#pick-persona", [(Text(label(pid)), pid) for pid in personas], slot.persona_id)
        self._set_select("#pick-conv", [(f"conversation {i + 1} of {k}", i) for i in range(k)], slot.conv_index)
        self._set_select("#model-a", [(Text(f"A: {m}"), m) for m in models], slot.model_a)
        self._set_select("#model-b", [(Text(f"B: {m}"), m) for m in models], slot.model_b)

    def _set_select(self, selector: str, options: list[tuple[Text | str, object]], value: object) -> None:
        select = self.query_one(selector, Select)
        values = [v for _, v in options]
        if self._options.get(selector) != values:
            select.set_options(options)
            self._options[selector] = values
        if value is not None and any(v == value for _, v in options) and select.value != value:
            select.value = value

    def _render_transcripts(self) -> None:
        results = self._results
        pane_a, pane_b = self.query_one("#pane-a", TranscriptPane), self.query_one("#pane-b", TranscriptPane)
        if results is None or self.slot.persona_id is None:
            pane_a.show("—", None, missing="no conversation to show")
            pane_b.show("—", None, missing="no conversation to show")
            return
        slot = self.slot
        records = []
        for pane, model in ((pane_a, slot.model_a), (pane_b, slot.model_b)):
            if model is None:
                pane.show("—", None, missing="no model")
                records.append(None)
                continue
            record = results.record(slot.persona_id, model, slot.conv_index)
            records.append(record)
            pane.show(model, record, conversations=results.conversations_per_persona,
                      missing=f"{slot.persona_id} conversation {slot.conv_index + 1} has not finished under "
                              f"{model} yet")
        self._render_delta(*records)

    def _render_delta(self, a: ConversationRecord | None, b: ConversationRecord | None) -> None:
        """One line: how the judge scored B against A on this conversation, in total and per criterion."""
        delta = self.query_one("#transcript-delta", Static)
        if a is None or b is None or a.assessment is None or b.assessment is None:
            delta.update("")
            return
        text = Text()
        text.append(f"{b.model} − {a.model}: ", style="bold")
        text.append_text(signed(b.assessment.score - a.assessment.score))
        scores_a = {c.id: c.score for c in a.assessment.criteria}
        for c in b.assessment.criteria:
            if c.id in scores_a:
                text.append(f"   {c.id} ")
                text.append_text(signed(c.score - scores_a[c.id]))
        delta.update(text)

    @on(Select.Changed, "#pick-persona, #pick-conv, #model-a, #model-b")
    def _transcript_pick(self, event: Select.Changed) -> None:
        if event.value == Select.NULL:
            return
        slot = self.slot
        before = (slot.persona_id, slot.conv_index, slot.model_a, slot.model_b)
        name = event.select.id
        if name == "pick-persona":
            slot.persona_id = str(event.value)
        elif name == "pick-conv":
            slot.conv_index = int(event.value)  # type: ignore[arg-type]
        elif name == "model-a":
            slot.model_a = str(event.value)
        else:
            slot.model_b = str(event.value)
        if (slot.persona_id, slot.conv_index, slot.model_a, slot.model_b) != before:
            self._render_transcripts()
