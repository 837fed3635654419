"""Every placeholder and check box label of the Launch form reads whole at 80, 120 and 160 columns.

The form is at its narrowest between 100 and 139 columns; at 160 the base model's and the run name
prefix's placeholders were cut ("… or", "a timestamp i"), and the check boxes' labels ran past the form.
The longer explanations are the fields' tooltips.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets import Checkbox, Input

from tests.launch.test_screen import settle
from tests.support.host_app import ScreenHost
from tui_tuner.screens.launch.screen import FIELDS, LaunchScreen

pytestmark = pytest.mark.timeout(120)


def cut_texts(screen: LaunchScreen) -> list[str]:
    """`name: text (needs N, has M)` for each placeholder or check box label that does not fit."""
    cut = []
    for name, spec in FIELDS.items():
        row = screen.query_one(f"#row-{name}")
        if not spec.placeholder or not row.display:
            continue
        widget = screen.query_one(f"#f-{name}")
        if isinstance(widget, Input):
            need, room = cell_len(spec.placeholder), widget.content_size.width
        else:
            assert isinstance(widget, Checkbox)
            label = row.query_one(".field-label")
            need, room = widget.outer_size.width, row.content_size.width - label.outer_size.width
            assert cell_len(spec.placeholder) < need  # the box's own width is the label's and the button's
        if need > room:
            cut.append(f"{name}: {spec.placeholder!r} (needs {need}, has {room})")
    return cut


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (160, 48), (200, 50)])
async def test_placeholders_and_check_box_labels_read_whole(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    app = ScreenHost(LaunchScreen)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        assert cut_texts(app.screen) == []


async def test_the_long_explanations_are_tooltips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    app = ScreenHost(LaunchScreen)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "google/gemma-3-12b-it" in str(screen.query_one("#f-base_model").tooltip)
        assert "timestamp" in str(screen.query_one("#f-run_name").tooltip)
        assert "private" in str(screen.query_one("#f-private").tooltip)
