"""The calculator screen under Pilot, and snapshots of what a user sees."""

from __future__ import annotations

import json

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, Static, Switch

from core.calc.catalog import find_entry
from core.calc.plan import cli_command
from tests.conftest import assert_no_canary
from tests.support.host_app import ScreenHost
from tests.support.pilot_wait import wait_for
from tui_tuner import areas
from tui_tuner.app import TunerApp
from tui_tuner.screens import base
from tui_tuner.screens.calc.chart import MemoryChart
from tui_tuner.screens.calc.screen import CalcScreen, GuideTables

SIZE = (150, 50)


@pytest.fixture
def all_areas(monkeypatch: pytest.MonkeyPatch) -> None:
    """The area bar lists every area, whichever screens exist in this checkout (stable snapshots)."""
    monkeypatch.setattr(base, "built_areas", lambda: list(areas.AREAS))


def _app() -> TunerApp:
    """The whole app, for snapshots: the picture is the area as a user sees it, frame included."""
    app = TunerApp(start_area="calc")
    app.animation_level = "none"
    return app


def _host() -> ScreenHost:
    """The calculator alone, for behaviour."""
    return ScreenHost(CalcScreen)


def text_of(screen: CalcScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def calc_idle(screen: CalcScreen) -> bool:
    """No debounce pending (the estimate, the dataset profile) and no Hub fetch or profile in a thread."""
    return (screen._timer is None and screen._profile_timer is None
            and not [w for w in screen.app.workers if w.is_running])


async def settle(pilot: Pilot) -> None:
    """Until what the last edit started is on screen: its debounced recompute and any worker it ran."""
    await pilot.pause()  # the edit's Changed message is handled: its debounce is pending from here on
    screen = pilot.app.screen
    assert isinstance(screen, CalcScreen)
    await wait_for(pilot, lambda: calc_idle(screen), timeout=60, what="the debounce and the calculator's workers")
    await pilot.pause()


async def type_into(pilot: Pilot, widget_id: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#{widget_id}", Input)
    field.value = ""
    field.focus()
    await pilot.press(*text)


async def pick_gemma_16k(pilot: Pilot) -> None:
    screen = pilot.app.screen
    screen.query_one("#model-pick", Select).value = "gemma-3-12b"
    screen.query_one("#method", Select).value = "qlora"
    await type_into(pilot, "max_length", "16384")
    await settle(pilot)


async def test_done_when_gemma3_12b_qlora_16k() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, CalcScreen)
        await pick_gemma_16k(pilot)
        summary = text_of(screen, "#calc-summary")
        assert "Gemma 3 12B" in summary and "logits 17.2 GB" in summary
        assert "Recommended: a100-large" in summary and "$" in summary
        flavors = screen.query_one("#calc-flavors", DataTable)
        first = flavors.get_row_at(0)
        assert str(first[0]) == "a100-large" and "recommended" in str(first[3])
        chart = screen.query_one(MemoryChart)
        assert chart.flavor.name == "a100-large"
        chart_lines = str(chart.render()).splitlines()
        for term in [t for t in screen.result.estimate.terms if t.at_peak and t.bytes > 0]:
            assert any(line.startswith(term.name + " ") for line in chart_lines), term.name  # whole, not cut
        assert any(line.startswith("checkpointed activations ") for line in chart_lines)
        assert_no_canary(summary, str(chart.render()))


async def test_updates_as_you_type_and_keeps_last_good_result_on_error() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await settle(pilot)
        before = screen.result
        await type_into(pilot, "max_length", "8192")
        await settle(pilot)
        assert screen.result is not before and screen.result.inputs.max_length == 8192
        good = screen.result
        await type_into(pilot, "max_length", "-5")
        await settle(pilot)
        assert text_of(screen, "#max_length-error") == "must be positive (got -5)"
        assert "last valid estimate" in text_of(screen, "#calc-stale")
        assert screen.result is good  # still shown
        await type_into(pilot, "max_length", "4096")
        await settle(pilot)
        assert text_of(screen, "#max_length-error") == "" and text_of(screen, "#calc-stale") == ""
        assert screen.result.inputs.max_length == 4096


async def test_bad_model_and_broken_config_show_under_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "config.json"
    broken.write_text('{"hidden_size": 1,')
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await settle(pilot)
        await type_into(pilot, "model", "not-a-model")
        await settle(pilot)
        assert text_of(screen, "#model-error").startswith("unknown model 'not-a-model'")
        screen.query_one("#model", Input).value = str(broken)
        await settle(pilot)
        assert text_of(screen, "#model-error").startswith("broken config.json")
        screen.query_one("#model", Input).value = "someone/offline-model"  # HF_ENDPOINT is a dead port
        await settle(pilot)
        assert "unreachable" in text_of(screen, "#model-error")
        assert screen.is_attached and app.screen is screen


async def test_hub_model_is_fetched_in_the_background(fake_hub) -> None:  # type: ignore[no-untyped-def]
    fake_hub.add_repo("tester/my-qwen", files={"config.json": json.dumps(find_entry("qwen3-8b").config).encode()})
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await settle(pilot)
        screen.query_one("#model", Input).value = "tester/my-qwen"
        await settle(pilot)
        assert screen.result.arch.source == "hub:tester/my-qwen"
        assert "tester/my-qwen" in text_of(screen, "#calc-summary")


async def test_picking_a_flavor_row_moves_the_chart_and_keys() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pick_gemma_16k(pilot)
        table = screen.query_one("#calc-flavors", DataTable)
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        picked = str(table.get_row_at(1)[0])
        assert screen.query_one(MemoryChart).flavor.name == picked
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GuideTables)
        logits = app.screen.query_one("#guide-logits", DataTable)
        assert [str(c) for c in logits.get_row_at(0)] == ["Gemma 3", "262K", "2.1 GB", "8.6 GB", "17.2 GB"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("y")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("tui-tuner calc --model gemma-3-12b" in m and "--max-length 16384" in m for m in messages)
        assert_no_canary(*messages)


async def leave_form(pilot: Pilot) -> None:
    """Focus the results (no blinking input cursor in a snapshot)."""
    await pilot.press("escape")
    await pilot.pause()


def test_snapshot_gemma3_12b_qlora_16k(snap_compare, all_areas) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await pick_gemma_16k(pilot)
        await leave_form(pilot)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_invalid_length_keeps_last_result(snap_compare, all_areas) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await pick_gemma_16k(pilot)
        await type_into(pilot, "max_length", "-5")
        await settle(pilot)
        await leave_form(pilot)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_guide_tables(snap_compare, all_areas) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


async def test_escape_leaves_the_form_and_m_shows_multi_gpu_rows() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pick_gemma_16k(pilot)  # focus is in the max-length input
        table = screen.query_one("#calc-flavors", DataTable)
        names = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert "a100x8" not in names and "a100-large" in names
        single = table.row_count
        await pilot.press("escape")
        assert app.focused is table
        await pilot.press("m")
        await pilot.pause()
        names = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert "a100x8" in names
        await pilot.press("m")
        await pilot.pause()
        assert table.row_count == single == 9  # the single-GPU flavors


async def inference_qwen3_8b_32k(pilot: Pilot) -> None:
    screen = pilot.app.screen
    screen.query_one("#mode", Select).value = "inference"
    screen.query_one("#model", Input).value = "qwen3-8b"
    await type_into(pilot, "max_length", "32768")
    await settle(pilot)


async def test_inference_mode() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await inference_qwen3_8b_32k(pilot)
        assert screen.result.estimate.kind == "inference"
        assert screen.query_one("#optimizer", Select).display is False or \
            screen.query_one("#training-fields").has_class("-hidden")
        summary = text_of(screen, "#calc-summary")
        assert "inference" in summary and "Recommended:" in summary
        kv = screen.result.estimate.term("kv_cache").bytes
        assert kv == 2 * 36 * 8 * 128 * 2 * 32768
        screen.query_one("#weights", Select).value = "awq-int4"
        await settle(pilot)
        assert screen.result.estimate.inputs.weights == "awq-int4"
        screen.query_one("#mode", Select).value = "training"
        await settle(pilot)
        assert screen.result.estimate.kind == "training"
        assert not screen.query_one("#training-fields").has_class("-hidden")


async def test_old_bitsandbytes_switch_adds_kept_inputs_for_qlora_only() -> None:
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pick_gemma_16k(pilot)
        new = screen.result.estimate
        screen.query_one("#old_bitsandbytes", Switch).value = True
        await settle(pilot)
        old = screen.result.estimate
        assert old.inputs.bnb_keeps_inputs
        # With checkpointing the kept inputs belong to the one layer being recomputed.
        assert old.term("recompute").bytes > new.term("recompute").bytes
        assert any("bitsandbytes < 0.43.2" in note for note in old.notes)
        assert "--old-bitsandbytes" in cli_command(screen.fields())
        screen.query_one("#method", Select).value = "lora"
        await settle(pilot)
        assert screen.query_one("#old_bitsandbytes", Switch).parent.has_class("-hidden")
        assert not screen.result.estimate.inputs.bnb_keeps_inputs


def test_snapshot_inference(snap_compare, all_areas) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot: Pilot) -> None:
        await inference_qwen3_8b_32k(pilot)
        await leave_form(pilot)

    assert snap_compare(_app(), terminal_size=SIZE, run_before=run_before)


