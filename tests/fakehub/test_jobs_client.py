"""The real huggingface_hub 2.4.0 Jobs client against the fake Hub: create, list, inspect, cancel, errors."""

from __future__ import annotations

import time

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, JobNotFoundError

from tests.conftest import CANARY_TOKEN, assert_no_canary


@pytest.fixture
def api(fake_hub) -> HfApi:
    return HfApi(endpoint=fake_hub.url)


def test_run_uv_job_records_the_exact_spec_and_returns_jobinfo(fake_hub, api):
    job = api.run_uv_job(
        "https://example.com/sft.py",
        script_args=["--epochs", "3"],
        dependencies=["trl", "peft"],
        python="3.12",
        flavor="a10g-large",
        timeout="6h",
        secrets={"HF_TOKEN": CANARY_TOKEN},
        env={"WANDB_DISABLED": "true"},
        labels={"app": "tui-tuner", "run": "r1"},
        namespace="tester",
    )
    body = fake_hub.created_job_bodies[-1]
    assert body["command"] == [
        "uv", "run", "--with", "trl", "--with", "peft", "--python", "3.12",
        "https://example.com/sft.py", "--epochs", "3",
    ]  # fmt: skip
    assert body["flavor"] == "a10g-large"
    assert body["timeoutSeconds"] == 21600
    assert body["dockerImage"] == "ghcr.io/astral-sh/uv:python3.12-bookworm"
    assert body["environment"] == {"WANDB_DISABLED": "true"}
    assert body["secrets"] == {"HF_TOKEN": CANARY_TOKEN}  # the value travels to the Hub...
    assert body["labels"]["app"] == "tui-tuner" and body["labels"]["run"] == "r1"
    assert body["labels"]["name"].startswith("sft-")  # auto name added by the client

    assert len(job.id) == 24 and int(job.id, 16) >= 0
    assert job.status.stage == "SCHEDULING"
    assert job.owner.name == "tester"
    assert job.secrets == ["HF_TOKEN"]  # ...but only its name ever comes back
    assert job.flavor == "a10g-large"
    served = fake_hub.jobs[job.id]
    assert served["timeoutSeconds"] == 21600
    assert_no_canary(str(served), str(job))
    for request in fake_hub.requests:
        assert_no_canary(str(request.headers))


def test_run_job_body_and_default_flavor(fake_hub, api):
    api.run_job(image="python:3.12", command=["python", "-c", "print(1)"], namespace="tester")
    body = fake_hub.created_job_bodies[-1]
    assert body["dockerImage"] == "python:3.12"
    assert body["command"] == ["python", "-c", "print(1)"]
    assert body["arguments"] == [] and body["environment"] == {}
    assert body["flavor"] == "cpu-basic"
    assert "timeoutSeconds" not in body and "secrets" not in body
    # server default timeout
    job_id = next(iter(fake_hub.jobs))
    assert fake_hub.jobs[job_id]["timeoutSeconds"] == 1800


def test_create_rejects_unknown_flavor_with_a_400(api):
    with pytest.raises(HfHubHTTPError) as info:
        api.run_job(image="python:3.12", command=["true"], flavor="h100x8", namespace="tester")
    assert info.value.response.status_code == 400
    assert "Invalid flavor" in str(info.value)


def test_on_job_created_hook_scripts_the_lifecycle(fake_hub, api):
    fake_hub.on_job_created = lambda job_id, body: fake_hub.set_stage(job_id, "RUNNING")
    job = api.run_job(image="python:3.12", command=["true"], namespace="tester")
    assert job.status.stage == "RUNNING"
    assert api.inspect_job(job_id=job.id, namespace="tester").started_at is not None


def test_list_jobs_follows_link_pagination_across_pages(fake_hub, api):
    fake_hub.jobs_page_size = 4
    ids = {fake_hub.create_job(stage="COMPLETED", created_at=1_700_000_000 + i) for i in range(10)}
    jobs = list(api.list_jobs(namespace="tester"))
    assert {j.id for j in jobs} == ids
    pages = fake_hub.requests_to(r"^/api/jobs/tester$", "GET")
    assert len(pages) == 3
    assert pages[1].query["cursor"] == ["4"] and pages[2].query["cursor"] == ["8"]
    # newest first, as the Hub lists them
    created = [j.created_at for j in jobs]
    assert created == sorted(created, reverse=True)


