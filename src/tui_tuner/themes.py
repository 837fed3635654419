"""Themes: the project's own (from `themes/`) and the user's (from the config dir's `themes/`).

A theme file is TOML with the fields of `textual.theme.Theme` (`name`, `primary`, ..., `dark`) and an
optional `[variables]` table for the app's domain colours (`mem-ok`, `mem-over`, ...). A broken user
theme is skipped with a one-line message; it never stops the app.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

from core import paths
from core.config import read_toml
from core.errors import TunerError

DEFAULT_DARK = "tuner-dark"
DEFAULT_LIGHT = "tuner-light"

# Domain colours every theme provides, so `.tcss` can use `$mem-over` etc. whatever the theme.
DOMAIN_VARIABLE_DEFAULTS = {
    "mem-ok": "#3fb950",
    "mem-tight": "#d29922",
    "mem-over": "#f85149",
    "metric-up": "#3fb950",
    "metric-down": "#f85149",
}

_THEME_FIELDS = {f.name for f in fields(Theme)}


def bundled_themes_dir() -> Path:
    """The project's `themes/` folder: inside the wheel, or at the repository root when editable."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_themes", package_dir.parent.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return package_dir / "_themes"


def theme_from_toml(path: Path) -> Theme:
    data = read_toml(path)  # one-line TunerError: not UTF-8, a directory or FIFO, too deep, bad syntax
    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if "name" not in data or "primary" not in data:
        raise ValueError("a theme needs at least 'name' and 'primary'")
    variables = {**DOMAIN_VARIABLE_DEFAULTS, **data.pop("variables", {})}
    return Theme(**data, variables=variables)


def load_themes(extra_dirs: list[Path] | None = None) -> tuple[list[Theme], list[str]]:
    """All loadable themes, bundled first, and one line per file that could not be loaded."""
    themes: list[Theme] = []
    problems: list[str] = []
    dirs = [bundled_themes_dir(), paths.user_themes_dir(), *(extra_dirs or [])]
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                themes.append(theme_from_toml(path))
            except (ValueError, TypeError, TunerError, OSError) as exc:
                problems.append(f"theme {path.name} skipped: {' '.join(str(exc).split())}")
    return themes, problems
