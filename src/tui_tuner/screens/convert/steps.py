"""The conversion wizard's step checklist: one row per planned step, with its state and summary."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui_tuner.tones import tone

ICONS = {"pending": ("·", "muted"), "running": ("▶", "accent"), "done": ("✓", "good"),
         "skipped": ("↷", "ok"), "failed": ("✗", "error"), "canceled": ("■", "canceled")}
"""State → (icon, tone): the icon carries the state without colour, the tone comes from the theme."""


def step_dom_id(step: str) -> str:
    return "step-" + step.replace(":", "-").replace("_", "-").lower()


class StepRow(Static):
    def __init__(self, step: str, title: str) -> None:
        super().__init__(id=step_dom_id(step), classes="step-row")
        self.step = step
        self.title = title
        self.state = "pending"
        self.summary = ""

    def on_mount(self) -> None:
        self.refresh_row()

    def set_state(self, state: str, summary: str | None = None) -> None:
        self.state = state
        if summary is not None:
            self.summary = summary
        self.set_class(state == "failed", "-failed")
        self.set_class(state == "running", "-running")
        self.refresh_row()

    def refresh_row(self) -> None:
        icon, state_tone = ICONS[self.state]
        style = tone(state_tone)
        text = Text.assemble((f" {icon} ", style), (f"{self.title:<34}", "bold" if self.state == "running" else ""))
        if self.summary:
            text.append(" " + self.summary, style="dim" if self.state in {"done", "skipped"} else "")
        self.update(text)


class StepList(Vertical):
    """Rows for the plan; `plan()` replaces them, `set_state()` updates one."""

    DEFAULT_CSS = """
    StepList { height: auto; }
    StepList > .step-row { height: 1; }
    StepList > .step-row.-running { background: $primary 15%; }
    StepList > .step-row.-failed { background: $error 15%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rows: dict[str, StepRow] = {}
        self._planning = asyncio.Lock()

    def compose(self) -> ComposeResult:
        yield from ()

    async def plan(self, steps: list[tuple[str, str]]) -> None:
        # One re-plan at a time: form edits arrive in bursts (a recent run fills every field), and two
        # interleaved remove/mount passes would mount the same step ids twice.
        async with self._planning:
            await self.remove_children()
            self._rows = {step: StepRow(step, title) for step, title in steps}
            await self.mount_all(list(self._rows.values()))

    def set_state(self, step: str, state: str, summary: str | None = None) -> None:
        row = self._rows.get(step)
        if row is not None:
            row.set_state(state, summary)

    def states(self) -> dict[str, str]:
        return {step: row.state for step, row in self._rows.items()}
