"""The five areas of the app, in the order of the fine-tuning loop.

An area appears (as an app mode, key 1-5) only when its screen module is installed, so an area
that is not built yet is absent rather than a placeholder. Each screen module defines the class
named here; each command module defines `register(subparsers)`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    mode: str
    """App mode name, also the first word of its command-palette entries."""
    title: str
    key: str
    """Key that switches to this area from anywhere."""
    screen_module: str
    screen_class: str
    description: str

    def is_built(self) -> bool:
        return importlib.util.find_spec(self.screen_module) is not None

    def load_screen_class(self) -> type:
        return getattr(importlib.import_module(self.screen_module), self.screen_class)


AREAS: tuple[Area, ...] = (
    Area("calc", "Calculator", "1", "tui_tuner.screens.calc.screen", "CalcScreen",
         "GPU / vocab memory and cost: what fits, on which flavor, for how much"),
    Area("launch", "Launch", "2", "tui_tuner.screens.launch.screen", "LaunchScreen",
         "Generate a training script, preflight it, submit it"),
    Area("jobs", "Jobs", "3", "tui_tuner.screens.jobs.screen", "JobsScreen",
         "Live jobs: logs, metrics, diagnosis"),
    Area("convert", "Convert", "4", "tui_tuner.screens.convert.screen", "ConvertScreen",
         "Merge, GGUF, quantize, smoke test, upload"),
    Area("eval", "Evaluate", "5", "tui_tuner.screens.eval.screen", "EvalScreen",
         "Run conversations, judge them, read the statistics"),
)


LEGACY_AREA_NAMES = {"monitor": "jobs", "calculator": "calc", "evals": "eval", "launcher": "launch"}
"""Earlier names of areas (modes, `--area`, config tables), still accepted: one name per area now."""


def canonical_area(name: str | None) -> str | None:
    return LEGACY_AREA_NAMES.get(name, name) if name else name


def built_areas() -> list[Area]:
    return [area for area in AREAS if area.is_built()]
