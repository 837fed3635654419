"""Launch inputs a user hands over by hand: the dataset, a local model folder, a preset. Each hostile one is
a preflight error on its field, before anything is submitted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.errors import TunerError
from core.launch.config import LaunchConfig
from core.launch.dataset import SAMPLE_ROWS, check_local_jsonl

ROW = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]})


def test_a_file_cut_off_after_the_sample_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text((ROW + "\n") * (SAMPLE_ROWS + 50) + ROW[: len(ROW) // 2], encoding="utf-8")
    with pytest.raises(TunerError) as info:
        check_local_jsonl(path)
    assert f"data.jsonl line {SAMPLE_ROWS + 51}: not valid JSON" in str(info.value)


@pytest.mark.parametrize(("content", "needle"), [
    ("[" * 100_000 + "]" * 100_000 + "\n", "line 1: nested too deeply"),
    ('{"messages": ' + "9" * 5000 + "}\n", "line 1: not valid JSON"),
    (b"\xff\xfe" + ROW.encode() + b"\n", "line 1: not UTF-8 text"),
])
def test_hostile_rows_are_field_errors(tmp_path: Path, content: str | bytes, needle: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TunerError) as info:
        check_local_jsonl(path)
    assert info.value.field == "dataset" and needle in str(info.value)


def test_a_line_longer_than_the_cap_is_refused_without_reading_it_whole(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from core import safe_json

    monkeypatch.setattr(safe_json, "MAX_LINE_BYTES", 1024)
    path = tmp_path / "data.jsonl"
    path.write_text(ROW + "\n" + "x" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(TunerError, match="line 2: longer than"):
        check_local_jsonl(path)


def test_a_fifo_dataset_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "data.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(TunerError, match="not a regular file"):
        check_local_jsonl(fifo)


@pytest.mark.parametrize("content", [b"", b"\xff\xfe", b"[1, 2]", b"[" * 100_000 + b"]" * 100_000,
                                     b'{"model_type": ["llama"]}'])
def test_a_local_model_with_a_broken_config_json_is_refused(tmp_path: Path, content: bytes) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_bytes(content)
    errors = {e.field: e for e in LaunchConfig(base_model=str(model), dataset="me/chats", backend="local",
                                               load_in_4bit=False).validate()}
    assert "base_model" in errors and "config.json" in errors["base_model"].message
    assert "\n" not in errors["base_model"].one_line()


@pytest.mark.parametrize(("name", "value"), [("base_model", ["a", "b"]), ("dataset", {"x": 1}),
                                             ("lora_targets", [{"a": 1}]), ("lora_targets", {"a": 1})])
def test_a_preset_with_tables_where_text_belongs_is_refused(name: str, value: object) -> None:
    with pytest.raises(TunerError) as info:
        LaunchConfig.from_dict({name: value}, source="preset.toml")
    assert info.value.field == name and "in preset.toml" in str(info.value)
