"""Fuzz suite: every file tui-tuner reads, fed hostile content through the public CLI.

Two halves:

* A corpus (tests/reliability/hostile.py): for each file the app reads (calc's config.json, a dataset,
  personas.json, run.json, conversations.jsonl, adapter_config.json, config.toml, presets, rubrics, themes,
  the store, a Trackio DB and its rows, a GGUF header, the converter's state, shard index and safetensors
  header, a system prompt file) every kind of hostile content (empty, huge, binary, not UTF-8, UTF-16,
  truncated, nested 100,000 deep, wrong types, a directory, a FIFO, a symlink loop, another program's
  SQLite). Each case must end without a traceback or a hang, with exit 2 and an error line (content the
  app may rightly accept or skip with a warning is marked per target).
* Properties (hypothesis): documents shaped like the real ones with any JSON value in any field go through
  the readers in-process; the only failure allowed is a one-line TunerError.

`python -m tests.reliability.hostile` prints the corpus tally recorded in docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import TunerError
from tests.reliability import hostile

_TARGETS = hostile.targets()


def _cases() -> list[Any]:
    cases = []
    for target in _TARGETS:
        for variant in hostile.VARIANTS:
            if variant.name in target.skip:
                continue
            marks = [pytest.mark.slow] if target.slow else []
            cases.append(pytest.param(target, variant, id=f"{target.name}|{variant.name}", marks=marks))
    return cases


@pytest.mark.parametrize(("target", "variant"), _cases())
def test_hostile_file(target: hostile.Target, variant: hostile.Variant, tmp_path: Path) -> None:
    outcome = hostile.run_case(target, variant, tmp_path)
    assert not outcome.problems, hostile.describe(outcome) + "\n" + (outcome.traceback or outcome.stderr[-2000:])


def test_the_corpus_covers_every_file_kind() -> None:
    names = " ".join(t.name for t in _TARGETS)
    for needle in ("calc config.json", "dataset", "personas.json", "run.json", "conversations.jsonl",
                   "adapter_config.json", "config.toml", "preset", "rubric", "theme", "store", "trackio",
                   "GGUF", "state file", "safetensors"):
        assert needle in names, needle
    assert len(hostile.VARIANTS) >= 15


# ------------------------------------------------------------------------------------------------
# Properties: real shapes, any value anywhere
# ------------------------------------------------------------------------------------------------

_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | \
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) |
                       st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


def like(sample: Any) -> st.SearchStrategy[Any]:
    """Documents shaped like `sample`: each field kept, dropped, or given any JSON value (recursively for
    objects and lists), plus, now and then, any JSON value at all."""
    if isinstance(sample, dict):
        shaped = st.fixed_dictionaries({}, optional={k: like(v) | _values for k, v in sample.items()})
    elif isinstance(sample, list) and sample:
        shaped = st.lists(like(sample[0]) | _values, max_size=3)
    else:
        shaped = st.just(sample) | _values
    return shaped | _values


def _json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


# database=None: no .hypothesis folder in the working tree; every run draws new examples (CI included).
_FUZZ = settings(max_examples=120, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _one_line(exc: TunerError) -> None:
    assert "\n" not in str(exc)


@_FUZZ
@given(like(hostile.PERSONAS))
def test_personas_any_shape(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    from core.eval.personas import load_personas

    path = tmp_path_factory.mktemp("p") / "personas.json"
    path.write_text(_json_text(doc), encoding="utf-8")
    try:
        load_personas(path)
    except TunerError as exc:
        _one_line(exc)


@_FUZZ
@given(like(hostile.run_json()), like(hostile.PERSONAS),
       st.lists(like(hostile.conversation(hostile.PERSONAS[0], "ft", 0.7)), max_size=3))
def test_results_directory_any_shape(tmp_path_factory: pytest.TempPathFactory, run: Any, personas: Any,
                                     conversations: list[Any]) -> None:
    """The report's reader never raises: every bad field or line is a listed problem."""
    from core.eval.results import load_results

    out = tmp_path_factory.mktemp("r")
    (out / "run.json").write_text(_json_text(run), encoding="utf-8")
    (out / "personas.json").write_text(_json_text(personas), encoding="utf-8")
    good = [hostile.conversation(p, m, 0.6) for p in hostile.PERSONAS for m in ("baseline", "ft")]
    (out / "conversations.jsonl").write_text("".join(_json_text(c) + "\n" for c in [*good, *conversations]),
                                             encoding="utf-8")
    results = load_results(out)
    assert all("\n" not in p.message for p in results.problems)


