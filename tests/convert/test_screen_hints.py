"""Convert's form: an empty field's placeholder reads as a hint, not as a value already filled in."""

from __future__ import annotations

from textual.widgets import Input

from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tui_tuner.screens.convert.screen import ConvertScreen


async def test_output_folder_placeholder_is_a_hint(monkeypatch, tmp_path) -> None:
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        output = app.screen.query_one("#output", Input)
        await wait_for(pilot, lambda: output.content_region.width > 0, what="the output field laid out")
        output.value = ""
        # A bare path ("./models/x-gguf") in the placeholder's dim colour looks like a default already
        # set; the field is required and has none.
        assert output.placeholder.startswith("required,")
        assert len(output.placeholder) <= output.content_region.width  # the hint fits, not cut
        assert "e.g." in output.placeholder
