"""What the progress line says about a job whose log carries no step counts: "yet" only while it runs."""

from __future__ import annotations

from core.jobs.progress import ProgressTracker


def test_a_running_job_without_steps_may_still_show_progress() -> None:
    tracker = ProgressTracker()
    tracker.feed_line("{'loss': 1.0, 'epoch': 1.0}")
    assert tracker.summary(with_eta=True) == "no progress seen yet"


def test_an_ended_job_without_steps_does_not_promise_progress() -> None:
    tracker = ProgressTracker()
    tracker.feed_line("{'loss': 1.0, 'epoch': 1.0}")
    assert tracker.summary(with_eta=False) == "no step counts in its log"
    assert ProgressTracker(expected_steps=30).summary(with_eta=False) == "step -/30"
