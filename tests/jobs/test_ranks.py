"""Multi-GPU jobs: every rank's device from the script's per-rank line; one-process jobs say nothing."""

from __future__ import annotations

from typing import Any

from core.jobs.ranks import RankTracker


def test_every_rank_and_its_device() -> None:
    tracker = RankTracker()
    lines = [
        "Loading weights: 100%",
        "tui-tuner: rank=1 local_rank=1 world_size=4 strategy=fsdp device=cuda:1 (NVIDIA A100-SXM4-80GB)\r\n",
        "tui-tuner: rank=0 local_rank=0 world_size=4 strategy=fsdp device=cuda:0 (NVIDIA A100-SXM4-80GB)",
        "tui-tuner: rank=x garbage",
    ]
    assert [tracker.feed_line(line) for line in lines] == [False, True, True, False]
    assert tracker.distributed and tracker.world_size == 4
    assert tracker.summary() == ("2/4 ranks (fsdp): 0 cuda:0 (NVIDIA A100-SXM4-80GB) · "
                                 "1 cuda:1 (NVIDIA A100-SXM4-80GB)")
    assert tracker.to_dict()["ranks"][1] == {"rank": 1, "local_rank": 1, "device": "cuda:1 (NVIDIA A100-SXM4-80GB)"}


def test_one_process_job_has_no_ranks_line() -> None:
    tracker = RankTracker()
    tracker.feed_line("tui-tuner: expected_steps=3 examples=16 world_size=1")
    assert not tracker.distributed and tracker.summary() == ""


async def test_detail_shows_every_gpu_and_rank_and_the_global_step(fake_hub: Any) -> None:
    from textual.widgets import Static

    from tests.jobs.test_screen import MonitorApp, table_ids, wait_until
    from tui_tuner.screens.jobs.screen import JobDetailScreen

    ranks = [f"tui-tuner: rank={r} local_rank={r} world_size=4 strategy=ddp device=cuda:{r} (NVIDIA A100-SXM4-80GB)"
             for r in range(4)]
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "sft"}, flavor="a100x4",
                              logs=["tui-tuner: launching 4 ranks (ddp) on 4 GPUs with accelerate", *ranks,
                                    " 50%|█████     | 41/82 [10:00<10:00, 14.6s/it]"])
    fake_hub.metrics_interval = 0.1  # no samples given: the fake serves one per GPU of the flavor
    app = MonitorApp()
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_until(pilot, lambda: table_ids(app) == [job])
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        eta = app.screen.query_one("#detail-eta", Static)
        await wait_until(pilot, lambda: "4/4 ranks (ddp)" in str(eta.render()))
        assert "step 41/82" in str(eta.render())  # rank 0's bar: global optimizer steps
        metrics = app.screen.query_one("#detail-metrics", Static)
        await wait_until(pilot, lambda: "GPU3" in str(metrics.render()))
        assert all(f"GPU{i}" in str(metrics.render()) for i in range(4))
