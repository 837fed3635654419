"""Events streamed by every long step (conversion pipeline and the llama.cpp installer).

One async iterator of these dataclasses feeds both the CLI (human lines or `--json` lines) and the TUI
screen (an async worker), so both show exactly the same thing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeAlias


@dataclass(frozen=True)
class StepStarted:
    step: str
    title: str
    command: str = ""
    """The equivalent shell command when the step runs a tool (shown so users can rerun it by hand)."""


@dataclass(frozen=True)
class LogLine:
    step: str
    text: str
    level: str = "info"
    """info | warning | error: a coarse level parsed from the tool's own line, for colouring."""


@dataclass(frozen=True)
class Progress:
    step: str
    done: float
    total: float | None
    unit: str = ""
    label: str = ""
    """What is in flight: a tensor name, a file name, a build target."""

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


@dataclass(frozen=True)
class StepFinished:
    step: str
    summary: str
    outputs: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: bool = False
    """True when a previous run already finished this step and its outputs are still there."""


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str
    """The tool's own error line (or ours), one line."""
    hint: str = ""
    """What to do about it."""
    exit_code: int | None = None


@dataclass(frozen=True)
class PipelineFinished:
    status: str
    """completed | failed | canceled"""
    kept: tuple[str, ...] = ()
    """Finished outputs left on disk (what a rerun resumes from)."""
    run_id: str = ""
    message: str = ""


ConvertEvent: TypeAlias = StepStarted | LogLine | Progress | StepFinished | StepFailed | PipelineFinished
"""What a conversion (and the llama.cpp installer) yields; consumers `match` on the type."""
Event: TypeAlias = ConvertEvent
"""The short name core.convert's own modules use."""


def event_to_dict(event: ConvertEvent) -> dict[str, Any]:
    """A flat JSON-able dict with the event's kind first (for `--json` lines)."""
    data: dict[str, Any] = {"event": type(event).__name__}
    data.update(dataclasses.asdict(event))
    match event:
        case Progress():
            data["fraction"] = event.fraction
    return data