@_FUZZ
@given(like(hostile.ADAPTER_CONFIG))
def test_adapter_config_any_shape(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    from core.convert.merge import read_adapter

    folder = tmp_path_factory.mktemp("a")
    (folder / "adapter_config.json").write_text(_json_text(doc), encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(hostile.safetensors_bytes())
    try:
        info = read_adapter(folder)
    except TunerError as exc:
        _one_line(exc)
        return
    for module in ("model.layers.0.self_attn.q_proj", "q_proj"):
        try:
            info.scaling(module)
        except TunerError as exc:
            _one_line(exc)


@_FUZZ
@given(like(hostile.MODEL_CONFIG))
def test_model_config_any_shape(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    """calc --model path/config.json: the estimate or one line."""
    from core.calc.resolve import architecture_from_path

    path = tmp_path_factory.mktemp("m") / "config.json"
    path.write_text(_json_text(doc), encoding="utf-8")
    try:
        architecture_from_path(path, counting="config")
    except TunerError as exc:
        _one_line(exc)


@_FUZZ
@given(st.dictionaries(st.sampled_from(["base_model", "dataset", "output_repo", "epochs", "max_steps", "lora_r",
                                        "lora_targets", "learning_rate", "private", "timeout", "run_name",
                                        "trackio_space", "namespace", "backend", "flavor", "seed"]),
                       _values, max_size=6))
def test_preset_any_values(doc: dict[str, Any]) -> None:
    """A preset's table: a one-line error per bad field, else a config that validates and renders."""
    import ast

    from core.launch.config import LaunchConfig
    from core.launch.script import render_script

    try:
        config = LaunchConfig.from_dict(doc, source="preset.toml")
    except TunerError as exc:
        _one_line(exc)
        return
    errors = config.validate()
    assert all("\n" not in e.one_line() for e in errors)
    if not errors:
        ast.parse(render_script(config).text)


@_FUZZ
@given(like({"name": "r", "pass_threshold": 0.7, "context": "c",
             "criteria": [{"id": "empathy", "description": "Warm.", "weight": 1.0, "safety": False}]}))
def test_rubric_any_shape(doc: Any) -> None:
    from core.eval.rubric import rubric_from_dict

    try:
        rubric_from_dict(doc, source="rubric.toml")  # type: ignore[arg-type]
    except TunerError as exc:
        _one_line(exc)


@_FUZZ
@given(like(hostile.CHAT_ROW))
def test_dataset_row_any_shape(row: Any) -> None:
    from core.launch.dataset import check_row

    try:
        check_row(row, "data.jsonl line 1")
    except TunerError as exc:
        _one_line(exc)


@_FUZZ
@given(st.binary(max_size=400))
def test_gguf_header_any_bytes(tmp_path_factory: pytest.TempPathFactory, tail: bytes) -> None:
    """A GGUF's real start, then anything: a report with problems, or one line."""
    from core.convert.verify import read_gguf

    path = tmp_path_factory.mktemp("g") / "x.gguf"
    path.write_bytes(hostile.gguf_bytes()[:24] + tail)
    try:
        read_gguf(path)
    except TunerError as exc:
        _one_line(exc)


@_FUZZ
@given(st.binary(max_size=400))
def test_safetensors_header_any_bytes(tmp_path_factory: pytest.TempPathFactory, header: bytes) -> None:
    import struct

    from core.convert.safetensors_stream import read_header

    path = tmp_path_factory.mktemp("s") / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    try:
        read_header(path)
    except TunerError as exc:
        _one_line(exc)
