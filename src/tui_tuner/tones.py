"""Semantic text styles, resolved from the current theme: Python code names a tone, never a colour.

Screens build Rich `Text` (tables, summaries, logs), which cannot use CSS variables; `tone("error")`
gives the style for an error in the active theme (`bold <theme.error>`), so `tuner-light`, a user theme
and a 16-colour terminal all apply. Salience is in the emphasis as well as the colour: an error is bold,
a warning is not, so an error stays the louder one even where the terminal maps both to one colour.
Outside a running app (unit tests of render helpers) a tone is its emphasis alone.
"""

from __future__ import annotations

from typing import Any

from textual._context import active_app

TONES: dict[str, tuple[str | None, str]] = {
    # name: (theme colour field, emphasis)
    "error": ("error", "bold"),
    "warning": ("warning", ""),
    "ok": ("success", ""),
    "good": ("success", "bold"),
    "info": ("accent", ""),
    "accent": ("accent", "bold"),
    "primary": ("primary", ""),
    "canceled": ("secondary", ""),
    "muted": (None, "dim"),
}


def theme_colour(field: str, app: Any = None) -> str | None:
    """A colour of the active theme by field name (success, error, warning, primary...), or None."""
    try:
        theme = (app or active_app.get()).current_theme
    except (LookupError, AttributeError):
        return None
    value = getattr(theme, field, None)
    return str(value) if value else None


def tone(name: str, *, app: Any = None, extra: str = "") -> str:
    """The Rich style of a tone in the active theme; `extra` adds emphasis (e.g. "italic")."""
    field, emphasis = TONES[name]
    colour = theme_colour(field, app) if field else None
    return " ".join(part for part in (extra, emphasis, colour) if part)
