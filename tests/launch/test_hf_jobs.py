"""HF Jobs submission with the real huggingface_hub client against the loopback fake Hub.

The request body must be the one `hf jobs uv run --flavor F --timeout T --secrets HF_TOKEN train.py`
sends (hf-jobs-api.md §5 and §8.1). The fake Hub has no bucket API, so the one client step that ships
the local script to the `jobs-artifacts` bucket is replaced by a stand-in that records the file and
returns the Volume the real client would build; every HTTP request of the submission is real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi, Volume

from core.errors import TunerError
from core.launch import launcher
from core.launch.config import LaunchConfig
from core.launch.job_store import get_job
from core.launch.preflight import PreflightOptions
from core.store import Store
from tests.conftest import CANARY_TOKEN, assert_no_canary

SUBFOLDER = "20260101T000000-abcdef"


@pytest.fixture
def shipped(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    files: dict[str, str] = {}

    def upload(self: HfApi, *, namespace: str, remote_to_local_file_names: dict[str, str], token: object) -> list[Volume]:
        for remote, local in remote_to_local_file_names.items():
            files[remote] = Path(local).read_text(encoding="utf-8")
        return [Volume(type="bucket", source=f"{namespace}/jobs-artifacts", mount_path="/data", path=SUBFOLDER,
                       read_only=False)]

    monkeypatch.setattr(HfApi, "_upload_scripts_to_bucket", upload)
    return files


@pytest.fixture
def hub_with_data(fake_hub, chat_jsonl: Path):
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", files={"config.json": b"{}"})
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    return fake_hub


def hf_config() -> LaunchConfig:
    return LaunchConfig(base_model="HuggingFaceTB/SmolLM2-135M-Instruct", dataset="tester/coaching",
                        output_repo="tester/smol-coach", trackio_space="tester/trackio", flavor="t4-small",
                        timeout="90m", max_length=1024, save_steps=1)


def test_submission_matches_the_reference_body(hub_with_data, shipped: dict[str, str]) -> None:
    plan = launcher.plan(hf_config())
    assert plan.report.ok, [f.one_line() for f in plan.report.errors]
    job = launcher.launch(plan)

    (body,) = hub_with_data.created_job_bodies
    script_name = plan.script.filename
    run = plan.run_name
    assert body == {
        "command": ["uv", "run", f"/data/{script_name}"],
        "arguments": [],
        "environment": {"TUI_TUNER_RUN_NAME": run},
        "flavor": "t4-small",
        "secrets": {"HF_TOKEN": CANARY_TOKEN},  # by name; the value only travels in this request
        "timeoutSeconds": 5400,
        "labels": {"app": "tui-tuner", "run": run, "name": run},
        "dockerImage": "ghcr.io/astral-sh/uv:python3.12-bookworm",
        "volumes": [{"type": "bucket", "source": "tester/jobs-artifacts", "mountPath": "/data",
                     "path": SUBFOLDER, "readOnly": False}],
    }
    assert shipped == {script_name: plan.script.text}
    posts = hub_with_data.requests_to(r"^/api/jobs/tester$", "POST")
    assert len(posts) == 1

    stored = get_job(job.id)
    assert stored is not None
    assert stored.backend == "hf-jobs" and stored.id == stored.remote_id == job.id
    assert stored.namespace == "tester" and stored.status in {"SCHEDULING", "RUNNING"}
    assert stored.command.startswith("hf jobs uv run --flavor t4-small --timeout 90m --secrets HF_TOKEN ")
    assert stored.command.endswith(script_name)
    assert stored.script == plan.script.text
    assert stored.extra["expected_steps"] == 6 and stored.extra["run_name"] == run
    assert stored.extra["trackio_project"] == "tui-tuner" and stored.extra["timeout_s"] == 5400
    assert_no_canary(Store().path.read_bytes(), stored.command, stored.script, str(stored.extra))


def test_nothing_submitted_when_preflight_fails(hub_with_data, shipped: dict[str, str]) -> None:
    plan = launcher.plan(hf_config().replace(flavor="t4-small", max_length=131072, batch_size=16,
                                             gradient_checkpointing=False))
    assert plan.report.errors
    with pytest.raises(TunerError):
        launcher.launch(plan)
    assert hub_with_data.created_job_bodies == [] and shipped == {}


def test_server_error_is_one_line_and_not_stored(hub_with_data, shipped: dict[str, str]) -> None:
    plan = launcher.plan(hf_config())
    hub_with_data.fail_next(r"^/api/jobs/tester$", 500, count=1)
    with pytest.raises(TunerError) as info:
        launcher.launch(plan)
    assert "HF Jobs submission" in info.value.one_line() and "\n" not in info.value.one_line()
    assert "check `tui-tuner jobs ps` before launching again" in info.value.one_line()  # not idempotent
    assert_no_canary(info.value.one_line())
    with Store().connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_cli_dry_run_submits_nothing(hub_with_data, shipped: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import main

    code = main(["launch", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--dataset", "tester/coaching",
                 "--output-repo", "tester/smol-coach", "--flavor", "t4-small", "--timeout", "90m", "--dry-run",
                 "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert '"dry_run": true' in out.out and "hf jobs uv run --flavor t4-small" in out.out
    assert hub_with_data.created_job_bodies == []
    assert_no_canary(out.out, out.err)


def test_cli_launch_json(hub_with_data, shipped: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from tui_tuner.cli import main

    code = main(["launch", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--dataset", "tester/coaching",
                 "--output-repo", "tester/smol-coach", "--trackio-space", "tester/trackio", "--flavor", "t4-small",
                 "--timeout", "90m", "--save-steps", "1", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert len(hub_with_data.created_job_bodies) == 1
    assert '"backend": "hf-jobs"' in out.out
    assert_no_canary(out.out, out.err)


def test_cli_bad_input_is_one_line_per_field(hub_with_data, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tui_tuner.cli import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [}\n')
    code = main(["launch", "--backend", "local", "--model", "./nope", "--dataset", str(bad), "--no-load-in-4bit",
                 "--optimizer", "adamw_torch", "--dry-run"])
    out = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out.err + out.out
    # Paths are resolved once, at the edge, so the message names the folder the CLI actually looked for.
    assert f"base_model: no such folder {Path('nope').resolve()}" in out.out
    assert "dataset: bad.jsonl line 1: not valid JSON" in out.out
    assert out.err.startswith("error: preflight found")
    assert hub_with_data.created_job_bodies == []


def test_offline_options_never_touch_the_hub(hub_with_data) -> None:
    launcher.plan(hf_config(), PreflightOptions(online=False))
    assert hub_with_data.requests == []
