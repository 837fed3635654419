"""The optional features and the extra that installs each: one check, and one line when it is missing.

The base install (`pip install tui-tuner`) is the app, the calculator, the launcher for HF Jobs, the
monitor, evaluation and the viewer. Training here, conversion, MLX and remote Trackio runs need an
extra; each of those features calls `require_extra` where it starts (CLI handler and the core function
the TUI calls), so a missing extra is the same one line everywhere (`error: ...`, exit 2 in the CLI; a
notification in the TUI) instead of a ModuleNotFoundError half-way through.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

from core.errors import TunerError

PACKAGE = "tui-tuner"

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    # what the generated training script imports (trackio: its default report_to)
    "train": ("torch", "transformers", "trl", "peft", "datasets", "trackio"),
    # the merge (torch, peft, transformers, safetensors) and the GGUF read-back (gguf)
    "convert": ("torch", "transformers", "peft", "safetensors", "gguf"),
    "mlx": ("mlx_lm", "datasets"),
    "trackio": ("trackio",),
}
"""The top-level modules each extra must make importable (tests check each is declared in that extra)."""


class MissingExtra(TunerError):
    """A feature was asked for whose extra is not installed in this Python."""

    def __init__(self, extra: str, feature: str, missing: tuple[str, ...]) -> None:
        self.extra, self.feature, self.missing = extra, feature, missing
        super().__init__(needs_line(extra, feature))


def install_command(extra: str) -> str:
    return f'pip install "{PACKAGE}[{extra}]"'


def needs_line(extra: str, feature: str) -> str:
    """`training needs the "train" extra: pip install "tui-tuner[train]"` (also a preflight row's text)."""
    return f'{feature} needs the "{extra}" extra: {install_command(extra)}'


def _importable(name: str) -> bool:
    if name in sys.modules:  # imported already, or blocked (None) as `import` itself would see it
        return sys.modules[name] is not None
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_modules(extra: str) -> tuple[str, ...]:
    """The modules of `extra` this Python cannot import (find_spec only: nothing is imported)."""
    if extra not in EXTRA_MODULES:
        raise ValueError(f"unknown extra {extra!r}")
    return tuple(m for m in EXTRA_MODULES[extra] if not _importable(m))


def has_extra(extra: str) -> bool:
    return not missing_modules(extra)


def require_extra(extra: str, *, feature: str) -> None:
    """Raise `MissingExtra` (a one-line TunerError) unless every module of `extra` is importable."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(extra, feature, missing)
