"""Issue 14 against the fake Hub: the `jobs` CLI survives rate limits and server errors at start-up on both
paths, reads what exists now, fails loudly, keeps the log lossless, tails server-side and gives hints that
fit the request that failed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.conftest import assert_no_canary
from tui_tuner.cli import main

pytestmark = pytest.mark.timeout(120)


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert_no_canary(out, err)
    return code, out, err


def finish_soon(fake_hub: Any, job: str, after: float = 0.3, stage: str = "COMPLETED") -> threading.Timer:
    timer = threading.Timer(after, lambda: (fake_hub.add_logs(job, ["done"]), fake_hub.set_stage(job, stage)))
    timer.start()
    return timer


# --- 1. retries at start-up, every command, both paths -------------------------------------------------

START_FAULTS = {
    "429-twice": [(429, 2, {"Retry-After": "1"})],
    "429-twice-then-500": [(429, 2, {"Retry-After": "1"}), (500, 1, {})],
}
COMMANDS = {
    "logs-f": (["logs", "-f"], 0),
    "wait": (["wait", "--interval", "0.2"], 0),
    "inspect": (["inspect", "--no-hub-check"], 0),
    "cancel": (["cancel", "-y"], 0),
}


@pytest.mark.parametrize("faults", list(START_FAULTS))
@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("http", [False, True], ids=["client", "http"])
def test_job_lookup_answered_429_then_500_at_start_up(fake_hub: Any, capsys: Any, command: str, faults: str,
                                                      http: bool) -> None:
    if http and faults == "429-twice":
        pytest.skip("one sequence is enough on the fallback path")
    job = fake_hub.create_job(stage="RUNNING", logs=["a", "b"])
    fake_hub.log_stream_idle_close = 0.3  # `inspect` reads what exists now: don't wait 5 s of silence for it
    for status, count, headers in START_FAULTS[faults]:
        fake_hub.fail_next(rf"^/api/jobs/tester/{job}$", status, count=count, headers=headers, method="GET")
    timer = finish_soon(fake_hub, job, after=3.0) if command in ("logs-f", "wait") else None
    args, expected = COMMANDS[command]
    started = time.monotonic()
    code, out, err = run(capsys, "jobs", args[0], job, *args[1:], *(["--http"] if http else []))
    if timer:
        timer.join()
    assert code == expected, err
    assert "rate limited (429), retrying in" in err  # said once per retry, on stderr
    assert time.monotonic() - started >= 2.0  # Retry-After: 1 was honoured, twice
    if command == "logs-f":
        assert out.splitlines() == ["a", "b", "done"]
    if command == "cancel":
        assert fake_hub.jobs[job]["status"]["stage"] == "CANCELED"


def test_a_fault_on_the_very_first_request(fake_hub: Any, capsys: Any) -> None:
    """No namespace configured: whoami is the first request, and the Hub's strictest route."""
    fake_hub.create_job(stage="RUNNING", labels={"name": "sft"})
    fake_hub.fail_next(r"^/api/whoami-v2$", 429, headers={"Retry-After": "1"})
    fake_hub.drop_next(r"^/api/jobs/tester$")  # then the list's first page: no answer at all
    code, out, err = run(capsys, "jobs", "ps", "--json")
    assert code == 0, err
    assert [j["name"] for j in json.loads(out)["jobs"]] == ["sft"]


