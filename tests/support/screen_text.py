"""The screen as a user reads it: one string per terminal row, from the app's own SVG screenshot.

Asserting on these lines (rather than on a widget's value) catches what the user cannot see: a note cut at
the column's edge, a field squeezed to zero rows, a footer that drops its last binding. Index i of a line is
terminal column i (Rich's SVG places each run of text at its cell: x = column × 12.2).
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from typing import Any

CELL_WIDTH = 12.2
LINE_HEIGHT = 24.4
_TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', re.DOTALL)


def svg_lines(svg: str) -> list[str]:
    """Terminal rows of a Textual SVG screenshot (a snapshot file or `app.export_screenshot()`)."""
    rows: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for found in _TEXT.finditer(svg):
        column = round(float(found.group(1)) / CELL_WIDTH)
        row = round((float(found.group(2)) - 20) / LINE_HEIGHT)
        rows[row].append((column, html.unescape(found.group(3)).replace("\xa0", " ")))
    lines: list[str] = []
    for row in range(max(rows) + 1 if rows else 0):
        line = ""
        for column, text in sorted(rows.get(row, [])):
            line = line.ljust(column) + text
        lines.append(line.rstrip())
    return lines


def screen_lines(app: Any) -> list[str]:
    """What the app shows now, one string per terminal row."""
    return svg_lines(app.export_screenshot())