async def test_dataset_histogram_and_new_inputs(smollm2_hf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A JSONL in the Data field: the token-length histogram with the max-length marker, tokens per example
    from the real lengths; base weights, attention and strategy selects feed the estimate."""
    rows = [{"messages": [{"role": "user", "content": "word " * n}, {"role": "assistant", "content": "ok"}]}
            for n in range(20, 2020, 20)]
    data = tmp_path / "chats.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    app = _host()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await type_into(pilot, "model", str(smollm2_hf))
        await settle(pilot)
        await type_into(pilot, "max_length", "1024")
        screen.query_one("#dataset", Input).value = str(data)
        await settle(pilot)
        assert screen.profile is not None and screen.profile.profiled == 100
        panel = text_of(screen, "#calc-dataset")
        assert "p50" in panel and "▲" in panel and "max length 1,024" in panel and "truncated" in panel
        assert screen.result.plan.tokens_per_example == screen.profile.mean_tokens_at(1024)
        screen.query_one("#quant", Select).value = "gptq-int4"
        screen.query_one("#method", Select).value = "lora"
        screen.query_one("#attention", Select).value = "flash-attention-2"
        await settle(pilot)
        est = screen.result.estimate
        assert est.inputs.quant == "gptq-int4" and est.inputs.attention == "flash-attention-2"
        assert "--quant gptq-int4" in cli_command(screen.fields())
        screen.query_one("#dataset", Input).value = str(tmp_path / "missing.jsonl")
        await settle(pilot)
        assert "no such dataset file" in text_of(screen, "#dataset-error")