def test_cancel_answered_500_is_retried(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING")
    fake_hub.fail_next(rf"/{job}/cancel$", 503, count=2)
    code, _, err = run(capsys, "jobs", "cancel", job, "-y")
    assert code == 0, err
    assert fake_hub.jobs[job]["status"]["stage"] == "CANCELED"


def test_client_path_that_keeps_failing_switches_to_http(fake_hub: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub keeps losing the connection (a proxy it cannot talk to, a broken transport) while plain
    HTTP gets through: after the client's retries the session moves to HTTP, once, and says why."""
    import httpx2

    from core.hub import RetryPolicy
    from core.jobs import jobs_source
    from core.jobs.jobs_source import HTTP_PATH, HubJobs

    job = fake_hub.create_job(stage="RUNNING")
    calls: list[str] = []

    def broken(self: Any, method: str, url: str) -> Any:  # the client path's one request (HfApi's session)
        calls.append(url.rsplit("/", 1)[-1])
        raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")

    monkeypatch.setattr(jobs_source._ClientPath, "_call", broken)
    jobs = HubJobs(namespace="tester", retry=RetryPolicy(attempts=3, base_s=0.01), sleep=lambda s: None)
    assert jobs.inspect("tester", job).id == job
    assert len(calls) == 3  # the client path got its full retry policy first
    assert jobs.path == HTTP_PATH and "kept failing" in (jobs.state.reason or "")
    jobs.inspect("tester", job)
    assert len(calls) == 3  # and is not tried again


def test_hub_down_still_fails_with_one_line_after_bounded_retries(fake_hub: Any, capsys: Any) -> None:
    fake_hub.stop()
    started = time.monotonic()
    code, _, err = run(capsys, "jobs", "inspect", "0" * 24)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: ") and "cannot reach" in err
    assert time.monotonic() - started < 20


# --- 2 & 3. inspect reads what exists now; no ETA once ended ------------------------------------------


def test_inspect_returns_while_a_running_job_keeps_logging(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=[f"old {i}" for i in range(50)])
    fake_hub.run_job_script(job, [f"live {i}" for i in range(2000)], interval=0.02, final_stage=None)
    time.sleep(0.3)
    started = time.monotonic()
    code, out, err = run(capsys, "jobs", "inspect", job, "--json", "--no-hub-check")
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert elapsed < 6.0  # the live stream is not read to its end (it has none)
    assert json.loads(out)["log_lines"] >= 51
    started = time.monotonic()
    code, out, _ = run(capsys, "jobs", "logs", job)
    assert code == 0 and time.monotonic() - started < 6.0 and out.splitlines()[:50] == [f"old {i}" for i in range(50)]


def test_inspect_of_an_ended_job_has_no_eta(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="ERROR", message="Job timeout",
                              logs=[" 10%|█         | 49/486 [01:00<09:00,  1.25s/it]"])
    code, out, _ = run(capsys, "jobs", "inspect", job, "--no-hub-check")
    assert code == 0 and "step 49/486" in out and "ETA" not in out
    code, out, _ = run(capsys, "jobs", "inspect", job, "--json", "--no-hub-check")
    assert json.loads(out)["progress"] == "step 49/486 (10%)"
    running = fake_hub.create_job(stage="RUNNING", logs=[" 10%|█         | 49/486 [01:00<09:00,  1.25s/it]"])
    fake_hub.log_stream_idle_close = 0.2
    code, out, _ = run(capsys, "jobs", "inspect", running, "--json", "--no-hub-check")
    assert "ETA" in json.loads(out)["progress"]  # a live job keeps its ETA


# --- 4 & 5. ps fails loudly; says what it does not show ------------------------------------------------


def test_ps_of_a_missing_namespace_is_an_error(fake_hub: Any, capsys: Any) -> None:
    fake_hub.missing_namespaces.add("nobody-here")
    code, out, err = run(capsys, "jobs", "ps", "--namespace", "nobody-here")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "404" in err and "--namespace" in err and "No jobs" not in err
    code, out, err = run(capsys, "jobs", "ps", "--namespace", "nobody-here", "--json")
    assert code == 2 and out == "" and "404" in json.loads(err)["error"]


def test_ps_against_an_unreachable_hub_is_an_error(fake_hub: Any, capsys: Any) -> None:
    fake_hub.stop()
    code, out, err = run(capsys, "jobs", "ps")
    assert code == 2 and "No jobs" not in out and "cannot reach" in err
    code, out, _ = run(capsys, "jobs", "ps", "--local")
    assert code == 0 and out.strip() == "No jobs."  # local jobs only: no Hub needed


def test_ps_says_how_many_more_exist(fake_hub: Any, capsys: Any) -> None:
    for i in range(130):
        fake_hub.create_job(stage="COMPLETED", labels={"name": f"job{i}"}, created_at=1_700_000_000 + i)
    code, out, err = run(capsys, "jobs", "ps")
    assert code == 0 and len(out.splitlines()) == 51  # header + the newest 50
    assert "more jobs not shown" in err and "--limit 0" in err
    code, out, _ = run(capsys, "jobs", "ps", "--json")
    data = json.loads(out)
    assert (data["shown"], data["more_on_hub"]) == (50, True) and data["total"] >= 100
    code, out, err = run(capsys, "jobs", "ps", "--limit", "0", "--json")
    data = json.loads(out)
    assert data["shown"] == data["total"] == 130 and not data["more_on_hub"]


# --- 6 & 7. lossless replay; server-side tail, also with -f ----------------------------------------------


def test_logs_json_replayed_from_disk_prints_what_the_live_run_printed(fake_hub: Any, capsys: Any) -> None:
    lines = ["Loading", " 30%|###  | 3/10 [00:03<00:07]\r 40%|####  | 4/10 [00:04<00:06]", "tab\there \\ back"]
    job = fake_hub.create_job(stage="RUNNING", logs=lines)
    timer = finish_soon(fake_hub, job)
    code, first, _ = run(capsys, "jobs", "logs", job, "-f", "--json")
    timer.join()
    assert code == 0
    events = [json.loads(line) for line in first.splitlines()]
    assert all(e["timestamp"] for e in events) and [e["text"] for e in events][1:] == [*lines, "done"]
    fake_hub.stop()  # the second run must come from disk... and from the Hub for anything newer: start it again
    fake_hub.start()
    code, second, _ = run(capsys, "jobs", "logs", job, "--json")
    assert code == 0 and second == first
    code, human, _ = run(capsys, "jobs", "logs", job)
    assert human.split("\n")[1] == lines[1]  # the \r line whole: the terminal draws it as it did live


def test_tail_uses_the_hubs_tail_parameter_also_with_follow(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=[f"l{i}" for i in range(500)] + ["same", "same"])
    fake_hub.cut_stream_after(job, n_lines=3, times=1)  # the tail connection dies early: resume by matching
    player = fake_hub.run_job_script(job, ["same", "n1", "n2"], interval=0.2, final_stage="COMPLETED")
    code, out, err = run(capsys, "jobs", "logs", job, "-n", "3", "-f")
    player.join(10)
    assert code == 0, err
    # The tail (3 lines, the last two identical), then every later line once — including a third "same".
    assert out.splitlines() == ["l499", "same", "same", "same", "n1", "n2"]
    first = fake_hub.requests_to(rf"^/api/jobs/tester/{job}/logs$")[0]
    assert first.query.get("tail") == ["3"]
    code, out, _ = run(capsys, "jobs", "logs", job, "-n", "2")
    assert code == 0 and out.splitlines() == ["n1", "n2"]
    assert fake_hub.requests_to(rf"^/api/jobs/tester/{job}/logs$")[-1].query.get("tail") == ["2"]


# --- 8. hints fit the request that failed ----------------------------------------------------------------


def test_a_forbidden_or_missing_job_gets_a_job_hint(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING")
    fake_hub.fail_next(rf"^/api/jobs/tester/{job}$", 403)
    code, _, err = run(capsys, "jobs", "inspect", job)
    assert code == 2 and "403" in err and "license" not in err and "Jobs permission" in err
    code, _, err = run(capsys, "jobs", "inspect", "0" * 24)
    assert code == 2 and "404" in err and "repo" not in err and "job id" in err
    for flag in ("--http",):
        code, _, err = run(capsys, "jobs", "inspect", "0" * 24, flag)
        assert code == 2 and "repo" not in err and "job id" in err


def test_a_gated_model_keeps_its_license_hint(fake_hub: Any) -> None:
    from huggingface_hub import HfApi

    from core.hub import hub_error

    fake_hub.add_repo("meta/gated", files={"config.json": b"{}"}, gated=True)
    with pytest.raises(Exception) as info:
        HfApi(endpoint=fake_hub.url).hf_hub_download("meta/gated", "config.json")
    assert "license" in hub_error(info.value, "download").one_line()


# --- 10 and logs -f exit status ------------------------------------------------------------------------


def test_a_clean_end_of_stream_is_not_downloaded_twice(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=[f"line {i}" for i in range(300)])
    timer = finish_soon(fake_hub, job, after=0.5)
    code, out, _ = run(capsys, "jobs", "logs", job, "-f")
    timer.join()
    assert code == 0 and len(out.splitlines()) == 301
    assert len(fake_hub.requests_to(rf"^/api/jobs/tester/{job}/logs$")) == 1
    finished = fake_hub.create_job(stage="COMPLETED", logs=["x"])
    code, out, _ = run(capsys, "jobs", "logs", finished, "-f")
    assert code == 0 and out.splitlines() == ["x"]
    assert len(fake_hub.requests_to(rf"^/api/jobs/tester/{finished}/logs$")) == 1


@pytest.mark.parametrize(("stage", "plain", "with_flag"), [
    ("COMPLETED", 0, 0), ("ERROR", 0, 1), ("CANCELED", 0, 1), ("DELETED", 0, 1),
])
def test_logs_follow_exit_status_per_final_stage(fake_hub: Any, capsys: Any, stage: str, plain: int,
                                                 with_flag: int) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=["a"])
    timer = finish_soon(fake_hub, job, stage=stage)
    code, _, _ = run(capsys, "jobs", "logs", job, "-f")
    timer.join()
    assert code == plain  # the whole log was printed
    other = fake_hub.create_job(stage="RUNNING", logs=["a"])
    timer = finish_soon(fake_hub, other, stage=stage)
    code, _, err = run(capsys, "jobs", "logs", other, "-f", "--exit-status")
    timer.join()
    assert code == with_flag
    if with_flag:
        assert f"ended {stage}" in err
    code, _, err = run(capsys, "jobs", "logs", other, "--exit-status")
    assert code == 2 and "needs -f" in err


def test_log_streams_the_client_keeps_failing_to_open_move_to_http(fake_hub: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx2
    from huggingface_hub import utils

    from core.jobs.jobs_source import HTTP_PATH, HubJobs
    from core.jobs.log_follow import HubLogSource, LogFollower, LogLine

    job = fake_hub.create_job(stage="COMPLETED", logs=["a", "b"])

    class Unreachable:  # the client's HTTP stack cannot open a stream (a proxy it cannot use, say)
        def stream(self, *args: Any, **kwargs: Any) -> Any:
            raise httpx2.ConnectError("proxy refused the connection")

    monkeypatch.setattr(utils, "get_session", lambda: Unreachable())
    jobs = HubJobs(namespace="tester")
    follower = LogFollower(HubLogSource(jobs, "tester", job, read_timeout=5), reconnect_delay=0.01,
                           sleep=lambda s: None, stage_hint="COMPLETED")
    seen: list[Any] = []
    thread = threading.Thread(target=lambda: seen.extend(follower), daemon=True)
    thread.start()
    thread.join(15)
    follower.stop()
    assert [e.text for e in seen if isinstance(e, LogLine)][1:] == ["a", "b"]
    assert jobs.path == HTTP_PATH and "stream kept failing" in (jobs.state.reason or "")
