"""Issue 14 item 11: what the jobs screen says — dates not epoch floats, no stale metrics after the end,
curves from `loss=` text and dict-style lines, a SCHEDULING job waits rather than "streams"."""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.widgets import Static

from core.jobs.model import JobRow
from tests.jobs.test_screen import MonitorApp, screen_text, table_ids, wait_until
from tui_tuner.screens.jobs.screen import JobDetailScreen

pytestmark = pytest.mark.timeout(120)
EPOCH_FLOAT = re.compile(r"\b1[6-9]\d{8}\.\d+")


def test_describe_shows_dates_and_durations_not_epoch_floats() -> None:
    from core.jobs.describe import describe_lines

    row = JobRow(id="6800000000000000000000aa", backend="hf-jobs", name="sft", stage="ERROR", message="Job timeout",
                 flavor="a10g-large", created_at=1_767_225_600.123, started_at=1_767_225_660.5,
                 finished_at=1_767_229_260.25, running_secs=3600.0, labels={"team": "ml"})
    text = "\n".join(describe_lines(row, now=1_767_232_860.0))
    assert not EPOCH_FLOAT.search(text), text
    assert "created         2026-01-01 00:00:00 UTC (2h00m ago)" in text
    assert "duration        1h00m" in text and "cost            $1.50" in text
    assert "stage           ERROR — Job timeout" in text and "labels          team=ml" in text


def test_stream_state_of_a_job_that_has_not_started() -> None:
    from core.jobs.describe import stream_state_text

    assert stream_state_text("connected", "", 0, "SCHEDULING") == "waiting for the job to start (SCHEDULING)"
    assert stream_state_text("connected", "", 2, "RUNNING") == "streaming · 2 reconnects"
    assert stream_state_text("finished", "COMPLETED", 0, "COMPLETED") == "log complete (COMPLETED)"


@pytest.mark.parametrize(("line", "name", "value"), [
    ("step 10/100 loss=2.31 lr=2e-4", "train/loss", 2.31),
    ("Epoch 1 | loss: 1.875", "train/loss", 1.875),
    ('{"loss": 1.5, "grad_norm": 0.4, "learning_rate": 0.0002, "epoch": 0.5}', "train/loss", 1.5),
    ("{'epoch': 0.61, 'loss': 1.4, 'grad_norm': 0.3}", "train/loss", 1.4),
    ("{'eval_loss': 1.2, 'eval_runtime': 3.1, 'epoch': 1.0}", "eval/loss", 1.2),
    (" 40%|####      | 40/100 [00:10<00:15,  3.9it/s, loss=1.3]", "train/loss", 1.3),
])
def test_curves_read_text_and_dict_style_metrics(line: str, name: str, value: float) -> None:
    from core.jobs.progress import ProgressTracker

    tracker = ProgressTracker()
    assert tracker.feed_line(line)
    assert any(p.name == name and p.value == pytest.approx(value) for p in tracker.points), tracker.points


@pytest.mark.parametrize("line", ["computing the loss function", "loss of signal", "train/loss=5x"])
def test_prose_is_not_a_metric(line: str) -> None:
    from core.jobs.progress import ProgressTracker

    tracker = ProgressTracker()
    tracker.feed_line(line)
    assert tracker.points == []


async def test_detail_screen_scheduling_label_metrics_after_the_end_and_describe(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="SCHEDULING", labels={"name": "queued"}, flavor="a10g-large")
    fake_hub.metrics_interval = 0.1
    app = MonitorApp()
    async with app.run_test(size=(150, 40)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        stream = app.screen.query_one("#detail-stream", Static)
        await wait_until(pilot, lambda: "waiting for the job to start" in str(stream.render()))
        assert "streaming" not in str(stream.render())
        fake_hub.set_stage(job, "RUNNING")
        fake_hub.add_logs(job, ["step 5/50 loss=2.0", "step 10/50 loss=1.5"])
        metrics = app.screen.query_one("#detail-metrics", Static)
        await wait_until(pilot, lambda: "GPU0" in str(metrics.render()), timeout=20)
        fake_hub.set_stage(job, "COMPLETED")
        await wait_until(pilot, lambda: "none" in str(metrics.render()), timeout=20)
        assert app.screen.tracker.points and app.screen.tracker.points[-1].value == 1.5  # the curve from text
        await pilot.press("d")
        await wait_until(pilot, lambda: "UTC" in screen_text(app))
        assert not EPOCH_FLOAT.search(screen_text(app))
