"""Multi-GPU jobs: every rank's device from the script's per-rank line; one-process jobs say nothing."""

from __future__ import annotations

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