def test_list_jobs_filters_by_stage_and_labels_server_side(fake_hub, api):
    running = fake_hub.create_job(stage="RUNNING", labels={"app": "tui-tuner"})
    fake_hub.create_job(stage="RUNNING", labels={"app": "other"})
    fake_hub.create_job(stage="COMPLETED", labels={"app": "tui-tuner"})
    scheduling = fake_hub.create_job(stage="SCHEDULING", labels={"app": "tui-tuner"})
    found = list(
        api.list_jobs(namespace="tester", status=["running", "SCHEDULING"], labels={"app": "tui-tuner"})
    )
    assert {j.id for j in found} == {running, scheduling}
    request = fake_hub.requests_to(r"^/api/jobs/tester$")[-1]
    assert request.query == {"stage": ["RUNNING", "SCHEDULING"], "label": ["app=tui-tuner"]}


def test_inspect_cancel_duplicate_and_unknown_stage(fake_hub, api):
    job_id = fake_hub.create_job(
        stage="RUNNING", flavor="l4x1", labels={"run": "x"}, command=["python", "t.py"]
    )
    info = api.inspect_job(job_id=job_id, namespace="tester")
    assert info.status.stage == "RUNNING" and info.flavor == "l4x1" and info.command == ["python", "t.py"]
    assert info.durations is not None and info.started_at is not None

    fake_hub.set_stage(job_id, "UPDATING")
    assert api.inspect_job(job_id=job_id, namespace="tester").status.stage == "UPDATING"

    api.cancel_job(job_id=job_id, namespace="tester")
    after = api.inspect_job(job_id=job_id, namespace="tester")
    assert after.status.stage == "CANCELED" and after.finished_at is not None

    new = api.rerun_job(job_id=job_id, namespace="tester")
    assert new.id != job_id and new.status.stage == "SCHEDULING"
    assert new.initiator is not None and new.initiator.type == "duplicated-job" and new.initiator.id == job_id
    assert new.command == ["python", "t.py"] and new.flavor == "l4x1"


def test_set_stage_error_with_message(fake_hub, api):
    job_id = fake_hub.create_job()
    fake_hub.set_stage(job_id, "ERROR", message="Job timeout")
    status = api.inspect_job(job_id=job_id, namespace="tester").status
    assert (status.stage, status.message) == ("ERROR", "Job timeout")


