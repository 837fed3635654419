"""Eval inputs: personas, run.json, conversations.jsonl, a system prompt file, --extra-body, and what servers
answer (the chat endpoint, the judge's reply). Hostile ones are one line or a bad reply, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from core.errors import TunerError
from core.eval.judge import _extract_json
from core.eval.openai_client import _reply_json
from core.eval.personas import load_personas
from core.eval.run_setup import RunSpec, build_run_config, resume_config, system_prompt_text

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("reply", [DEEP, '{"score": ' + "9" * 5000 + "}", "prose {" + '"a": ' * 50_000 + "}"])
def test_a_hostile_judge_reply_is_a_bad_reply(reply: str) -> None:
    with pytest.raises(ValueError, match=r"malformed JSON|no JSON object"):
        _extract_json(reply)


def test_a_hostile_server_body_is_a_value_error() -> None:
    response = httpx.Response(200, content=DEEP.encode())
    with pytest.raises(ValueError, match="nested too deeply"):
        _reply_json(response)


@pytest.mark.parametrize("kind", ["fifo", "directory", "non-utf8", "huge"])
def test_a_system_prompt_file_is_one_line(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "non-utf8":
        path.write_bytes(b"Be kind \xff\n")
    else:
        with path.open("wb") as handle:
            handle.truncate(2 * 1024 * 1024)
    with pytest.raises(TunerError) as info:
        system_prompt_text(f"@{path}")
    assert info.value.field == "system-prompt" and "\n" not in str(info.value)


@pytest.mark.parametrize("body", [DEEP, '{"x": ' + "9" * 5000 + "}"])
def test_extra_body_is_one_line(body: str, tmp_path: Path) -> None:
    spec = RunSpec(output_dir=tmp_path / "o", personas=None, persona_count=2, models=["baseline=http://127.0.0.1:9"],
                   simulator="9", judge="9", extra_body=body)
    with pytest.raises(TunerError) as info:
        build_run_config(spec)
    assert info.value.field == "extra-body" and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [DEEP.encode(), b'[{"id": ' + b"9" * 5000 + b"}]", b"\xff[]"])
def test_personas_file_is_one_line(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "personas.json"
    path.write_bytes(content)
    with pytest.raises(TunerError) as info:
        load_personas(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_resume_from_a_hostile_run_json_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(DEEP, encoding="utf-8")
    with pytest.raises(TunerError, match=r"run.json: cannot be read \(nested too deeply"):
        resume_config(tmp_path)
    (tmp_path / "run.json").unlink()
    os.mkfifo(tmp_path / "run.json")
    with pytest.raises(TunerError, match="not a regular file"):
        resume_config(tmp_path)


def test_report_lists_hostile_lines_and_files_as_problems(tmp_path: Path) -> None:
    from core.eval.results import load_results
    from tests.eval_view.fixtures import make_results

    out = make_results(tmp_path / "r", n_personas=3, k=1)
    with (out / "conversations.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(DEEP + "\n")
    (out / "personas.json").unlink()
    os.mkfifo(out / "personas.json")
    results = load_results(out)
    messages = [f"{p.where}: {p.message}" for p in results.problems]
    assert any("nested too deeply" in m and "line skipped" in m for m in messages), messages
    assert any(m.startswith("personas.json: cannot be read (not a regular file") for m in messages), messages
