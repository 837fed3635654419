"""Secrets the user names (`eval run --api-key-env VAR`, `[eval] api_key_env`, the TUI run form) are masked
in every sink the HF token is masked in: the CLI streams, every file written, the store and the TUI.

The loopback chat server (tests/eval_run/fake_openai.py) behaves like a careless proxy: a 401 that quotes
the key it was sent, and replies that echo it. A canary key is then searched for in every output and in
every file under the test's folders (results, exports, the SQLite store and its WAL).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.redact import MASK, redact
from tests.eval_run.conftest import SMALL_RUBRIC_TOML
from tests.eval_run.fake_openai import FakeOpenAI
from tests.eval_view.fixtures import conversation, personas, run_dict
from tui_tuner.cli import main

# A quote and a backslash: JSON writes them escaped, so a file that stored the key would hold `\"`/`\\`.
KEY = 'sk-Canary"Key\\4242-0123456789abcdef'
KEY_FORMS = (KEY, json.dumps(KEY)[1:-1], KEY.replace('"', '""'))
"""As typed, inside a JSON string, inside a quoted CSV cell."""


def assert_no_key(*blobs: str | bytes, where: str = "") -> None:
    for blob in blobs:
        data = blob.encode() if isinstance(blob, str) else blob
        for form in KEY_FORMS:
            assert form.encode() not in data, f"the API key leaked into {where or 'an output'}"


def all_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def echoing_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(reject_key_calls=2, echo_key=True).start()
    yield server
    server.stop()


def test_redact_masks_a_registered_variable_in_text_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.redact import redact_value, register_secret_env

    monkeypatch.setenv("E_UNIT_KEY", KEY)
    assert redact(f"x {KEY} y") == f"x {KEY} y"          # not named as a secret: left alone
    register_secret_env("E_UNIT_KEY", None, "")
    assert redact(f"x {KEY} y") == f"x {MASK} y"
    assert redact(json.dumps({"error": f"bad key {KEY}"})) == json.dumps({"error": f"bad key {MASK}"})
    assert redact_value({"a": [KEY, {"b": f"<{KEY}>"}], KEY: 1}) == {"a": [MASK, {"b": f"<{MASK}>"}], MASK: 1}
    monkeypatch.setenv("E_UNIT_KEY", "short")             # under 8 characters: not masked, text stays readable
    assert redact("a short note") == "a short note"


def test_eval_api_key_never_reaches_an_output_or_a_file(echoing_server: FakeOpenAI, tmp_path: Path,
                                                        isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
    people = tmp_path / "personas.json"
    assert main(["eval", "personas", "--count", "2", "--out", str(people)]) == 0
    results = tmp_path / "results"
    url = echoing_server.url
    run = ["eval", "run", "--personas", str(people), "--output-dir", str(results), "--model", f"baseline={url}",
           "--model", f"coach={url}", "--simulator", url, "--judge", url, "--rubric", str(rubric),
           "--conversations", "1", "--turns", "2", "--api-key-env", "MY_KEY"]
    outputs: list[str] = []

    def cli(*args: str) -> int:
        code = main(list(args))
        captured = capsys.readouterr()
        outputs.extend((captured.out, captured.err))
        return code

    capsys.readouterr()
    assert cli(*run, "--json") == 1                  # two conversations failed on the 401
    first = "".join(outputs)
    assert f"Incorrect API key provided: {MASK}" in first     # the server did quote it: the path was exercised
    assert cli(*run) == 0                            # the rerun retries them
    assert echoing_server.reject_key_calls == 0
    assert cli("eval", "report", str(results)) == 0
    for fmt, table in (("md", "overview"), ("json", "overview"), ("csv", "conversations"), ("csv", "personas")):
        assert cli("eval", "export", str(results), "--format", fmt, "--table", table,
                   "--out", str(tmp_path / "exports" / f"{table}.{fmt}")) == 0
        assert cli("eval", "export", str(results), "--format", fmt, "--table", table) == 0

    lines = [json.loads(line) for line in (results / "conversations.jsonl").read_text().splitlines()]
    assert any(MASK in m["content"] for r in lines for m in r["messages"])   # replies echoed it, masked
    assert any(r["error"] and MASK in r["error"] for r in lines)
    assert json.loads((results / "run.json").read_text())["api_key_env"] == "MY_KEY"   # the name, not the key
    assert_no_key(*outputs, where="the CLI output")
    files = list(all_files(tmp_path, isolated_home))
    assert any(f.name.endswith(".sqlite3") for f in files)  # the store was written too
    for path in files:
        assert_no_key(path.read_bytes(), where=str(path))


def test_a_report_of_an_old_run_masks_the_key_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # Results written before keys were masked: the raw key sits in conversations.jsonl. run.json names
    # the variable, so a later report (another process, which never saw --api-key-env) still masks it.
    monkeypatch.setenv("E_OLD_RUN_KEY", KEY)
    directory = _legacy_results(tmp_path / "old", "E_OLD_RUN_KEY")
    capsys.readouterr()
    assert main(["eval", "report", str(directory), "--out", "-"]) == 0
    assert main(["eval", "export", str(directory), "--format", "csv", "--table", "conversations"]) == 0
    captured = capsys.readouterr()
    assert MASK in captured.out
    assert_no_key(captured.out, captured.err)


def test_the_eval_config_and_the_run_form_register_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.eval.run_setup import RunSpec, build_run_config
    from tui_tuner.screens.eval.run_dialog import spec_from_form

    monkeypatch.setenv("E_FORM_KEY", KEY)
    people = tmp_path / "personas.json"
    people.write_text(json.dumps(personas(1)), encoding="utf-8")
    spec = spec_from_form({"run-output": str(tmp_path / "out"), "run-personas": str(people),
                           "run-models": "baseline=8080, ft=8081", "run-simulator": "8090", "run-judge": "8090"})
    assert isinstance(spec, RunSpec)
    assert redact(KEY) == KEY
    config = build_run_config(spec, {"api_key_env": "E_FORM_KEY"})   # the [eval] table the form falls back on
    assert config.api_key_env == "E_FORM_KEY" and redact(f"401: {KEY}") == f"401: {MASK}"


async def test_the_viewer_masks_the_key_of_the_run_it_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Static

    from tests.support.host_app import ScreenHost
    from tests.support.pilot_wait import wait_for, wait_for_workers
    from tui_tuner.screens.eval import screen as evals
    from tui_tuner.screens.eval.transcript import TranscriptPane

    monkeypatch.setenv("E_VIEW_KEY", KEY)
    directory = _legacy_results(tmp_path / "view", "E_VIEW_KEY")
    request = evals.ViewRequest(directory, persona="p9000", model="ft", tab="side-by-side")
    app = ScreenHost(lambda: evals.EvalScreen(view=request))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: getattr(app.screen, "results", None) is not None, what="the results read")
        await wait_for_workers(pilot)
        assert (app.screen.slot.persona_id, app.screen.slot.model_b) == ("p9000", "ft")
        assert "ft" in {app.screen.query_one(f"#pane-{side}", TranscriptPane).border_title for side in "ab"}
        text = html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
        assert f"echo {MASK}" in text
        banner = app.screen.query_one("#eval-banner", Static)
        assert_no_key(text, str(getattr(banner.content, "plain", banner.content)), where="the TUI")


def _legacy_results(directory: Path, variable: str) -> Path:
    """A finished 2-model run whose files hold the raw key (written as older versions did, unmasked)."""
    directory.mkdir(parents=True)
    run = {**run_dict(["baseline", "ft"], k=1), "api_key_env": variable}
    (directory / "run.json").write_text(json.dumps(run), encoding="utf-8")
    people = personas(3)
    (directory / "personas.json").write_text(json.dumps(people), encoding="utf-8")
    lines = []
    for i, person in enumerate(people):
        for model in ("baseline", "ft"):
            record = conversation(person, model, 0, 0.5 + 0.1 * i + (0.15 if model == "ft" else 0.0))
            record["messages"][2]["content"] = f"echo {KEY}"
            record["assessment"]["summary"] = f"the server said {KEY}"
            lines.append(json.dumps(record))
    failed = conversation(people[0], "ft", 1, 0.0, error=f"HTTP 401: Incorrect API key provided: {KEY}")
    lines.append(json.dumps(failed))
    (directory / "conversations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory
