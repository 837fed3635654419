"""Logs and metrics SSE streams: the wire format (reference §6.1) and the real client's follow/replay logic."""

from __future__ import annotations

import json
import socket
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests
from huggingface_hub import HfApi

from tests.conftest import CANARY_TOKEN, assert_no_canary


@pytest.fixture
def api(fake_hub) -> HfApi:
    return HfApi(endpoint=fake_hub.url)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {CANARY_TOKEN}"}


def _raw_get(url: str, path: str, timeout: float = 10.0) -> tuple[str, bytes]:
    """One HTTP/1.1 request on a bare socket; returns (head, raw body bytes incl. chunk framing)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {CANARY_TOKEN}\r\n\r\n"
        )
        sock.sendall(request.encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body


def test_follow_receives_history_and_live_lines_and_ends_at_terminal_stage(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", logs=["loading model", "step 1 loss 2.0"])

    def producer() -> None:
        time.sleep(0.3)
        fake_hub.add_logs(job_id, ["step 2 loss 1.5"])
        time.sleep(0.2)
        fake_hub.add_logs(job_id, ["step 3 loss 1.2", "saving"])
        time.sleep(0.2)
        fake_hub.set_stage(job_id, "COMPLETED")

    thread = threading.Thread(target=producer)
    thread.start()
    started = time.monotonic()
    lines = list(api.fetch_job_logs(job_id=job_id, namespace="tester", follow=True))
    elapsed = time.monotonic() - started
    thread.join()
    assert lines == ["loading model", "step 1 loss 2.0", "step 2 loss 1.5", "step 3 loss 1.2", "saving"]
    assert elapsed < 5  # ended by the stream close + the stage check, not by a timeout


def test_cut_stream_is_resumed_by_the_client_without_duplicates(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", logs=[f"line {i}" for i in range(6)])
    fake_hub.cut_stream_after(job_id, n_lines=3, times=1)
    fake_hub.run_job_script(job_id, ["line 6", "line 7"], interval=0.3, final_stage="COMPLETED")
    lines = list(api.fetch_job_logs(job_id=job_id, namespace="tester", follow=True))
    assert lines == [f"line {i}" for i in range(8)]
    streams = fake_hub.requests_to(rf"/api/jobs/tester/{job_id}/logs$")
    assert len(streams) >= 2  # the cut forced a reconnect, which replayed everything


def test_tail_on_first_connection_only(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", logs=["l0", "l1", "l2", "l3"])
    fake_hub.cut_stream_after(job_id, n_lines=2, times=1)  # force one reconnect
    fake_hub.run_job_script(job_id, ["l4", "l5"], interval=0.3, final_stage="COMPLETED")
    lines = list(api.fetch_job_logs(job_id=job_id, namespace="tester", follow=True, tail=2))
    assert lines == ["l2", "l3", "l4", "l5"]
    streams = fake_hub.requests_to(rf"/api/jobs/tester/{job_id}/logs$")
    assert streams[0].query == {"tail": ["2"]}
    assert all("tail" not in s.query for s in streams[1:])


def test_no_follow_on_a_finished_job_returns_at_once(fake_hub, api):
    job_id = fake_hub.create_job(stage="COMPLETED", logs=["a", "b", "c"])
    started = time.monotonic()
    assert list(api.fetch_job_logs(job_id=job_id, namespace="tester")) == ["a", "b", "c"]
    assert list(api.fetch_job_logs(job_id=job_id, namespace="tester", tail=1)) == ["c"]
    assert time.monotonic() - started < 2


def test_wire_format_banner_timestamps_date_and_clean_end(fake_hub):
    job_id = fake_hub.create_job(stage="RUNNING", logs=["hello", "wörld"])
    fake_hub.set_stage(job_id, "COMPLETED")
    head, body = _raw_get(fake_hub.url, f"/api/jobs/tester/{job_id}/logs")
    assert head.startswith("HTTP/1.1 200")
    assert "Content-Type: text/event-stream" in head and "Transfer-Encoding: chunked" in head
    date_lines = [h for h in head.split("\r\n") if h.lower().startswith("date:")]
    assert len(date_lines) == 1 and date_lines[0].endswith("GMT")
    assert body.endswith(b"0\r\n\r\n")  # terminating chunk: a clean end
    payload = b"".join(
        part for i, part in enumerate(body.split(b"\r\n")) if i % 2 == 1
    )  # drop the chunk-size lines
    events = [
        json.loads(line[len(b"data: ") :]) for line in payload.split(b"\n") if line.startswith(b"data: {")
    ]
    assert events[0]["data"].startswith("===== Job started at ") and events[0]["data"].endswith(" =====")
    assert [e["data"] for e in events[1:]] == ["hello", "wörld"]
    served_date = parsedate_to_datetime(date_lines[0].split(":", 1)[1].strip())
    for event in events:
        assert event["timestamp"].endswith("Z")
        from huggingface_hub.utils import parse_datetime

        assert parse_datetime(event["timestamp"]) <= served_date.replace(microsecond=999999) + _one_second()


def _one_second():
    from datetime import timedelta

    return timedelta(seconds=1)


def test_keep_alive_comments_on_a_silent_stream(fake_hub):
    fake_hub.keepalive_interval = 0.2
    job_id = fake_hub.create_job(stage="RUNNING", logs=["only line"])
    threading.Timer(0.9, fake_hub.set_stage, args=(job_id, "COMPLETED")).start()
    with requests.get(
        f"{fake_hub.url}/api/jobs/tester/{job_id}/logs", headers=_auth(), stream=True, timeout=10
    ) as r:
        raw = b"".join(r.iter_content(None))
    assert raw.count(b": keep-alive\n\n") >= 2
    assert b'"data":"only line"' in raw


def test_logs_of_unknown_job_is_404_job_not_found(fake_hub, api):
    from huggingface_hub.errors import JobNotFoundError

    with pytest.raises(JobNotFoundError):
        list(api.fetch_job_logs(job_id="f" * 24, namespace="tester"))


def test_metrics_follow_and_single_sample(fake_hub, api):
    fake_hub.metrics_interval = 0.1
    sample = {
        "cpu_usage_pct": 12,
        "gpus": {"g0": {"utilization": 97, "memory_used_bytes": 1, "memory_total_bytes": 2}},
    }
    job_id = fake_hub.create_job(stage="RUNNING", flavor="a10g-large", metrics=[sample])
    first = list(api.fetch_job_metrics(job_id=job_id, namespace="tester"))
    assert first == [sample]

    def producer() -> None:
        time.sleep(0.2)
        fake_hub.add_metrics(job_id, [{"cpu_usage_pct": 50, "gpus": {}}])
        time.sleep(0.3)
        fake_hub.set_stage(job_id, "COMPLETED")

    threading.Thread(target=producer).start()
    samples = list(api.fetch_job_metrics(job_id=job_id, namespace="tester", follow=True))
    assert samples[0] == sample
    assert {"cpu_usage_pct": 50, "gpus": {}} in samples
    # finished: the endpoint answers 406, which the client tolerates silently
    assert list(api.fetch_job_metrics(job_id=job_id, namespace="tester")) == []


def test_metrics_without_samples_are_synthesised_from_the_flavor(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", flavor="a10g-largex2")
    (sample,) = list(api.fetch_job_metrics(job_id=job_id, namespace="tester"))
    assert len(sample["gpus"]) == 2
    assert all(g["memory_total_bytes"] == 24_000_000_000 for g in sample["gpus"].values())


def test_streams_end_when_the_hub_stops(fake_hub):
    job_id = fake_hub.create_job(stage="RUNNING", logs=["x"])
    result: dict[str, object] = {}

    def reader() -> None:
        try:
            with requests.get(
                f"{fake_hub.url}/api/jobs/tester/{job_id}/logs", headers=_auth(), stream=True, timeout=10
            ) as r:
                result["body"] = b"".join(r.iter_content(None))
        except requests.RequestException as exc:
            result["error"] = exc

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    fake_hub.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3
    assert "error" in result or b"0\r\n\r\n" not in result.get("body", b"")
    assert_no_canary(str(result))


def test_no_follow_on_a_running_job_waits_for_silence_unless_streams_idle_close(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", logs=["a", "b"])
    fake_hub.log_stream_idle_close = 0.2
    started = time.monotonic()
    assert list(api.fetch_job_logs(job_id=job_id, namespace="tester")) == ["a", "b"]
    assert time.monotonic() - started < 2
    assert fake_hub.jobs[job_id]["status"]["stage"] == "RUNNING"  # only the stream ended


def test_logs_of_a_job_that_never_started_have_no_banner(fake_hub):
    job_id = fake_hub.create_job(stage="SCHEDULING")
    fake_hub.add_logs(job_id, ["pulling image"])
    fake_hub.set_stage(job_id, "ERROR", message="Image not found")
    r = requests.get(f"{fake_hub.url}/api/jobs/tester/{job_id}/logs", headers=_auth(), timeout=10)
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert [e["data"] for e in events] == ["pulling image"]
    assert fake_hub.jobs[job_id]["status"] == {"stage": "ERROR", "message": "Image not found"}


def test_launched_job_plays_its_script_and_can_be_followed_to_the_end(fake_hub, api):
    fake_hub.on_job_created = lambda job_id, body: fake_hub.run_job_script(
        job_id, ["Loading model", "{'loss': 1.2}", "Training complete"], interval=0.05
    )
    job = api.run_uv_job("https://example.com/train.py", flavor="t4-small", namespace="tester")
    assert job.status.stage == "SCHEDULING"
    lines = list(api.fetch_job_logs(job_id=job.id, namespace="tester", follow=True))
    assert lines == ["Loading model", "{'loss': 1.2}", "Training complete"]
    assert api.inspect_job(job_id=job.id, namespace="tester").status.stage == "COMPLETED"


def test_cut_stream_on_the_wire_ends_mid_line_without_the_last_chunk(fake_hub):
    job_id = fake_hub.create_job(stage="COMPLETED", logs=["a1", "a2", "a3", "a4"])
    fake_hub.cut_stream_after(job_id, n_lines=2, times=1)
    _head, body = _raw_get(fake_hub.url, f"/api/jobs/tester/{job_id}/logs")
    assert not body.endswith(b"0\r\n\r\n")
    assert b'"data":"a2"' in body
    last_chunk = body.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1]
    assert last_chunk.startswith(b'data: {"data":"a3"') and not last_chunk.endswith(b"}")  # half a line
    # the cut was used up: the next stream is whole
    _head, again = _raw_get(fake_hub.url, f"/api/jobs/tester/{job_id}/logs")
    assert again.endswith(b"0\r\n\r\n") and b'"data":"a4"' in again
