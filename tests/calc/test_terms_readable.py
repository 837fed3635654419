"""The breakdown's "How" notes are read whole on screen at 80, 120 and 200 columns (issue 11: "nothing
essential is clipped"). Each row is scrolled into view and its How cell read back from the rendered screen,
line by line, as a user would read it."""

from __future__ import annotations

import pytest
from textual.containers import Vertical

from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tests.support.screen_text import screen_lines
from tui_tuner.screens.calc.screen import CalcScreen, TermsTable


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_how_note_is_on_screen_whole(size: tuple[int, int]) -> None:
    app = ScreenHost(CalcScreen)
    async with app.run_test(size=size) as pilot:
        screen = app.screen
        assert isinstance(screen, CalcScreen)
        await wait_for(pilot, lambda: screen.result is not None and screen.query_one(TermsTable).row_count > 3)
        table = screen.query_one(TermsTable)
        results = screen.query_one("#calc-results", Vertical)
        results.scroll_to(y=table.virtual_region.y, animate=False)
        await pilot.pause()
        header = screen_lines(app)[table.region.y]
        assert header.rstrip().endswith("How"), header
        how_x = header.index("How")
        offset = 0
        for row in table.ordered_rows:
            note = _words(str(table.get_row(row.key)[3]))
            table.scroll_to(y=offset, animate=False)
            await pilot.pause()
            # The results pane scrolls too (at 80x24 it shows a dozen rows): bring the row to its top.
            results.scroll_to(y=table.virtual_region.y + table.header_height + offset - round(table.scroll_y),
                              animate=False)
            await pilot.pause()
            first = table.region.y + table.header_height + offset - round(table.scroll_y)
            assert results.region.y <= first and first + row.height <= results.region.bottom, \
                f"row {row.key.value} not in view (test setup)"
            lines = screen_lines(app)[first:first + row.height]
            shown = _words(" ".join(line[how_x:table.region.right - 1] for line in lines))
            assert shown == note, f"{size}: {row.key.value}: on screen {shown!r}, note {note!r}"
            offset += row.height
