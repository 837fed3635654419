"""Fault injection, server down/up, delays, recording, and the plain-HTTP view of the Jobs API."""

from __future__ import annotations

import time

import httpx2
import pytest
import requests
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from tests.conftest import CANARY_TOKEN, assert_no_canary


@pytest.fixture
def api(fake_hub) -> HfApi:
    return HfApi(endpoint=fake_hub.url)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {CANARY_TOKEN}"}


def test_server_down_fails_fast_and_comes_back_on_the_same_port(fake_hub, api):
    job_id = fake_hub.create_job()
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id  # leaves a pooled connection
    url = fake_hub.url
    fake_hub.stop()
    started = time.monotonic()
    with pytest.raises((httpx2.ConnectError, httpx2.RemoteProtocolError)):
        api.inspect_job(job_id=job_id, namespace="tester")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/api/jobs/tester", headers=_auth(), timeout=5)
    assert time.monotonic() - started < 2
    fake_hub.start()
    assert fake_hub.url == url
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id  # state survived


def test_set_delay_slows_matching_routes_only(fake_hub, api):
    job_id = fake_hub.create_job()
    fake_hub.set_delay(r"^/api/jobs/tester/", 1.0)
    started = time.monotonic()
    api.inspect_job(job_id=job_id, namespace="tester")
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    api.whoami()
    assert time.monotonic() - started < 0.8
    fake_hub.set_delay(r"^/api/jobs/tester/", 0)
    started = time.monotonic()
    api.inspect_job(job_id=job_id, namespace="tester")
    assert time.monotonic() - started < 0.8


def test_delay_longer_than_the_client_timeout_is_a_read_timeout(fake_hub):
    fake_hub.set_delay(r"^/api/jobs/tester$", 3)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=0.5)


def test_fail_next_counts_matches_and_method(fake_hub, api):
    job_id = fake_hub.create_job()
    fake_hub.fail_next(r"^/api/jobs/tester/", 503, count=2, method="GET")
    for _ in range(2):
        with pytest.raises(HfHubHTTPError) as info:
            api.inspect_job(job_id=job_id, namespace="tester")
        assert info.value.response.status_code == 503
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id
    fake_hub.fail_next(r"/cancel$", 500, method="GET")  # method does not match: never fires
    api.cancel_job(job_id=job_id, namespace="tester")


def test_injected_404_on_repo_routes_is_repo_not_found(fake_hub, api):
    fake_hub.add_repo("tester/m", files={"a": "b"})
    fake_hub.fail_next(r"^/api/models/tester/m$", 404)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("tester/m")
    assert api.model_info("tester/m").id == "tester/m"


def test_injected_error_with_custom_code_and_message(fake_hub, api):
    fake_hub.add_repo("tester/m", files={"a": "b"})
    fake_hub.fail_next(r"^/api/models/tester/m$", 403, error_code="GatedRepo", message="Access restricted")
    from huggingface_hub.errors import GatedRepoError

    with pytest.raises(GatedRepoError) as info:
        api.model_info("tester/m")
    assert info.value.server_message == "Access restricted"


def test_requests_are_recorded_without_the_token(fake_hub, api):
    api.whoami()
    (request,) = fake_hub.requests_to(r"^/api/whoami-v2$")
    assert request.method == "GET"
    assert request.auth == "valid"
    assert request.headers["authorization"] == "Bearer <redacted>"
    assert request.headers["user-agent"].startswith("unknown/None; hf_hub/")
    assert_no_canary(repr(fake_hub.requests))
    fake_hub.clear_requests()
    assert fake_hub.requests == []


