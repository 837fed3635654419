"""The Launch screen with Pilot: live preview, per-field errors, confirmation, submission, presets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import HfApi, Volume
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from core.launch.config import LaunchConfig
from core.launch.job_store import list_jobs
from tests.conftest import assert_no_canary
from tests.support.pilot_wait import wait_for, wait_for_workers
from tui_tuner.app import TunerApp
from tui_tuner.screens.launch.confirm import ConfirmLaunch
from tui_tuner.screens.launch.screen import LaunchScreen

SIZE = (160, 48)


def text_of(screen, selector: str) -> str:
    widget = screen.query_one(selector, Static)
    return getattr(widget, "plain_text", None) or str(widget.render())


async def settle(pilot: Pilot) -> None:
    """Until the form is whole, no typed change waits for its refresh and the preflight workers are done."""
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "form_ready", True))
    while True:
        await wait_for(pilot, lambda: not getattr(pilot.app.screen, "refresh_pending", False))
        await wait_for_workers(pilot)
        if not getattr(pilot.app.screen, "refresh_pending", False):
            return


def screen_of(app: TunerApp) -> LaunchScreen:
    assert isinstance(app.screen, LaunchScreen)
    return app.screen


async def fill(pilot: Pilot, config: LaunchConfig) -> LaunchScreen:
    screen = screen_of(pilot.app)
    screen._apply(config)
    screen._refresh_now()
    await settle(pilot)
    return screen


@pytest.fixture
def stub_bucket(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    shipped: dict[str, str] = {}

    def upload(self, *, namespace, remote_to_local_file_names, token):
        shipped.update({r: Path(p).read_text() for r, p in remote_to_local_file_names.items()})
        return [Volume(type="bucket", source=f"{namespace}/jobs-artifacts", mount_path="/data", path="sub")]

    monkeypatch.setattr(HfApi, "_upload_scripts_to_bucket", upload)
    return shipped


async def test_typing_updates_command_script_and_findings() -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = screen_of(app)
        screen.query_one("#f-base_model", Input).focus()
        await pilot.press(*"google/gemma-3-12b")
        await settle(pilot)
        assert "train_gemma-3-12b.py" in text_of(screen, "#command-preview")
        assert "MODEL_ID = 'google/gemma-3-12b'" in screen.script_text
        findings = text_of(screen, "#findings")
        assert "google/gemma-3-12b-it" in findings  # the instruct-variant advice
        assert "-shown" not in screen.query_one("#err-base_model").classes
        await pilot.press("ctrl+g")  # works while an input has focus (ctrl+e would be the input's "end")
        assert screen.query_one("#launch-tabs").active == "tab-script"
        await pilot.press("ctrl+g")
        assert screen.query_one("#launch-tabs").active == "tab-preflight"
        screen.query_one("#f-flavor", Select).value = "a100-large"
        await settle(pilot)
        assert "--flavor a100-large" in text_of(screen, "#command-preview")


async def test_bad_input_shows_one_line_per_field_and_submits_nothing(tmp_path: Path, fake_hub) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [}\n')
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, LaunchConfig(base_model="./no-such-model", dataset=str(bad), backend="local",
                                                output_repo="bad repo", load_in_4bit=False, optimizer="adamw_torch"))
        screen.query_one("#f-epochs", Input).value = "three"
        screen.query_one("#f-timeout", Input).value = "soon"
        await settle(pilot)
        errors = {name: text_of(screen, f"#err-{name}") for name in
                  ("base_model", "dataset", "output_repo", "epochs", "timeout")}
        assert "no such folder ./no-such-model" in errors["base_model"]
        assert "line 1: not valid JSON" in errors["dataset"]
        assert "not a valid repo id" in errors["output_repo"]
        assert "'three' is not a valid float" in errors["epochs"]
        assert "not a duration" in errors["timeout"]
        for message in errors.values():
            assert message.startswith("✗ ") and "\n" not in message.strip()
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmLaunch)
        assert list_jobs() == [] and fake_hub.created_job_bodies == []
        assert app.is_running


async def test_launch_asks_then_submits_to_hf_jobs(fake_hub, stub_bucket: dict[str, str], chat_jsonl: Path) -> None:
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", files={"config.json": b"{}"})
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    config = LaunchConfig(base_model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset="tester/coaching",
                          output_repo="tester/smol", trackio_space="tester/trackio", flavor="t4-small",
                          timeout="90m", save_steps=1)
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, config)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmLaunch), text_of(screen, "#findings")
        summary = str(app.screen.query_one("#confirm-summary", Static).render())
        command = str(app.screen.query_one("#confirm-command", Static).render())
        assert "t4-small" in summary and command.startswith("hf jobs uv run --flavor t4-small")
        await pilot.press("escape")  # first: cancel
        await settle(pilot)
        assert fake_hub.created_job_bodies == []
        assert "nothing submitted" in text_of(screen, "#launch-status")
        await pilot.press("ctrl+l")
        await settle(pilot)
        await pilot.click("#confirm-yes")
        await settle(pilot)
        assert len(fake_hub.created_job_bodies) == 1
        (job,) = list_jobs()
        assert job.backend == "hf-jobs" and job.namespace == "tester"
        assert f"launched hf-jobs job {job.id}" in text_of(screen, "#launch-status")
        from core import paths
        from core.launch.config import load_preset

        assert load_preset(paths.data_dir() / "launch-last.toml") == config  # the next session starts here
        assert_no_canary(app.export_screenshot(), json.dumps(job.extra), job.command, job.script)


def _gated_model_and_absent_dataset(fake_hub) -> LaunchConfig:  # type: ignore[no-untyped-def]
    fake_hub.add_repo("google/gemma-3-12b-it", files={"config.json": b"{}"}, gated=True)
    return LaunchConfig(base_model="google/gemma-3-12b-it", dataset="tester/absent", output_repo="tester/x")


async def test_preflight_errors_block_the_confirmation(fake_hub) -> None:
    config = _gated_model_and_absent_dataset(fake_hub)
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, config)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmLaunch)
        assert "gated" in text_of(screen, "#err-base_model")
        assert "not found" in text_of(screen, "#err-dataset")
        assert fake_hub.created_job_bodies == []


async def test_presets_save_and_load(tmp_path: Path) -> None:
    preset = tmp_path / "coach.toml"
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, LaunchConfig(base_model="Qwen/Qwen3-14B", dataset="me/data", output_repo="me/out",
                                                lora_r=16, epochs=2.0))
        screen.query_one("#preset-path", Input).value = str(preset)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "lora_r = 16" in preset.read_text()
        screen.query_one("#f-lora_r", Input).value = "99"
        await settle(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert screen.query_one("#f-lora_r", Input).value == "16"
        assert screen.config.base_model == "Qwen/Qwen3-14B" and screen.config.epochs == 2.0
        preset.write_text('flavor = "h100"\nlora_r = 4\n')
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert screen.config.flavor == "a10g-large" and screen.config.lora_r == 4
        assert any("'h100' is not a known choice" in str(n.message) for n in app._notifications)
        preset.write_text("epochs = [\n")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert app.is_running and screen.query_one("#f-lora_r", Input).value == "4"


async def test_cheapest_flavor_key_fixes_a_misfit() -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, LaunchConfig(base_model="google/gemma-3-12b-it", dataset="me/ds",
                                                output_repo="me/out", max_length=16384, flavor="a10g-large"))
        assert "does not fit a10g-large" in text_of(screen, "#err-flavor")
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert screen.config.flavor == screen.report.cheapest_flavor != "a10g-large"
        assert "-shown" not in screen.query_one("#err-flavor").classes


async def test_no_token_is_reported_and_nothing_submitted(fake_hub, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, LaunchConfig(base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
                                                dataset="tester/coaching", output_repo="tester/x"))
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmLaunch)
        assert "token: no Hugging Face token found" in text_of(screen, "#launch-status")
        assert "hf auth login" in text_of(screen, "#findings")
        assert fake_hub.created_job_bodies == []


async def test_a_late_as_you_type_check_does_not_overwrite_the_launch_preflight(fake_hub) -> None:
    # Under load a keystroke's debounced offline check can run after Launch's own online preflight (a late
    # Changed event, or an older thread ending last); a report that knows less must not replace it.
    config = _gated_model_and_absent_dataset(fake_hub)
    app = TunerApp(start_area="launch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = await fill(pilot, config)
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert "gated" in text_of(screen, "#err-base_model")
        screen._refresh_now()  # the same settings checked again offline, as a late keystroke event would
        await settle(pilot)
        assert "gated" in text_of(screen, "#err-base_model"), "the Hub-checked report stays"
        assert "not found" in text_of(screen, "#err-dataset")
        screen.query_one("#f-lora_r", Input).value = "32"  # a real change: the new settings' check shows
        await settle(pilot)
        assert screen.config.lora_r == 32 and not screen.checked_online
        assert fake_hub.created_job_bodies == []
