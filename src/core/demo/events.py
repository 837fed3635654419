"""What `DemoRun.events()` yields: plain frozen dataclasses, the same for the CLI, `--json` and the TUI."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from core.convert.events import ConvertEvent


@dataclass(frozen=True)
class DemoStarted:
    output_dir: str
    steps: tuple[tuple[str, str], ...]
    """(step id, title) in order."""
    resumed: bool = False


@dataclass(frozen=True)
class StepStarted:
    step: str
    title: str
    index: int
    total: int


@dataclass(frozen=True)
class StepLog:
    step: str
    text: str
    level: str = "info"
    """info | warning | error"""


@dataclass(frozen=True)
class StepProgress:
    step: str
    done: float
    total: float | None
    label: str = ""
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


@dataclass(frozen=True)
class Handoff:
    """A step started something a screen can show live: the TUI switches to that area.

    area `jobs`: ref is the local job id; `convert`: ref is the conversion's output folder and `data` its
    spec; `eval`: ref is the results folder.
    """

    step: str
    area: str
    ref: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Forward:
    """An event of the underlying pipeline (a conversion's own events), for the screen that shows it."""

    step: str
    area: str
    event: ConvertEvent


@dataclass(frozen=True)
class StepFinished:
    step: str
    summary: str
    seconds: float = 0.0
    skipped: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str
    hint: str = ""


@dataclass(frozen=True)
class DemoFinished:
    status: str
    """completed | failed | canceled"""
    output_dir: str
    summary_path: str = ""
    lines: tuple[str, ...] = ()
    results_dir: str = ""


DemoEvent: TypeAlias = (DemoStarted | StepStarted | StepLog | StepProgress | Handoff | Forward | StepFinished | StepFailed
                        | DemoFinished)
"""What `DemoRun.events()` yields; the printers and the demo screen `match` on the type."""


def event_to_dict(event: DemoEvent) -> dict[str, Any]:
    """One flat JSON-able dict, the kind first (`--json` lines). A forwarded event is nested as a dict."""
    data: dict[str, Any] = {"event": type(event).__name__}
    match event:
        case Forward(event=inner):
            nested = dataclasses.asdict(inner) if dataclasses.is_dataclass(inner) and not isinstance(inner, type) else {}
            data.update({"step": event.step, "area": event.area,
                         "inner": {"event": type(inner).__name__, **nested}})
            return data
        case StepProgress():
            data.update(dataclasses.asdict(event))
            data["fraction"] = event.fraction
        case _:
            data.update(dataclasses.asdict(event))
    return data
