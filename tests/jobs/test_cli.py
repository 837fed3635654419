"""`tui-tuner jobs …` against the fake Hub: ps, logs (-f), inspect, cancel, wait, --json, --http."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from core.store import Store
from tests.conftest import assert_no_canary
from tests.jobs.conftest import store_job
from tui_tuner.cli import build_parser, main

pytestmark = pytest.mark.timeout(120)


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert_no_canary(out, err)
    return code, out, err


@pytest.mark.parametrize("http", [False, True])
def test_ps_lists_hub_and_local_jobs(fake_hub: Any, capsys: Any, http: bool) -> None:
    job = fake_hub.create_job(stage="RUNNING", labels={"name": "gemma-sft"}, flavor="a100-large")
    fake_hub.create_job(stage="UPDATING", labels={"name": "odd-stage"})
    store_job(Store(), job_id="local-20260101-000000-aaaa", backend="local", name="cpu-run", status="COMPLETED",
              log_path="/tmp/none.log")
    flags = ["--http"] if http else []
    code, out, _ = run(capsys, "jobs", "ps", "--json", *flags)
    data = json.loads(out)
    assert code == 0 and data["error"] is None
    assert data["path"] == ("via HTTP fallback (forced)" if http else "via huggingface_hub")
    assert {j["name"] for j in data["jobs"]} == {"gemma-sft", "odd-stage", "cpu-run"}
    assert next(j for j in data["jobs"] if j["id"] == job)["flavor"] == "a100-large"
    code, out, _err = run(capsys, "jobs", "ps", "--status", "UPDATING", *flags)
    assert "odd-stage" in out and "gemma-sft" not in out and out.startswith("JOB_ID")


def test_logs_follow_json_until_the_job_ends(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING", logs=["a", "a", "b"])
    fake_hub.cut_stream_after(job, n_lines=2, times=2)
    timer = threading.Timer(0.5, lambda: (fake_hub.add_logs(job, ["c"]), fake_hub.set_stage(job, "COMPLETED")))
    timer.start()
    code, out, _ = run(capsys, "jobs", "logs", job, "-f", "--json")
    timer.join()
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [e["text"] for e in events][1:] == ["a", "a", "b", "c"]
    assert [e["index"] for e in events] == [0, 1, 2, 3, 4]
    # The full log was saved; a second `logs` replays it from disk and the server without duplicates.
    code, out, _ = run(capsys, "jobs", "logs", f"tester/{job}")
    assert out.splitlines() == ["a", "a", "b", "c"]
    code, out, _ = run(capsys, "jobs", "logs", job, "-n", "2")
    assert out.splitlines() == ["b", "c"]


def test_inspect_reports_diagnosis_and_progress(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="ERROR", logs=[
        " 10%|█         | 49/486 [01:00<09:00,  1.25s/it]",
        "huggingface_hub.errors.GatedRepoError: 403 Client Error. Cannot access gated repo for url x",
    ], command=["uv", "run", "train.py", "--flavor", "a100-large"])
    code, out, _ = run(capsys, "jobs", "inspect", job, "--json")
    data = json.loads(out)
    assert code == 0 and data["job"]["stage"] == "ERROR"
    assert [d["rule"] for d in data["diagnoses"]] == ["flags-ignored", "forbidden-403"]
    assert data["progress"].startswith("step 49/486")
    code, out, _ = run(capsys, "jobs", "inspect", job)
    assert "403 Forbidden" in out and "license" in out


def test_cancel_needs_yes_and_wait_exit_codes(fake_hub: Any, capsys: Any) -> None:
    job = fake_hub.create_job(stage="RUNNING")
    code, _, err = run(capsys, "jobs", "cancel", job, "--json")
    assert code == 2 and "pass --yes" in err
    assert fake_hub.jobs[job]["status"]["stage"] == "RUNNING"
    code, out, _ = run(capsys, "jobs", "cancel", job, "--yes")
    assert code == 0 and fake_hub.jobs[job]["status"]["stage"] == "CANCELED"
    code, out, _ = run(capsys, "jobs", "wait", job, "--interval", "0.2")
    assert code == 1 and out.strip() == "CANCELED"
    done = fake_hub.create_job(stage="RUNNING")
    threading.Timer(0.5, lambda: fake_hub.set_stage(done, "COMPLETED")).start()
    code, out, _ = run(capsys, "jobs", "wait", done, "--interval", "0.2", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["stage"] == "COMPLETED"


def test_errors_are_one_line(fake_hub: Any, capsys: Any) -> None:
    code, _, err = run(capsys, "jobs", "inspect", "0" * 24)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "jobs", "logs", "local-20990101-000000-none")
    assert code == 2 and "no local job" in err
    fake_hub.stop()
    code, _, err = run(capsys, "jobs", "inspect", "0" * 24)
    assert code == 2 and "cannot reach" in err


def test_parser_json_flag_before_or_after_the_action() -> None:
    parser = build_parser()
    assert parser.parse_args(["jobs", "--json", "ps"]).json
    assert parser.parse_args(["jobs", "ps", "--json"]).json
    assert not parser.parse_args(["jobs", "ps"]).json


def test_ps_lists_configured_org_namespaces_too(fake_hub: Any, capsys: Any) -> None:
    from core import paths

    fake_hub.orgs = ["acme"]
    mine = fake_hub.create_job(stage="RUNNING", labels={"name": "mine"})
    org = fake_hub.create_job(namespace="acme", stage="RUNNING", labels={"name": "org-run"})
    paths.ensure(paths.config_dir())
    paths.config_file().write_text('[monitor]\nnamespaces = ["acme"]\n')
    code, out, _ = run(capsys, "jobs", "ps", "--json")
    jobs = {j["id"]: j for j in json.loads(out)["jobs"]}
    assert code == 0 and set(jobs) == {mine, org}
    assert jobs[org]["namespace"] == "acme" and jobs[mine]["namespace"] == "tester"
    assert {r.query.get("stage") is None for r in fake_hub.requests_to(r"^/api/jobs/(tester|acme)$")} == {True}


def test_inspect_flags_a_loss_that_does_not_decrease(fake_hub: Any, capsys: Any) -> None:
    logs = []
    for step in range(1, 41):
        logs.append(f" {step * 100 // 120:2d}%|#         | {step * 3}/120 [01:00<09:00,  1.25s/it]")
        logs.append(f"{{'loss': {2.0 + (step % 2) * 0.02}, 'learning_rate': 0.002, 'epoch': {step / 40:.3f}}}")
    job = fake_hub.create_job(stage="RUNNING", logs=logs)
    store_job(Store(), job_id=job, extra={"expected_steps": 120})
    code, out, _ = run(capsys, "jobs", "inspect", job, "--json")
    data = json.loads(out)
    assert code == 0 and [d["rule"] for d in data["diagnoses"]] == ["loss-flat"]
    assert "1e-4 or 5e-5" in data["diagnoses"][0]["fix"]


@pytest.mark.parametrize("argv", [
    ["jobs", "ps", "--json", "--bogus"],            # unknown flag after the action
    ["jobs", "--json", "ps", "--limit", "many"],    # bad value, --json before the action
    ["jobs", "logs", "--json"],                     # missing argument
    ["jobs", "wait", "abc", "--timeout", "nan", "--json"],
])
def test_usage_errors_honour_json(capsys: Any, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one JSON line, no usage text
    data = json.loads(lines[0])
    assert data["error"].startswith("tui-tuner") and "usage" in data


def test_usage_errors_without_json_stay_argparse_text(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["jobs", "ps", "--limit", "-3"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("usage:") and "must be 0 or more" in err
