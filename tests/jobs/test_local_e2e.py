"""End to end: the launcher's local backend trains SmolLM2 for real; the monitor (TUI and CLI) follows it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from core import paths
from tests.conftest import assert_no_canary
from tests.jobs.test_screen import MonitorApp, table_ids, wait_until
from tui_tuner.cli import main
from tui_tuner.screens.jobs.log_view import LogView
from tui_tuner.screens.jobs.plot import TrainingCurves
from tui_tuner.screens.jobs.screen import JobDetailScreen

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def chat_dataset(path: Path, n: int = 8) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps({"messages": [
                {"role": "user", "content": f"Give me one small step for habit {i}."},
                {"role": "assistant", "content": f"Do habit {i} for two minutes right after breakfast."},
            ]}) + "\n")
    return path


async def test_monitor_follows_a_real_local_training_run(smollm2_hf: Path, tmp_path: Path, capsys: Any) -> None:
    from core.launch.config import LaunchConfig
    from core.launch.launcher import launch, plan
    from core.launch.preflight import PreflightOptions

    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[monitor]\nrefresh_s = 1\ntrackio_poll_s = 1\nmax_requests_per_s = 100\n")
    config = LaunchConfig(
        base_model=str(smollm2_hf), dataset=str(chat_dataset(tmp_path / "chats.jsonl")), backend="local",
        load_in_4bit=False, optimizer="adamw_torch", max_steps=2, batch_size=2, gradient_accumulation=1,
        logging_steps=1, save_steps=2, max_length=128, lora_r=8, lora_alpha=16, trackio_project="monitor-e2e",
        timeout="20m",
    )
    the_plan = plan(config, PreflightOptions(online=False))
    assert not the_plan.report.errors, the_plan.report.errors
    record = launch(the_plan)

    app = MonitorApp()
    async with app.run_test(size=(160, 44)) as pilot:
        await wait_until(pilot, lambda: record.id in table_ids(app), timeout=30)
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        log = screen.query_one("#detail-log", LogView)
        await wait_until(pilot, lambda: screen.row.stage == "COMPLETED", timeout=600)
        await wait_until(pilot, lambda: any("Job completed" in line for line in log.buffer.lines), timeout=30)
        assert screen.tracker.step == 2 and screen.tracker.target == 2
        assert "step 2/2 (100%)" in screen.tracker.summary()
        curves = screen.query_one("#detail-curves", TrainingCurves)
        await wait_until(pilot, lambda: curves.source == "trackio local", timeout=30)
        assert screen.diagnoses == []
        assert_no_canary("\n".join(log.buffer.lines))

    assert main(["jobs", "inspect", record.id, "--json"]) == 0
    inspected = json.loads(capsys.readouterr().out)
    assert inspected["job"]["stage"] == "COMPLETED" and inspected["job"]["backend"] == "local"
    assert inspected["progress"].startswith("step 2/2 (100%)")
    assert main(["jobs", "logs", record.id]) == 0
    out = capsys.readouterr().out
    assert "Job completed" in out
    assert main(["jobs", "wait", record.id, "--interval", "0.2"]) == 0
    assert_no_canary(out)
    assert time.time() > 0
