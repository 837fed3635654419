from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import TunerError
from core.launch.dataset import check_hub_dataset, check_local_jsonl


def test_counts_and_checks_a_good_file(chat_jsonl: Path) -> None:
    report = check_local_jsonl(chat_jsonl)
    assert report.num_examples == 16 and report.checked_rows == 16
    assert report.avg_chars and report.avg_chars > 50


@pytest.mark.parametrize(("content", "message"), [
    ('{"messages": [}\n', "line 1: not valid JSON"),
    ('{"text": "hello"}\n', "line 1: no `messages` list (keys: text)"),
    ('{"messages": [{"role": "user", "content": "hi"}]}\n', "no assistant turn"),
    ('{"messages": [{"role": "bot", "content": "hi"}]}\n', "role 'bot'"),
    ('{"messages": [{"role": "assistant", "content": 3}]}\n', "no text `content`"),
    ('\n\n', "is empty"),
    ('[1, 2]\n', "must be a JSON object"),
])
def test_malformed_rows_give_one_line_with_the_line_number(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TunerError) as info:
        check_local_jsonl(path)
    assert message in info.value.message
    assert info.value.field == "dataset"
    assert "\n" not in info.value.one_line()


def test_error_names_the_failing_line(tmp_path: Path) -> None:
    good = json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
    path = tmp_path / "mixed.jsonl"
    path.write_text(f"{good}\n{good}\nnot json\n")
    with pytest.raises(TunerError, match="line 3"):
        check_local_jsonl(path)


def test_missing_file() -> None:
    with pytest.raises(TunerError, match="no such file"):
        check_local_jsonl("/nonexistent/data.jsonl")


def test_hub_dataset_checked_on_its_first_file(fake_hub, chat_jsonl: Path) -> None:
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"data/train.jsonl": chat_jsonl.read_bytes()})
    report = check_hub_dataset("tester/coaching")
    assert report.num_examples == 16 and report.checked_rows == 16


def test_hub_dataset_with_bad_rows(fake_hub) -> None:
    fake_hub.add_repo("tester/bad", repo_type="dataset", files={"train.jsonl": b'{"prompt": "x"}\n'})
    with pytest.raises(TunerError, match="no `messages` list"):
        check_hub_dataset("tester/bad")


def test_missing_hub_dataset(fake_hub) -> None:
    with pytest.raises(TunerError, match="not found"):
        check_hub_dataset("tester/absent")
