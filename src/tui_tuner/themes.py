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

DOMAIN_VARIABLES = {
    "mem-ok": "success",
    "mem-tight": "warning",
    "mem-over": "error",
    "metric-up": "success",
    "metric-down": "error",
}
"""Domain colours every theme provides, so `.tcss` can use `$mem-over` etc. whatever the theme: a theme
file may set them in `[variables]`; otherwise each is the theme's own colour named here (no colour is
written in Python)."""


def domain_variable_defaults(theme: Theme) -> dict[str, str]:
    generated = theme.to_color_system().generate()
    return {name: generated[field] for name, field in DOMAIN_VARIABLES.items() if field in generated}


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
    _check_types(data)  # a wrong value must skip the file here, not fail later when the theme is applied
    variables = data.pop("variables", {})
    theme = Theme(**data)
    return Theme(**data, variables={**domain_variable_defaults(theme), **variables})


_COLOR_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
                 "surface", "panel", "boost")


def _check_types(data: dict[str, object]) -> None:
    from textual.color import Color, ColorParseError

    if not isinstance(data["name"], str) or not data["name"].strip():
        raise ValueError("'name' must be a non-empty string")
    for key in _COLOR_FIELDS:
        if key in data:
            value = data[key]
            try:
                if not isinstance(value, str):
                    raise TypeError(value)
                Color.parse(value)
            except (ColorParseError, TypeError, ValueError):
                raise ValueError(f"{key!r} is not a colour: {str(value)[:40]!r}") from None
    for key in ("dark", "ansi"):
        if key in data and not isinstance(data[key], bool):
            raise ValueError(f"{key!r} must be true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], (int, float))):
            raise ValueError(f"{key!r} must be a number")
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise ValueError("[variables] must map names to strings")


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