def test_canary_never_appears_in_any_response(fake_hub, api):
    """Drive many routes with the canary token and check every byte the server sent back."""
    fake_hub.add_repo(
        "tester/m", files={"config.json": b"{}"}, commits=[{"title": "step 1", "files": {"x": "y"}}]
    )
    job_id = fake_hub.create_job(stage="COMPLETED", logs=["done"], secrets=["HF_TOKEN"])
    api.run_job(image="python:3.12", command=["true"], secrets={"HF_TOKEN": CANARY_TOKEN}, namespace="tester")
    urls = [
        "/api/whoami-v2",
        "/api/jobs/tester",
        f"/api/jobs/tester/{job_id}",
        f"/api/jobs/tester/{job_id}/logs",
        "/api/jobs/hardware",
        "/api/models/tester/m",
        "/api/models/tester/m/tree/main?recursive=true",
        "/api/models/tester/m/commits/main",
        "/tester/m/resolve/main/config.json",
        "/api/models/nobody/missing",
        "/api/jobs/tester/000000000000000000000000",
    ]
    for path in urls:
        for headers in (_auth(), {"Authorization": "Bearer hf_wrong"}, {}):
            r = requests.get(fake_hub.url + path, headers=headers, timeout=10)
            assert_no_canary(r.content, str(r.headers))
    assert fake_hub.errors == []


