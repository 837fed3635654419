"""`tui-tuner launch` against a Hub that misbehaves, at every step (preflight and the submission): what the
Hub refused unseen (a 429) is retried within bounds, a reply that cannot be read is one line that says so,
and a submission whose answer was lost says the job may exist (creating a job is not idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi, Volume

from tests.conftest import assert_no_canary
from tui_tuner.cli import main

pytestmark = pytest.mark.timeout(120)

LAUNCH = ["launch", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--dataset", "tester/coaching",
          "--output-repo", "tester/smol-coach", "--flavor", "t4-small", "--timeout", "90m"]
JOBS_ROUTE = r"^/api/jobs/tester$"


@pytest.fixture
def hub(fake_hub: Any, chat_jsonl: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The fake Hub has no bucket API: the client's script upload is the one step stood in (as test_hf_jobs).
    def upload(self: HfApi, *, namespace: str, remote_to_local_file_names: dict[str, str], token: object) -> list:
        return [Volume(type="bucket", source=f"{namespace}/jobs-artifacts", mount_path="/data", path="x",
                       read_only=False)]

    monkeypatch.setattr(HfApi, "_upload_scripts_to_bucket", upload)
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", files={"config.json": b"{}"})
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    return fake_hub


def _launch(capsys: Any, *extra: str) -> tuple[int, str, str]:
    code = main([*LAUNCH, *extra])
    out, err = capsys.readouterr()
    assert_no_canary(out, err)
    assert "Traceback" not in out + err
    return code, out, err


def test_a_429_on_the_very_first_request_is_waited_out(hub: Any, capsys: Any) -> None:
    hub.fail_next(r"", 429, headers={"Retry-After": "1"})  # whoami, the token check, comes first
    code, out, err = _launch(capsys, "--dry-run")
    assert code == 0, err
    assert "--namespace tester" in out and hub.created_job_bodies == []


@pytest.mark.parametrize("route", [r"^/api/models/", r"^/api/datasets/"])
def test_a_5xx_during_the_preflight_is_retried(hub: Any, capsys: Any, route: str) -> None:
    hub.fail_next(route, 503, count=2)
    code, _, err = _launch(capsys, "--dry-run")
    assert code == 0, err


def test_a_reply_that_is_not_json_is_named_as_such_not_as_a_login_problem(hub: Any, capsys: Any) -> None:
    hub.fail_next(r"^/api/whoami", 200, body=b"<html>gateway</html>", count=10)
    code, _, err = _launch(capsys, "--dry-run")
    assert code == 2
    assert "the Hub's reply is not valid JSON" in err
    assert "JSONDecodeError" not in err and "hf auth login" not in err


def test_a_429_on_the_submission_is_retried_and_one_job_is_created(hub: Any, capsys: Any) -> None:
    hub.fail_next(JOBS_ROUTE, 429, headers={"Retry-After": "1"}, method="POST")
    code, out, err = _launch(capsys)
    assert code == 0, err
    assert len(hub.created_job_bodies) == 1 and "launched hf-jobs job" in out


@pytest.mark.parametrize("fault", ["dropped", "not-json"])
def test_a_lost_or_unreadable_answer_to_the_submission_says_the_job_may_exist(hub: Any, capsys: Any,
                                                                               fault: str) -> None:
    if fault == "dropped":
        hub.drop_next(JOBS_ROUTE, count=1)
    else:
        hub.fail_next(JOBS_ROUTE, 200, body=b'{"id": ', method="POST")
    code, _, err = _launch(capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "the job may have been created anyway: check `tui-tuner jobs ps`" in lines[0]
    assert "JSONDecodeError" not in err
    assert len(hub.requests_to(JOBS_ROUTE, "POST")) == 1  # never sent twice: it may have been created


def test_a_failed_script_upload_says_no_job_was_created(fake_hub: Any, chat_jsonl: Path, capsys: Any) -> None:
    # No stand-in for the upload here: the fake Hub has no bucket API and answers it with a 5xx (501).
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", files={"config.json": b"{}"})
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    code, _, err = _launch(capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "no job was created" in lines[0] and "may have been created" not in lines[0]
    assert fake_hub.created_job_bodies == []
