"""The viewer's footer at 160 columns shows whole keys only (issue 11): with its tab keys, filter and
export it has more keys than fit, so the last ones are left out rather than cut ("^q Qu")."""

from __future__ import annotations

from pathlib import Path

from textual.widgets._footer import FooterKey

from tests.eval_view.test_viewer import settle, start
from tests.support.pilot_wait import wait_for
from tests.support.screen_text import screen_lines


async def test_viewer_footer_keys_are_whole_at_160_columns(results_dir: Path) -> None:
    app = start(results_dir)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        app.screen.set_focus(None)
        await wait_for(pilot, lambda: "] Next tab" in screen_lines(app)[-1])
        footer = screen_lines(app)[-1]
        keys = footer.split("▏")[0]
        shown = [f"{key.key_display} {key.description}" for key in app.screen.query(FooterKey)
                 if key.display and not key.has_class("-command-palette")]
        assert shown[0] == "? Help"
        for label in shown:
            assert label in keys, f"{label!r} cut: {footer!r}"