def test_plain_http_list_jobs_for_the_monitor_fallback(fake_hub):
    """`GET /api/jobs/{ns}` with requests: JSON array of JobInfo, Link pagination, stage filter, 401 without token."""
    fake_hub.jobs_page_size = 2
    ids = [fake_hub.create_job(stage="RUNNING", created_at=1_700_000_000 + i) for i in range(3)]
    done = fake_hub.create_job(stage="COMPLETED", created_at=1_600_000_000)

    r = requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    page1 = r.json()
    assert [j["id"] for j in page1] == [ids[2], ids[1]]
    for job in page1:
        assert job["status"]["stage"] == "RUNNING" and job["owner"]["name"] == "tester"
        assert job["createdAt"].endswith("Z") and isinstance(job["secrets"], list)
    assert "next" in r.links
    r2 = requests.get(r.links["next"]["url"], headers=_auth(), timeout=10)
    assert [j["id"] for j in r2.json()] == [ids[0], done]
    assert "next" not in r2.links

    running = requests.get(
        f"{fake_hub.url}/api/jobs/tester", params={"stage": "RUNNING"}, headers=_auth(), timeout=10
    )
    assert done not in {j["id"] for j in running.json()}

    anonymous = requests.get(f"{fake_hub.url}/api/jobs/tester", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json() == {"error": "Invalid username or password."}
    inspect = requests.get(f"{fake_hub.url}/api/jobs/tester/{done}", headers=_auth(), timeout=10)
    assert inspect.json()["finishedAt"].endswith("Z")
    missing = requests.get(f"{fake_hub.url}/api/jobs/tester/{'0' * 24}", headers=_auth(), timeout=10)
    assert missing.status_code == 404 and missing.json() == {"error": "Job not found"}


def test_resolve_head_headers_and_range_requests(fake_hub):
    data = bytes(range(256)) * 64
    fake_hub.add_repo("tester/m", files={"tokenizer.json": b'{"a": 1}', "w.safetensors": data})
    head = requests.head(f"{fake_hub.url}/tester/m/resolve/main/tokenizer.json", headers=_auth(), timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "8"
    assert head.headers["ETag"].startswith('"') and len(head.headers["X-Repo-Commit"]) == 40
    lfs = requests.head(
        f"{fake_hub.url}/tester/m/resolve/main/w.safetensors",
        headers=_auth(),
        timeout=10,
        allow_redirects=False,
    )
    assert lfs.status_code == 302
    assert lfs.headers["X-Linked-Size"] == str(len(data))
    assert lfs.headers["X-Linked-Etag"].strip('"') == __import__("hashlib").sha256(data).hexdigest()
    assert lfs.headers["Location"].startswith("http://localhost:")
    part = requests.get(lfs.headers["Location"], headers={"Range": "bytes=100-"}, timeout=10)
    assert part.status_code == 206 and part.content == data[100:]
    assert part.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    missing = requests.get(f"{fake_hub.url}/tester/m/resolve/main/nope", headers=_auth(), timeout=10)
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"
    assert len(missing.headers["X-Repo-Commit"]) == 40


def test_rate_limit_headers_shape_the_client_message(fake_hub, api):
    """Reference §11: with `RateLimit` headers the client names the bucket and the reset time."""
    job_id = fake_hub.create_job()
    fake_hub.fail_next(
        r"^/api/jobs/tester/",
        429,
        headers={"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'},
    )
    with pytest.raises(HfHubHTTPError) as info:
        api.inspect_job(job_id=job_id, namespace="tester")
    assert "you have reached your 'api' rate limit" in str(info.value)
    assert "Retry after 55 seconds (0/500 requests remaining in current 300s window)" in str(info.value)
    fake_hub.fail_next(r"^/api/whoami-v2$", 429)
    with pytest.raises(HfHubHTTPError) as info:
        api.whoami()
    assert "intentionally strict" in str(info.value)


def test_wait_for_request_blocks_until_a_background_poller_called(fake_hub):
    import threading

    def poller() -> None:
        for _ in range(3):
            time.sleep(0.05)
            requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=5)

    threading.Thread(target=poller).start()
    third = fake_hub.wait_for_request(r"^/api/jobs/tester$", "GET", count=3, timeout=5)
    assert third.auth == "valid"
    with pytest.raises(TimeoutError, match="0/1 requests matching"):
        fake_hub.wait_for_request(r"/never$", timeout=0.2)


def test_queued_faults_fire_in_order_then_the_route_answers(fake_hub, api):
    """429 (Retry-After: 1) twice, then a 500, then 200: the start-up sequence of issue 14."""
    job_id = fake_hub.create_job()
    fake_hub.fail_next(rf"^/api/jobs/tester/{job_id}$", 429, count=2, headers={"Retry-After": "1"})
    fake_hub.fail_next(rf"^/api/jobs/tester/{job_id}$", 500)
    seen = []
    for _ in range(3):
        with pytest.raises(HfHubHTTPError) as info:
            api.inspect_job(job_id=job_id, namespace="tester")
        seen.append((info.value.response.status_code, info.value.response.headers.get("retry-after")))
    assert seen == [(429, "1"), (429, "1"), (500, None)]
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id


def test_a_fault_on_the_very_first_request_whatever_it_is(fake_hub, api):
    fake_hub.fail_next(r"", 503)  # matches any path: the first request of the session gets it
    with pytest.raises(HfHubHTTPError) as info:
        api.whoami()
    assert info.value.response.status_code == 503
    assert api.whoami()["name"] == "tester"


def test_drop_next_closes_the_connection_without_an_answer(fake_hub, api):
    job_id = fake_hub.create_job()
    fake_hub.drop_next(rf"^/api/jobs/tester/{job_id}$", count=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{fake_hub.url}/api/jobs/tester/{job_id}", headers=_auth(), timeout=5)
    with pytest.raises(httpx2.HTTPError):  # RemoteProtocolError: "Server disconnected without sending a response"
        api.inspect_job(job_id=job_id, namespace="tester")
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id
    assert len(fake_hub.requests_to(rf"^/api/jobs/tester/{job_id}$")) == 3  # the dropped ones were received


def test_rate_limit_enforces_the_quota_with_the_hubs_headers(fake_hub, api):
    fake_hub.rate_limit(3, window_s=1.0)
    first = requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=5)
    assert first.status_code == 200 and first.headers["RateLimit"].startswith('"api";r=2;t=')
    assert first.headers["RateLimit-Policy"] == '"fixed window";"api";q=3;w=1'
    api.whoami()
    list(api.list_jobs(namespace="tester"))
    with pytest.raises(HfHubHTTPError) as info:
        api.inspect_job(job_id="0" * 24, namespace="tester")
    assert info.value.response.status_code == 429
    assert "you have reached your 'api' rate limit" in str(info.value)
    assert fake_hub.rate_limited == 1
    time.sleep(1.1)  # the window resets
    assert requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=5).status_code == 200
    fake_hub.rate_limit(None)
    assert "RateLimit" not in requests.get(f"{fake_hub.url}/api/jobs/tester", headers=_auth(), timeout=5).headers


def test_missing_namespace_is_404_and_a_foreign_one_403(fake_hub, api):
    fake_hub.missing_namespaces.add("nobody-here")
    with pytest.raises(HfHubHTTPError) as info:
        list(api.list_jobs(namespace="nobody-here"))
    assert info.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as info:
        list(api.list_jobs(namespace="someone-else"))
    assert info.value.response.status_code == 403
