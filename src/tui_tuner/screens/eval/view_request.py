"""What `tui-tuner eval view` asks the evaluation screen to open (kept apart: the CLI builds one before
the screen module is imported)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ViewRequest:
    """What `tui-tuner eval view DIR [--tab] [--model] [--show] [--persona]` asks the screen to open."""

    directory: Path
    tab: str | None = None
    model: str | None = None
    show: str | None = None
    persona: str | None = None
