"""The footer shows whole keys only (issue 11: "nothing essential is clipped"): `?` first, then the keys that
fit, the rest left out rather than cut under the palette key; a wider terminal shows them again."""

from __future__ import annotations

import pytest
from textual.widgets._footer import FooterKey

from tests.app.test_snapshots import AREAS, make_app, settle, stable  # noqa: F401 (stable: the fixture)
from tests.support.pilot_wait import wait_for
from tests.support.screen_text import screen_lines


def _labels(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{key.key_display} {key.description}" for key in app.screen.query(FooterKey)
            if key.display and not key.has_class("-command-palette")]


@pytest.mark.parametrize("area", AREAS)
async def test_footer_keys_are_whole_at_80_columns(area: str, stable: None) -> None:  # noqa: F811
    app = make_app(area, "tuner-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        labels = _labels(app)
        footer = screen_lines(app)[-1]
        assert labels[0] == "? Help" and footer.startswith(" ? Help"), footer
        keys_part = footer.split("▏")[0]
        for label in labels:
            assert label in keys_part, f"{label!r} cut or hidden: {footer!r}"
        narrow = len(labels)
        await pilot.resize_terminal(200, 24)
        await wait_for(pilot, lambda: len(_labels(app)) >= narrow)
        await pilot.pause()
        wide = _labels(app)
        assert wide[:narrow] == labels
        footer = screen_lines(app)[-1].split("▏")[0]
        assert all(label in footer for label in wide), footer