def test_running_job_past_its_timeout_turns_into_error(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING", timeout_s=1)
    time.sleep(1.1)
    status = api.inspect_job(job_id=job_id, namespace="tester").status
    assert (status.stage, status.message) == ("ERROR", "Job timeout")


def test_unknown_job_is_job_not_found(api):
    with pytest.raises(JobNotFoundError):
        api.inspect_job(job_id="0" * 24, namespace="tester")


def test_hardware_lists_the_reference_flavors(api):
    hardware = {h.name: h for h in api.list_jobs_hardware()}
    assert len(hardware) == 26
    a10g = hardware["a10g-large"]
    assert a10g.accelerator is not None and a10g.accelerator.model == "A10G"
    assert a10g.unit_label == "minute"
    assert round(a10g.unit_cost_usd * 60, 2) == 1.50
    assert hardware["cpu-basic"].unit_cost_micro_usd == 167  # the docstring example
    assert hardware["h200x8"].accelerator.vram == "1128 GB"


def test_wait_for_job_returns_on_terminal_stage(fake_hub, api):
    job_id = fake_hub.create_job(stage="RUNNING")
    fake_hub.run_job_script(job_id, ["a", "b"], interval=0.05, final_stage="COMPLETED")
    info = api.wait_for_job(job_id, namespace="tester", poll_interval=0.05, timeout=10)
    assert info.status.stage == "COMPLETED"


def test_list_pages_retry_429_with_retry_after(fake_hub, api):
    """Reference §2: list pages go through http_backoff, which honours Retry-After (wait = value + 1 s)."""
    fake_hub.create_job(stage="RUNNING")
    fake_hub.fail_next(r"^/api/jobs/tester$", 429, count=1, headers={"Retry-After": "1"})
    started = time.monotonic()
    jobs = list(api.list_jobs(namespace="tester"))
    elapsed = time.monotonic() - started
    assert len(jobs) == 1
    assert len(fake_hub.requests_to(r"^/api/jobs/tester$")) == 2
    assert 1.8 <= elapsed < 6


def test_single_job_calls_surface_429_without_retry(fake_hub, api):
    """Reference §11: inspect/run/cancel are single attempts, so a 429 reaches the caller."""
    job_id = fake_hub.create_job()
    fake_hub.fail_next(rf"^/api/jobs/tester/{job_id}$", 429, headers={"Retry-After": "30"})
    with pytest.raises(HfHubHTTPError) as info:
        api.inspect_job(job_id=job_id, namespace="tester")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "30"
    assert api.inspect_job(job_id=job_id, namespace="tester").id == job_id  # one failure only


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_injected_errors_reach_the_client_as_hub_errors(fake_hub, api, status):
    job_id = fake_hub.create_job()
    fake_hub.fail_next(r"^/api/jobs/tester/", status)
    with pytest.raises(HfHubHTTPError) as info:
        api.inspect_job(job_id=job_id, namespace="tester")
    assert info.value.response.status_code == status
    assert info.value.server_message
    assert_no_canary(str(info.value), info.value.response.text)


def test_wrong_token_is_401_and_no_token_is_401(fake_hub):
    bad = HfApi(endpoint=fake_hub.url, token="hf_someoneElse000000000000000000000")
    with pytest.raises(HfHubHTTPError) as info:
        bad.inspect_job(job_id="0" * 24, namespace="tester")
    assert info.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as info:
        bad.whoami()
    assert "Invalid user token" in str(info.value)
    assert fake_hub.requests[-1].auth == "invalid"


def test_other_namespace_is_forbidden(fake_hub, api):
    with pytest.raises(HfHubHTTPError) as info:
        list(api.list_jobs(namespace="someone-else"))
    assert info.value.response.status_code == 403
    fake_hub.orgs.append("my-org")
    assert list(api.list_jobs(namespace="my-org")) == []
    assert api.whoami()["orgs"][0]["name"] == "my-org"


def test_run_uv_job_with_a_local_script_fails_clearly(fake_hub, api, tmp_path):
    """Local scripts ship through a Xet bucket (reference §8.1), which the fake does not emulate."""
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    with pytest.raises(HfHubHTTPError) as info:
        api.run_uv_job(str(script), namespace="tester")
    assert info.value.response.status_code == 501
    assert "Buckets" in str(info.value)
    assert fake_hub.created_job_bodies == []


def test_namespace_defaults_through_whoami_like_the_hub(fake_hub):
    """Without namespace=, the client resolves it with whoami (list_jobs via the module-level api)."""
    job_id = fake_hub.create_job()
    api = HfApi()  # endpoint from the (patched) import-time HF_ENDPOINT, as for a user who exported it
    assert [j.id for j in api.list_jobs()] == [job_id]
    assert api.inspect_job(job_id=job_id).owner.name == "tester"
    assert len(fake_hub.requests_to(r"^/api/whoami-v2$")) == 2


def test_read_only_token_cannot_start_jobs_or_write_repos(fake_hub, api):
    fake_hub.token_role = "read"
    assert api.whoami()["auth"]["accessToken"]["role"] == "read"
    with pytest.raises(HfHubHTTPError) as info:
        api.run_job(image="python:3.12", command=["true"], namespace="tester")
    assert info.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo("tester/out")
    assert info.value.response.status_code == 403
    assert list(api.list_jobs(namespace="tester")) == []  # reads still work


def test_unknown_routes_are_listed_in_unhandled(fake_hub):
    import requests

    r = requests.get(f"{fake_hub.url}/api/spaces-hardware-something", timeout=5)
    assert r.status_code == 404
    assert fake_hub.unhandled == ["GET /api/spaces-hardware-something"]
