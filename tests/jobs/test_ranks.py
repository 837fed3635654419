"""Multi-GPU jobs: every rank's device from the script's per-rank line; one-process jobs say nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from core.jobs.log_follow import FileLogFollower, LogLine
from core.jobs.ranks import RankTracker
from core.launch.local_runner import copy_redacted


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


def _ranks_through_the_local_log(tmp_path: Path, writes: list[bytes]) -> RankTracker:
    """The ranks' writes, in the order they reached the shared pipe, through the local runner's copy to the
    log file and the follower that `jobs inspect` reads it with."""
    log = tmp_path / "job.log"
    with log.open("wb") as sink:
        copy_redacted(io.BufferedReader(io.BytesIO(b"".join(writes))), sink)  # type: ignore[arg-type]
    tracker = RankTracker()
    for event in FileLogFollower(log, is_running=lambda: False, follow=False):
        if isinstance(event, LogLine):
            tracker.feed_line(event.text)
    return tracker


def test_two_ranks_announcing_at_once_on_one_line_are_both_seen(tmp_path: Path) -> None:
    """Unbuffered, print() writes its text and its newline in two writes: two ranks starting together left
    rank 1's text, then rank 0's, then both newlines, so `jobs inspect` saw only rank 1 (the e2e flake)."""
    line = "tui-tuner: rank={0} local_rank={0} world_size=2 strategy=ddp device=cpu"
    tracker = _ranks_through_the_local_log(tmp_path, [line.format(1).encode(), line.format(0).encode(), b"\n", b"\n"])
    assert tracker.to_dict() == {"world_size": 2, "strategy": "ddp",
                                 "ranks": [{"rank": 0, "local_rank": 0, "device": "cpu"},
                                           {"rank": 1, "local_rank": 1, "device": "cpu"}]}
    assert tracker.summary() == "2/2 ranks (ddp): 0 cpu · 1 cpu"


def test_a_rank_line_inside_another_ranks_progress_bar(tmp_path: Path) -> None:
    """Rank 1's bar redraws with \\r while rank 0 announces itself: the device stops at the segment's end."""
    writes = [b"Map:  50%|#####     | 8/16\r", b"tui-tuner: rank=0 local_rank=0 world_size=2 strategy=ddp ",
              b"device=cuda:0 (NVIDIA A100-SXM4-80GB)", b"\rMap: 100%|##########| 16/16",
              b"tui-tuner: rank=1 local_rank=1 world_size=2 strategy=ddp device=cuda:1 (NVIDIA A100-SXM4-80GB)",
              b"\n", b"\n"]
    tracker = _ranks_through_the_local_log(tmp_path, writes)
    assert tracker.summary() == ("2/2 ranks (ddp): 0 cuda:0 (NVIDIA A100-SXM4-80GB) · "
                                 "1 cuda:1 (NVIDIA A100-SXM4-80GB)")


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
