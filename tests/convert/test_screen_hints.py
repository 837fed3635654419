"""Convert's form: an empty field's placeholder reads as a hint, not as a value already filled in."""

from __future__ import annotations

from textual.widgets import Input, RichLog

from core.convert.events import LogLine, Progress, StepFinished, StepStarted
from tests.convert.test_screen import log_text
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


async def test_base_model_placeholder_is_a_hint_and_the_empty_log_says_what_it_is_for() -> None:
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        base = screen.query_one("#base", Input)
        # "Qwen/Qwen3-14B" alone in the dim placeholder read as a base model already chosen; empty is the
        # adapter's own base.
        assert base.placeholder.startswith("optional,") and "e.g." in base.placeholder
        await wait_for(pilot, lambda: bool(screen.query_one("#log", RichLog).lines))
        assert "show here during a run" in log_text(screen)


async def test_at_80x24_a_run_on_show_leaves_room_for_its_log_and_the_form_comes_back() -> None:
    """The form took half the height at 80x24, the plan and progress the rest: the tool's lines had 0 rows."""
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        log = screen.query_one("#log", RichLog)
        await pilot.pause()
        assert log.styles.display == "none"  # before any run: no room for it, and nothing to show
        spec = {"adapter": "me/gemma-coach", "base_model": "google/gemma-3-12b-it", "model_name": "gemma-coach",
                "mode": "merge", "smoke_test": True}
        await screen.show_external_run(spec, "gguf", ["preflight", "merge", "convert", "quantize:Q4_K_M", "verify"])
        for event in (StepStarted("preflight", "Preflight"), StepFinished("preflight", "ok"),
                      StepStarted("merge", "Merge"), StepFinished("merge", "merged"),
                      StepStarted("convert", "Convert"),
                      LogLine("convert", "INFO:hf-to-gguf:blk.17.attn_q.weight, torch.bfloat16 --> BF16"),
                      Progress("convert", 17, 48, "layers", "blk.17.attn_q.weight")):
            screen.handle_event(event)
        await wait_for(pilot, lambda: log.content_region.height >= 3, what="three rows of log at 80x24")
        assert log.content_region.bottom <= screen.query_one("AppFooter").region.y  # above the footer, on screen
        await screen.external_run_finished()
        # The user asks for another run: the form has its half of the height again.
        form = screen.query_one("#convert-form")
        during = form.region.height
        screen.query_one("#name", Input).value = "another-name"
        await wait_for(pilot, lambda: form.region.height > during, what="the form's height back")
