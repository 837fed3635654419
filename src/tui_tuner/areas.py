"""The five areas of the app, in the order of the fine-tuning loop.

An area appears (as an app mode, key 1-5) only when its screen module is installed, so an area
that is not built yet is absent rather than a placeholder. Each screen module defines the class
named here; each command module defines `register(subparsers)`.

Areas are lazy and resident: the app imports an area's screen module and builds its screen on the
first visit only (`screen_factory`), then keeps it mounted, so start-up pays for one area and a
switch back costs a repaint. Each area's stylesheet is read at start-up all the same (`css_path`):
a stylesheet read later makes Textual re-parse every rule and re-style every mounted screen.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCREENS_DIR = Path(__file__).parent / "screens"
"""Not resolved: Textual names a screen's CSS_PATH from its module's `__file__` as it is, and the two must match."""


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

    @property
    def css_path(self) -> Path:
        """The area's stylesheet, `screens/<mode>/<mode>.tcss` (found without importing the screen)."""
        return SCREENS_DIR / self.mode / f"{self.mode}.tcss"

    def screen_factory(self, **kwargs: Any) -> Callable[[], Any]:
        """A callable that imports the screen module and builds the screen: Textual calls it on the
        first visit of the mode."""

        def build() -> Any:
            return self.load_screen_class()(**kwargs)

        return build


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
