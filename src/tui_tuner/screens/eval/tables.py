"""Cell helpers shared by the evaluation panes: fill a table in place, a signed Δ in theme colours."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from tui_tuner.tones import theme_colour


def colour(name: str) -> str:
    """A colour of the current theme by field (success, error, warning...): never a literal."""
    return theme_colour(name) or ""


def fill(table: DataTable, columns: list[str], rows: list[list[object]], keys: list[str] | None = None) -> None:
    """Replace a table's columns and rows, keeping the cursor's row where it still exists."""
    cursor = table.cursor_row
    table.clear(columns=True)
    table.add_columns(*columns)
    for i, row in enumerate(rows):
        table.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row],
                      key=keys[i] if keys else None)
    if rows:
        table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)


def signed(value: float | None) -> Text:
    if value is None:
        return Text("—")
    if abs(value) < 5e-4:  # rounds to ±0.000: show it as no change, not as a coloured gain or loss
        return Text("+0.000")
    style = colour("success") if value > 0 else colour("error") if value < 0 else ""
    return Text(f"{value:+.3f}", style=style)
