"""Hub replies that are not what the API promises (a proxy's page, a changed API, a truncated body) reach
`jobs ps` and `jobs inspect` on both paths as one `error: the Hub's reply: ...` line and exit 2: never a
Python error's text, never an empty listing or a row without an id shown as a success."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import assert_no_canary
from tui_tuner.cli import main

pytestmark = pytest.mark.timeout(120)

LIST_ROUTE = r"^/api/jobs/tester$"

HOSTILE_LISTS: dict[str, Any] = {
    "truncated": b'[{"id": ',
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "object-without-jobs": {"weird": 1},
    "jobs-not-a-list": {"jobs": 5},
    "number": 7,
    "items-not-objects": [1, "x"],
    "item-without-id": [{"status": {"stage": "RUNNING"}}],
    "item-id-not-a-string": [{"id": 5, "status": "RUNNING"}],
}
HOSTILE_JOBS: dict[str, Any] = {
    "truncated": b'{"id": "',
    "array": [1],
    "without-id": {"status": {"stage": "RUNNING"}},
    "error-object": {"error": "upstream timeout"},
}


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert_no_canary(out, err)
    return code, out, err


def _assert_one_reply_error(code: int, out: str, err: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert out == ""  # no table, no "No jobs."
    assert len(lines) == 1 and lines[0].startswith("error: the Hub's reply: "), err
    for python_text in ("AttributeError", "TypeError", "KeyError", "object has no attribute", "is not iterable",
                        "is not an HF Jobs job id"):
        assert python_text not in err


@pytest.mark.parametrize("http", [False, True], ids=["client", "http"])
@pytest.mark.parametrize("body", list(HOSTILE_LISTS))
def test_jobs_ps_on_a_reply_that_is_not_a_list_of_jobs(fake_hub: Any, capsys: Any, body: str, http: bool) -> None:
    fake_hub.create_job(stage="RUNNING")
    fake_hub.fail_next(LIST_ROUTE, 200, body=HOSTILE_LISTS[body], count=20, method="GET")
    _assert_one_reply_error(*_run(capsys, "jobs", "ps", *(["--http"] if http else [])))


@pytest.mark.parametrize("http", [False, True], ids=["client", "http"])
@pytest.mark.parametrize("body", list(HOSTILE_JOBS))
def test_jobs_inspect_on_a_reply_that_is_not_a_job(fake_hub: Any, capsys: Any, body: str, http: bool) -> None:
    job = fake_hub.create_job(stage="COMPLETED", logs=["done"])
    fake_hub.fail_next(rf"^/api/jobs/tester/{job}$", 200, body=HOSTILE_JOBS[body], count=20, method="GET")
    _assert_one_reply_error(*_run(capsys, "jobs", "inspect", job, *(["--http"] if http else [])))


def test_jobs_ps_json_reports_a_reply_error_as_one_json_line(fake_hub: Any, capsys: Any) -> None:
    fake_hub.fail_next(LIST_ROUTE, 200, body={"weird": 1}, count=20, method="GET")
    code, out, err = _run(capsys, "jobs", "ps", "--json", "--http")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and '"error":"the Hub\'s reply: ' in err


def test_optional_fields_of_the_wrong_type_or_absurd_times_read_as_absent(fake_hub: Any, capsys: Any) -> None:
    """A job whose id is fine is still listed when its other fields are odd: they show as unknown."""
    job = fake_hub.create_job(stage="RUNNING")
    odd = {"id": job, "status": {"stage": "RUNNING"}, "owner": "tester", "labels": [1], "durations": {"runningSecs": 1e300},
           "flavor": {"x": 1}, "arguments": 3, "createdAt": 1e300, "startedAt": float("nan")}
    fake_hub.fail_next(LIST_ROUTE, 200, body=[odd], count=20, method="GET")
    code, out, err = _run(capsys, "jobs", "ps", "--http")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith(job))
    assert "RUNNING" in row and "Traceback" not in out + err
    assert not any(len(cell) > 20 for cell in row.split()[1:]), row  # no 300-digit age or duration


# --- pagination: the Hub's pages may be shorter than the 100 rows `ps` plans for -----------------------


def test_jobs_ps_fills_its_limit_when_the_hub_sends_short_pages(fake_hub: Any, capsys: Any) -> None:
    jobs = [fake_hub.create_job(stage="COMPLETED", created_at=1_700_000_000 + i) for i in range(10)]
    fake_hub.jobs_page_size = 3
    code, out, err = _run(capsys, "jobs", "ps", "--limit", "5")
    assert code == 0, err
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == jobs[::-1][:5]  # the newest five, not the first page's three
    assert "1+ more jobs not shown" in err


def test_jobs_ps_says_older_jobs_exist_when_its_page_budget_ends_first(fake_hub: Any, capsys: Any) -> None:
    for i in range(14):
        fake_hub.create_job(stage="COMPLETED", created_at=1_700_000_000 + i)
    fake_hub.jobs_page_size = 1
    code, out, err = _run(capsys, "jobs", "ps", "--limit", "12", "--json")
    assert code == 0, err
    import json

    listing = json.loads(out)
    assert listing["more_on_hub"] is True and listing["shown"] == 10  # ten pages at most, and it says so
    code, out, err = _run(capsys, "jobs", "ps", "--limit", "12")
    assert "(older jobs on the Hub not shown: --limit 0 shows all" in err and "more more" not in err


# --- a Hub that accepts the connection and never answers ----------------------------------------------


def test_jobs_inspect_gives_up_on_a_hub_that_never_answers(fake_hub: Any, capsys: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub's session has no read timeout: `inspect_job` waited as long as the Hub did (forever)."""
    import time

    from core import paths
    from core.jobs import jobs_source

    monkeypatch.setattr(jobs_source, "_READ_TIMEOUT_S", 0.5)
    paths.ensure(paths.config_dir())
    paths.config_file().write_text("[jobs]\nretry_attempts = 2\nretry_base_s = 0.01\n", encoding="utf-8")
    job = fake_hub.create_job(stage="RUNNING")
    fake_hub.set_delay(rf"^/api/jobs/tester/{job}$", 8.0)
    started = time.monotonic()
    code, out, err = _run(capsys, "jobs", "inspect", "tester/" + job)
    assert time.monotonic() - started < 7.0  # a few retries of 0.5 s reads, not the Hub's 8 s silence
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith(f"error: inspect job {job}: ")
    fake_hub.set_delay(rf"^/api/jobs/tester/{job}$", 0)


def test_a_silent_log_stream_is_reported_in_words(fake_hub: Any) -> None:
    from core.errors import OfflineError
    from core.jobs.jobs_source import HubJobs

    job = fake_hub.create_job(stage="RUNNING", logs=["a"])
    fake_hub.set_delay(r"/logs$", 5.0)
    hub = HubJobs(namespace="tester")
    with pytest.raises(OfflineError) as info, hub.open_stream(hub.log_url("tester", job), read_timeout=0.3) as lines:
        list(lines)
    message = info.value.one_line()
    assert message.startswith("log stream: the Hub sent nothing for 0.3s (ReadTimeout)"), message
    assert "ReadTimeout: timed out" not in message
    fake_hub.set_delay(r"/logs$", 0)
