"""core.hub_ids: one validator with the Hub's rules for repo ids, namespaces and job ids, and the rule for
when a reference is a local path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import hub_ids
from core.errors import TunerError


def hub_accepts(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


@pytest.mark.parametrize("text", [
    "Qwen/Q--x..y", "../../etc", "a/b/c", "-lead/x", "x/trail-", ".hidden/x", "ok/.dot", "x/y.git", "",
    "org/na me", "org/naïve", "a" * 97, "/abs", "~/x", "org//x", "org/", "/x",
])
def test_invalid_repo_ids_match_huggingface_hub(text: str) -> None:
    assert not hub_ids.is_repo_id(text)
    assert not hub_accepts(text)


@pytest.mark.parametrize("text", ["gpt2", "Qwen/Qwen3-14B", "google/gemma-3-12b-it", "_x/y_", "a" * 96,
                                  "HuggingFaceTB/SmolLM2-135M-Instruct", "01-ai/Yi-1.5-9B", "a.b/c.d"])
def test_valid_repo_ids_match_huggingface_hub(text: str) -> None:
    assert hub_ids.is_repo_id(text) and hub_accepts(text)


_id_chars = st.text(alphabet="abZ09-_./é ~", max_size=12)


@settings(max_examples=500, deadline=None, database=None)
@given(_id_chars)
def test_same_verdict_as_huggingface_hub_on_generated_ids(text: str) -> None:
    assert hub_ids.is_repo_id(text) == hub_accepts(text), text


def test_errors_are_one_line_and_name_the_rule() -> None:
    with pytest.raises(TunerError) as info:
        hub_ids.validate_repo_id("Qwen/Q--x..y", field="base_model", what="model id")
    assert str(info.value) == "base_model: 'Qwen/Q--x..y' is not a valid Hub model id (the Hub forbids '--' and " \
                              "'..' in repo ids)"
    with pytest.raises(TunerError, match="use namespace/name"):
        hub_ids.validate_repo_id("gpt2", need_namespace=True)
    assert hub_ids.validate_repo_id("  me/x  ") == "me/x"


@pytest.mark.parametrize(("text", "ok"), [
    ("68a1b2c3d4e5f60718293a4b", True), ("68A1B2C3D4E5F60718293A4B", False), ("68a1b2c3d4e5f60718293a4", False),
    ("../../whoami-v2", False), ("68a1b2c3d4e5f60718293a4b/cancel", False), ("", False), ("local-abc", False),
])
def test_job_ids_are_24_hex(text: str, ok: bool) -> None:
    assert hub_ids.is_job_id(text) is ok
    if not ok:
        with pytest.raises(TunerError, match="not an HF Jobs job id"):
            hub_ids.validate_job_id(text)


@pytest.mark.parametrize(("text", "ok"), [("tester", True), ("my-org", True), ("a.b", True), ("..", False),
                                          ("a/b", False), ("-x", False), ("x--y", False), ("", False),
                                          ("me?x=1", False), ("%2e%2e", False)])
def test_namespaces_follow_hub_rules(text: str, ok: bool) -> None:
    assert (hub_ids.namespace_problem(text) is None) is ok


def test_local_paths_only_when_explicit_or_an_existing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "smol").mkdir(parents=True)
    (tmp_path / "file.txt").write_text("x")
    assert hub_ids.is_local_ref("./adapter") and hub_ids.is_local_ref("/data") and hub_ids.is_local_ref("~/x")
    assert hub_ids.is_local_ref("../../etc") and hub_ids.is_local_ref(".")
    assert hub_ids.is_local_ref("models/smol")  # an existing folder: transformers would load it too
    assert not hub_ids.is_local_ref("Qwen/Qwen3-8B") and not hub_ids.is_local_ref("file.txt")
    assert not hub_ids.is_local_ref(".hidden-name")  # a leading dot alone does not make a path
    assert os.getcwd() == str(tmp_path)


# ------------------------------------------------------------------------------------------------
# Every place an id is parsed uses these rules (through the public CLI).
# ------------------------------------------------------------------------------------------------

def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from tui_tuner.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("flag", "value"), [
    ("--model", "Qwen/Q--x..y"), ("--dataset", "me/data--set"), ("--output-repo", "me/out..x"),
    ("--trackio-space", "me/-space"), ("--namespace", "org..x"),
])
def test_launch_refuses_ids_the_hub_forbids_offline(capsys: pytest.CaptureFixture[str], flag: str,
                                                    value: str) -> None:
    argv = {"--model": "Qwen/Qwen3-0.6B", "--dataset": "me/chats", "--output-repo": "me/out"}
    argv[flag] = value
    code, out, err = cli(capsys, "launch", "--offline", "--dry-run",
                         *[x for pair in argv.items() for x in pair])
    assert code == 2
    field = flag.removeprefix("--").replace("-", "_").replace("model", "base_model")
    assert f"{field}: {value!r} is " in out, out
    assert "the Hub forbids '--' and '..'" in out or "not starting or ending with '-' or '.'" in out, out
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: preflight found")


def test_calc_refuses_a_forbidden_id_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "calc", "--model", "Qwen/Q--x..y")
    assert code == 2
    assert err.strip() == ("error: model: unknown model 'Qwen/Q--x..y' (the Hub forbids '--' and '..' in repo ids) "
                           "(use a catalog key (e.g. gemma-3-12b, qwen3-8b, llama-3.1-8b), a Hub id or a config.json "
                           "path)")


@pytest.mark.parametrize("argv", [
    ["jobs", "inspect", "../../whoami-v2"], ["jobs", "inspect", "../../whoami-v2", "--http"],
    ["jobs", "logs", "..%2F..%2Fwhoami-v2"], ["jobs", "cancel", "x/../../api/whoami-v2", "--yes"],
    ["jobs", "wait", "68a1b2c3d4e5f60718293a4b?x=1"], ["jobs", "inspect", "../68a1b2c3d4e5f60718293a4b"],
])
def test_job_refs_are_checked_before_any_request(fake_hub, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                                                 argv: list[str]) -> None:
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "is not a job" in err and len(err.strip().splitlines()) == 1, err
    assert not fake_hub.requests, [f"{r.method} {r.path}" for r in fake_hub.requests]


def test_a_bad_namespace_is_refused_before_listing(fake_hub, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    for path in ("--http", None):
        code, _, err = cli(capsys, "jobs", "ps", "--namespace", "../whoami-v2", *([path] if path else []))
        assert code == 2 and "is not a Hub user or organisation name" in err, err
    assert not [r for r in fake_hub.requests if "whoami" in r.path or "/api/jobs" in r.path]


def test_every_path_segment_is_encoded_and_checked() -> None:
    from core.jobs.jobs_source import HubJobs

    hub = HubJobs(endpoint="http://127.0.0.1:9", namespace="tester")
    assert hub.log_url("tester", "68a1b2c3d4e5f60718293a4b").endswith("/api/jobs/tester/68a1b2c3d4e5f60718293a4b/logs")
    for ns, job in (("tester", "../x"), ("..", "68a1b2c3d4e5f60718293a4b"), ("a/b", "68a1b2c3d4e5f60718293a4b")):
        with pytest.raises(TunerError):
            hub.log_url(ns, job)
        with pytest.raises(TunerError):
            hub.metrics_url(ns, job)
    with pytest.raises(TunerError, match="not a valid Hub repo id"):
        hub.repo_commits("../../api/whoami-v2")
