"""The monitor's core against the loopback fake Hub, driven by the real huggingface_hub client
(and by plain `requests` on the fallback path)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from core.errors import OfflineError
from core.jobs.job_list import JobList
from core.jobs.jobs_source import CLIENT_PATH, HTTP_PATH, HttpStatusError, HubJobs
from core.jobs.log_follow import HubLogSource, LogFollower, LogLine, MetricsFollower, StreamNotice
from core.jobs.service import MonitorSession
from core.store import Store
from tests.conftest import assert_no_canary
from tests.jobs.conftest import store_job

pytestmark = pytest.mark.timeout(120)


def hub_jobs(path: str) -> HubJobs:
    return HubJobs(force_path=HTTP_PATH if path == HTTP_PATH else None, namespace="tester")


@pytest.mark.parametrize("path", [CLIENT_PATH, HTTP_PATH])
def test_list_follows_link_pagination_and_keeps_unknown_stages(fake_hub: Any, path: str) -> None:
    fake_hub.jobs_page_size = 2
    ids = [fake_hub.create_job(stage=stage, labels={"name": f"job{i}"})
           for i, stage in enumerate(["RUNNING", "UPDATING", "ERROR", "COMPLETED", "SCHEDULING"])]
    jobs = hub_jobs(path)
    rows = jobs.list_jobs("tester")
    assert sorted(r.id for r in rows) == sorted(ids)
    assert {r.stage for r in rows} == {"RUNNING", "UPDATING", "ERROR", "COMPLETED", "SCHEDULING"}
    assert len(fake_hub.requests_to(r"^/api/jobs/tester$", "GET")) == 3  # 2 + 2 + 1 via Link rel="next"
    assert jobs.path == path
    updating = next(r for r in rows if r.stage == "UPDATING")
    assert not updating.is_terminal and updating.flavor == "a10g-large"


def test_client_failure_switches_to_http_and_keeps_working(fake_hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import utils

    job = fake_hub.create_job(stage="RUNNING", labels={"name": "sft"})

    def no_tty(*args: Any, **kwargs: Any) -> Any:
        raise OSError(25, "Inappropriate ioctl for device")

    monkeypatch.setattr(utils, "get_session", no_tty)  # the client's HTTP stack fails on its own
    listing = JobList(HubJobs(), store=Store())
    result = listing.refresh()
    assert [r.id for r in result.rows] == [job] and result.error is None
    assert result.path.startswith("via HTTP fallback") and "Inappropriate ioctl" in result.path
    # Stays on HTTP: the next refresh never touches the broken client.
    assert listing.refresh().rows[0].id == job
    assert fake_hub.requests_to(r"^/api/jobs/tester$")[-1].headers.get("user-agent", "").startswith("tui-tuner")


def test_incompatible_client_version_falls_back(fake_hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    job = fake_hub.create_job(stage="RUNNING")

    def old_signature(self: Any, *, timeout: int | None = None) -> list[Any]:  # a client without `namespace=`
        return []

    class OldJobInfo:  # a client whose JobInfo predates `endpoint=`
        def __init__(self, **fields: Any) -> None:
            if "endpoint" in fields:
                raise TypeError("JobInfo.__init__() got an unexpected keyword argument 'endpoint'")

    import huggingface_hub

    monkeypatch.setattr(HfApi, "list_jobs", old_signature)
    monkeypatch.setattr(huggingface_hub, "JobInfo", OldJobInfo)
    jobs = HubJobs(namespace="tester")
    assert jobs.inspect("tester", job).id == job
    assert jobs.path == HTTP_PATH and "TypeError" in (jobs.state.reason or "")


def test_server_errors_are_reported_not_mistaken_for_client_failures(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING")
    jobs = HubJobs(namespace="tester")
    for status in (401, 403, 404):
        fake_hub.fail_next(rf"^/api/jobs/tester/{job}$", status)
        with pytest.raises(HttpStatusError) as info:
            jobs.inspect("tester", job)
        assert info.value.status == status
        assert_no_canary(str(info.value))
    assert jobs.path == CLIENT_PATH
    with pytest.raises(HttpStatusError) as info:
        jobs.inspect("tester", "0" * 24)
    assert info.value.status == 404


def test_list_backs_off_on_429_with_retry_after_and_on_5xx(fake_hub: Any) -> None:
    fake_hub.create_job(stage="RUNNING")
    listing = JobList(HubJobs(force_path=HTTP_PATH, namespace="tester"), store=Store(), interval=1.0,
                      max_interval=30.0)
    fake_hub.fail_next(r"^/api/jobs/tester$", 429, count=4, headers={"Retry-After": "1"})
    started = time.monotonic()
    result = listing.refresh()
    assert result.error is not None and "429" in result.error
    assert time.monotonic() - started >= 3.0  # three retries, each honouring Retry-After: 1
    assert result.next_in_s >= 2.0  # backed off
    fake_hub.fail_next(r"^/api/jobs/tester$", 503, count=1)
    result = listing.refresh()  # one 503, then a retry that succeeds
    # Backoff reset; the refresh cost 2 requests (the 503 counts), so the next comes 10 s later: the
    # 0.2 requests/s budget beats refresh_s=1.
    assert result.error is None and len(result.rows) == 1 and result.requests == 2 and result.next_in_s == 10.0


def test_merges_store_extras_and_local_rows(fake_hub: Any, store: Store) -> None:
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "gemma-sft"})
    store_job(store, job_id=job, extra={"expected_steps": 486, "output_repo": "tester/adapter"})
    store_job(store, job_id="local-20260101-000000-abcd", backend="local", name="local-run", status="COMPLETED",
              log_path="/tmp/x.log")
    rows = JobList(HubJobs(namespace="tester"), store=store).refresh().rows
    by_id = {r.id: r for r in rows}
    assert by_id[job].expected_steps == 486 and by_id[job].in_store and by_id[job].name == "gemma-sft"
    assert by_id["local-20260101-000000-abcd"].backend == "local"


@pytest.mark.parametrize("path", [CLIENT_PATH, HTTP_PATH])
def test_twenty_forced_reconnects_lose_and_duplicate_nothing(fake_hub: Any, path: str) -> None:
    # Identical lines are legitimate (dedupe must be positional): every 7th line is the same text.
    history = [f"step {i} loss {i % 3}" if i % 7 else "loss: nan" for i in range(120)]
    live = [f"live {i}" if i % 5 else "loss: nan" for i in range(120)]
    fake_hub.keepalive_interval = 0.02  # `: keep-alive` comments between events must be ignored
    job = fake_hub.create_job(stage="RUNNING", logs=history)
    for i in range(20):  # each stream dies mid-line a little further into the log
        fake_hub.cut_stream_after(job, n_lines=10 * (i + 1) + 3, times=1)
    player = fake_hub.run_job_script(job, live, interval=0.01, final_stage="COMPLETED")

    jobs = hub_jobs(path)
    follower = LogFollower(HubLogSource(jobs, "tester", job, read_timeout=10), reconnect_delay=0.05)
    lines = [e for e in follower if isinstance(e, LogLine)]
    player.join(10)
    texts = [line.text for line in lines if not line.text.startswith("===== Job started")]
    assert texts == history + live  # 0 lost, 0 duplicated, in order
    assert [line.index for line in lines] == list(range(len(lines)))
    assert follower.reconnects >= 20
    assert jobs.path == path
    assert_no_canary(*texts)


def test_follow_survives_the_server_going_down(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=["a", "b"])
    follower = LogFollower(HubLogSource(HubJobs(namespace="tester"), "tester", job, read_timeout=5),
                           reconnect_delay=0.05, max_delay=0.2)
    events: list[Any] = []
    thread = threading.Thread(target=lambda: events.extend(follower), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while sum(isinstance(e, LogLine) for e in events) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    fake_hub.stop()
    time.sleep(0.5)
    fake_hub.add_logs(job, ["c", "a"])
    fake_hub.start()
    fake_hub.set_stage(job, "COMPLETED")
    thread.join(15)
    assert not thread.is_alive()
    assert [e.text for e in events if isinstance(e, LogLine)][1:] == ["a", "b", "c", "a"]
    assert any(isinstance(e, StreamNotice) and e.kind == "retrying" for e in events)


def test_metrics_stream_until_the_job_ends(fake_hub: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", flavor="a10g-large")
    fake_hub.metrics_interval = 0.05
    fake_hub.add_metrics(job, [{"cpu_usage_pct": 55, "memory_used_bytes": 8e9, "memory_total_bytes": 46e9,
                                "gpus": {"g0": {"utilization": 97, "memory_used_bytes": 20e9,
                                                "memory_total_bytes": 24e9}}}])
    follower = MetricsFollower(HubLogSource(HubJobs(namespace="tester"), "tester", job, read_timeout=5,
                                            route="metrics"), poll_s=0.05)
    samples = []
    for sample in follower:
        samples.append(sample)
        if len(samples) == 3:
            fake_hub.set_stage(job, "COMPLETED")
    assert samples[0].summary() == "CPU 55% · RAM 8.0/46.0 GB · GPU0 97% 20.0/24.0 GB"


def test_completion_detected_from_adapter_commits(fake_hub: Any, store: Store) -> None:
    job = fake_hub.create_job(stage="ERROR", message="Job timeout")
    fake_hub.add_repo("tester/adapter", files={"README.md": b"x"},
                      commits=[{"title": "Training in progress, step 400", "files": {"adapter_model.safetensors": b"1"}},
                               {"title": "Training in progress, step 486", "files": {"adapter_model.safetensors": b"2"}}])
    store_job(store, job_id=job, status="ERROR",
              extra={"num_examples": 1294, "effective_batch": 8, "epochs": 3, "output_repo": "tester/adapter"})
    session = MonitorSession(store=store)
    row = session.resolve(job)
    insight = session.insight(row)
    assert insight.completion is not None and insight.completion.usable
    assert insight.completion.last_step == 486
    assert "training finished, push failed — adapter usable".lower() in insight.completion.banner.lower()
    assert "hf download tester/adapter --local-dir ./adapter" in insight.completion.banner
    assert [d.rule for d in insight.diagnoses] == ["timeout"]


def test_hub_down_is_one_clear_line(fake_hub: Any) -> None:
    fake_hub.stop()
    with pytest.raises(OfflineError):
        HubJobs(namespace="tester").list_jobs("tester")
