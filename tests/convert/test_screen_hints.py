"""Convert's form: an empty field's placeholder reads as a hint, not as a value already filled in."""

from __future__ import annotations

from textual.widgets import Input

from tui_tuner.app import TunerApp


async def test_output_folder_placeholder_is_a_hint(monkeypatch, tmp_path) -> None:
    app = TunerApp(start_area="convert")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        output = app.screen.query_one("#output", Input)
        output.value = ""
        # A bare path ("./models/x-gguf") in the placeholder's dim colour looks like a default already
        # set; the field is required and has none.
        assert output.placeholder.startswith("required,")
        assert len(output.placeholder) <= output.content_region.width  # the hint fits, not cut
        assert "e.g." in output.placeholder
