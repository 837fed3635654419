"""core.safe_json: the one JSON reader. Deep nesting, huge numbers, bad bytes, directories and FIFOs
become one line naming the file; nothing recurses, blocks or fills the memory."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import safe_json
from core.errors import TunerError

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a": ' * 100_000 + "1" + "}" * 100_000


@pytest.mark.parametrize(("text", "needle"), [
    (DEEP_ARRAY, "nested too deeply"),
    (DEEP_OBJECT, "nested too deeply"),
    ("[" * 250 + "]" * 250, "nested too deeply"),  # under the interpreter's limit, over ours
    ('{"x": ' + "9" * 5000 + "}", "not valid JSON"),  # int-digits limit is a ValueError, not a crash
    ('{"x": 1', "not valid JSON"),
    ("", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8 text (byte 0xff at offset 0)"),
])
def test_hostile_text_is_one_line(text: str | bytes, needle: str) -> None:
    with pytest.raises(TunerError) as info:
        safe_json.loads(text, source="run.json")
    message = str(info.value)
    assert message.startswith("run.json: ") and needle in message and "\n" not in message
    assert isinstance(info.value, ValueError), "callers that fall back on a bad file catch ValueError"


def test_ordinary_documents_pass_and_depth_is_exact() -> None:
    assert safe_json.loads("[" * 200 + "]" * 200, source="x") is not None
    assert safe_json.loads(b'\xef\xbb\xbf{"a": [1, {"b": null}]}', source="x") == {"a": [1, {"b": None}]}  # BOM
    with pytest.raises(TunerError, match=r"not a JSON object \(found array\)"):
        safe_json.loads("[1]", source="x", expect=dict)
    assert not safe_json.depth_exceeds({"a": [{}]}, 3) and safe_json.depth_exceeds({"a": [{}]}, 2)


def test_depth_check_is_cheap_on_large_flat_documents() -> None:
    text = json.dumps([{"messages": [{"role": "user", "content": "x" * 50}] * 3}] * 20_000)
    started = time.perf_counter()
    assert len(safe_json.loads(text, source="big.json")) == 20_000
    assert time.perf_counter() - started < 5  # generous: a loaded 2-core CI box


def test_files_that_are_not_regular_files_never_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.json"
    loop.symlink_to("loop.json")
    cases = {fifo: "not a regular file", tmp_path: "is a directory", loop: "cannot be read",
             tmp_path / "missing.json": "no such file"}
    for path, needle in cases.items():
        with pytest.raises(TunerError, match=needle):
            safe_json.load_file(path)


def test_size_cap_refuses_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(safe_json.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(TunerError, match="larger than the 256 MiB"):
        safe_json.load_file(huge)
    small = tmp_path / "small.json"
    small.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(TunerError, match="larger than"):
        safe_json.load_file(small, max_bytes=4)
    assert safe_json.load_file(small, what="adapter_config.json") == {"a": 1}


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)


@settings(max_examples=150, deadline=None, database=None)
@given(_json_values)
def test_any_json_document_round_trips(value: object) -> None:
    assert safe_json.loads(json.dumps(value), source="x") == value


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_as_one_line(data: bytes) -> None:
    try:
        safe_json.loads(data, source="x")
    except TunerError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("x: ")
