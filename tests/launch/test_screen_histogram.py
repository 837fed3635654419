"""The Launch screen shows the dataset's token-length histogram with the max-length marker (the Calculator's
rendering), from the preflight's thread worker, at 160x48 and at 80x24."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import Input

from core.launch import data_profile
from tests.launch.conftest import cpu_config
from tests.launch.test_screen import fill, settle, text_of
from tests.support.pilot_wait import wait_for
from tui_tuner.app import TunerApp
from tui_tuner.screens.token_histogram import TokenHistogram


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    data_profile.clear_cache()


@pytest.fixture
def spread(tmp_path: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": "word " * n}, {"role": "assistant", "content": "ok"}]}
            for n in range(20, 2020, 20)]
    path = tmp_path / "spread.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_histogram_with_max_length_marker(smollm2_hf: Path, spread: Path, size: tuple[int, int]) -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = await fill(pilot, cpu_config(smollm2_hf, spread, max_length=1024))
        await settle(pilot)
        histogram = screen.query_one("#launch-histogram", TokenHistogram)
        assert histogram.display and histogram.profile is not None and histogram.profile.profiled == 100
        shown = text_of(screen, "#launch-histogram")
        assert "p50" in shown and "▲" in shown and "max length 1,024" in shown and "truncated" in shown
        lines = shown.splitlines()
        assert len(lines[1]) <= histogram.size.width  # the bars fit the panel: no wrapped sparkline
        assert "get truncated" in text_of(screen, "#findings")
        screen.query_one("#f-max_length", Input).value = "4096"  # everything fits: the marker moves right
        await settle(pilot)
        assert "▶ max length 4,096: 0.0% truncated" in text_of(screen, "#launch-histogram")


async def test_profiling_never_blocks_the_form(smollm2_hf: Path, spread: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """While the profile is being taken (held here), the form still takes keys; the histogram follows."""
    release = threading.Event()
    real = data_profile._profile

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(data_profile, "_profile", slow)
    app = TunerApp(start_area="launch")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "form_ready", False))
        screen = app.screen
        screen._apply(cpu_config(smollm2_hf, spread, max_length=512))
        screen._refresh_now()
        # the preflight is in its thread, held inside the profile
        await wait_for(pilot, lambda: any(w.name == "preflight" and w.is_running for w in app.workers))
        field = screen.query_one("#f-seed", Input)
        field.focus()
        field.value = ""
        await pilot.press("4", "2")
        assert field.value == "42" and not screen.query_one("#launch-histogram", TokenHistogram).display
        release.set()
        await settle(pilot)
        assert "max length 512" in text_of(screen, "#launch-histogram")
