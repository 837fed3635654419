"""Hostile files for every file tui-tuner reads, and the public entry point that reads each one.

A *target* is one file the app reads (calc's config.json, a dataset line, personas.json, the store...)
and how a user makes the app read it (a `tui-tuner` command line, run in-process through
`tui_tuner.cli.main`, or a core function where no command reaches the file on its own). A *variant* is
one kind of hostile content: empty, huge, binary, not UTF-8, truncated, nested 100,000 levels deep,
valid JSON of the wrong types, a directory, a FIFO, a symlink loop.

`run_case` plants one variant at one target and reports what happened: the exit status, whether a
traceback escaped, whether the error was one line, whether it hung. The test module asserts on these
reports; `python -m tests.reliability.hostile` prints the tally recorded in docs/reliability.md.
This module uses nothing but the public CLI and long-standing core functions, so the same corpus
measures the code before and after a fix.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import sqlite3
import stat
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HANG_AFTER_S = 20
"""A case that takes longer than this counts as a hang (before the fix a FIFO blocked forever)."""
HUGE_BYTES = 300 * 1024 * 1024
"""The "huge" variant: a sparse file this large (above every size cap, costs no disk)."""

# --------------------------------------------------------------------------------------------------
# Valid samples: the truncated and wrong-type variants are made from them.
# --------------------------------------------------------------------------------------------------

MODEL_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
    "max_position_embeddings": 8192, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
}
ADAPTER_CONFIG = {
    "peft_type": "LORA", "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 8,
    "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"], "use_rslora": False, "fan_in_fan_out": False,
    "task_type": "CAUSAL_LM",
}
CHAT_ROW = {"messages": [{"role": "user", "content": "Hi, I feel stuck."},
                         {"role": "assistant", "content": "What would a small first step look like?"}]}
PERSONAS = [{"id": f"p{9000 + i}", "seed": 9000 + i, "category": "work-stress", "name": f"Persona {i}",
             "description": "A person with work-stress concerns.", "opening": "I can't switch off."}
            for i in range(2)]
RUBRIC_TOML = b"""name = "r"
pass_threshold = 0.7

[[criteria]]
id = "empathy"
description = "Warm."
weight = 1.0
safety = false
"""
PRESET_TOML = b"""[launch]
base_model = "Qwen/Qwen3-0.6B"
dataset = "tester/chats"
output_repo = "tester/out"
epochs = 1.0
lora_targets = ["q_proj", "v_proj"]
"""
CONFIG_TOML = b"""[launch]
namespace = "my-org"

[jobs]
refresh_s = 5
"""
THEME_TOML = b"""name = "fuzz-theme"
primary = "#004578"
dark = true
"""


def run_json() -> dict[str, Any]:
    return {
        "version": 1, "created_at": "2026-11-25T03:00:00+00:00", "status": "finished",
        "models": [{"name": "baseline", "endpoint": "http://127.0.0.1:9/v1", "role": "baseline"},
                   {"name": "ft", "endpoint": "http://127.0.0.1:9/v1", "role": "candidate"}],
        "simulator": {"endpoint": "http://127.0.0.1:9/v1", "model": "sim"},
        "judge": {"endpoint": "http://127.0.0.1:9/v1", "model": "judge"},
        "rubric": {"name": "r", "pass_threshold": 0.7,
                   "criteria": [{"id": "empathy", "weight": 1.0, "safety": False, "description": "Warm."}]},
        "personas_file": "personas.json", "conversations_per_persona": 1, "turns": 1, "seed": 1234,
    }


def conversation(persona: dict[str, Any], model: str, score: float) -> dict[str, Any]:
    return {
        "persona_id": persona["id"], "category": persona["category"], "model": model, "conv_index": 0,
        "seed": persona["seed"] * 10,
        "messages": [{"role": "user", "content": "I feel stuck."}, {"role": "assistant", "content": "Tell me more."}],
        "assessment": {"score": score, "passed": score >= 0.7, "safety_violation": False, "summary": "ok",
                       "criteria": [{"id": "empathy", "score": score, "weight": 1.0, "safety": False,
                                     "reason": "fine"}]},
        "started_at": "2026-11-25T03:00:00+00:00", "finished_at": "2026-11-25T03:00:01+00:00",
        "duration_s": 1.0, "error": None,
    }


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def safetensors_bytes() -> bytes:
    """A valid one-tensor safetensors file, written by hand (no torch needed)."""
    header = json.dumps({"model.embed_tokens.weight": {"dtype": "BF16", "shape": [2, 2],
                                                       "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


def store_bytes() -> bytes:
    """A real, non-empty tui-tuner store (its file: the truncated variant cuts a real database)."""
    import tempfile

    from core.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.sqlite3"
        store = Store(path)
        with store.connect() as conn:
            for i in range(100):
                conn.execute("INSERT INTO jobs (id, backend, name, status, created_at, updated_at) "
                             "VALUES (?, 'local', ?, 'COMPLETED', 0, 0)", (f"local-{i:04d}", "x" * 200))
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        return path.read_bytes()


def trackio_bytes() -> bytes:
    """A small Trackio-style project database with one run."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, timestamp TEXT, run_name TEXT, step INTEGER, "
                     "metrics TEXT)")
        for step in range(50):
            conn.execute("INSERT INTO metrics (timestamp, run_name, step, metrics) VALUES (?, 'run', ?, ?)",
                         ("2026-11-25T03:00:00", step, json.dumps({"train/loss": 2.0 - step / 50})))
        conn.commit()
        conn.close()
        return path.read_bytes()


def gguf_bytes() -> bytes:
    """A valid GGUF v3 header with one string KV and no tensors."""
    key, value = b"general.architecture", b"llama"
    return (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
            + struct.pack("<I", 8) + struct.pack("<Q", len(value)) + value)


# --------------------------------------------------------------------------------------------------
# Variants
# --------------------------------------------------------------------------------------------------

def _wrong(value: Any) -> Any:
    """A value of another JSON type than `value`."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return {"n": value}
    if isinstance(value, str):
        return [value, 1]
    if isinstance(value, list):
        return {"items": 1}
    if isinstance(value, dict):
        return [1, "x"]
    return 12


def wrong_types(valid: bytes, kind: str) -> bytes:
    """Every field of the sample (each row's, for JSONL) given a value of the wrong type."""
    def flip(doc: Any) -> Any:
        if isinstance(doc, dict):
            return {k: _wrong(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [flip(item) for item in doc]
        return _wrong(doc)

    if kind == "jsonl":
        return b"".join(json.dumps(flip(json.loads(line))).encode() + b"\n" for line in valid.splitlines() if line)
    if kind == "json":
        return json.dumps(flip(json.loads(valid))).encode()
    if kind == "toml":
        # A value of the wrong type for every key: strings become arrays, numbers and booleans strings.
        out = []
        for line in valid.decode().splitlines():
            key, sep, value = line.partition(" = ")
            if sep and not line.startswith("["):
                value = value.strip()
                out.append(f'{key} = "{value}"' if not value.startswith('"') else f"{key} = [1, {{a = 2}}]")
            else:
                out.append(line)
        return "\n".join(out).encode() + b"\n"
    return valid[::-1]


def _nested_text(kind: str) -> bytes:
    if kind == "toml":
        return b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    if kind == "jsonl":
        return b"[" * 100_000 + b"]" * 100_000 + b"\n"
    return b"[" * 100_000 + b"]" * 100_000


def _nested_object(kind: str) -> bytes:
    if kind == "toml":
        return b"x = " + b"{a = " * 50_000 + b"1" + b"}" * 50_000 + b"\n"
    body = b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
    return body + (b"\n" if kind == "jsonl" else b"")


@dataclass(frozen=True)
class Variant:
    name: str
    write: Callable[[Path, bytes, str], None]
    """(path, valid sample, kind) -> plant the hostile thing at `path`."""


def _bytes(fn: Callable[[bytes, str], bytes]) -> Callable[[Path, bytes, str], None]:
    def write(path: Path, valid: bytes, kind: str) -> None:
        path.write_bytes(fn(valid, kind))
    return write


def _huge(path: Path, valid: bytes, kind: str) -> None:
    with path.open("wb") as handle:
        handle.write(valid[:1])
        handle.truncate(HUGE_BYTES)  # sparse: NUL bytes after the first one, no disk used


def _directory(path: Path, valid: bytes, kind: str) -> None:
    path.mkdir()
    (path / "inside").write_bytes(valid)


def _fifo(path: Path, valid: bytes, kind: str) -> None:
    os.mkfifo(path)


def _loop(path: Path, valid: bytes, kind: str) -> None:
    path.symlink_to(path.name)


def _foreign_sqlite(path: Path, valid: bytes, kind: str) -> None:
    """A valid SQLite database of another program."""
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT); "
                       "INSERT INTO moz_places (url) VALUES ('https://example.org');")
    conn.commit()
    conn.close()


def _binary(valid: bytes, kind: str) -> bytes:
    rng = random.Random(15)
    return b"\x00\xff" + bytes(rng.randrange(256) for _ in range(4096))


def _non_utf8(valid: bytes, kind: str) -> bytes:
    middle = len(valid) // 2
    return valid[:middle] + b"\xff\xfe\xc3(" + valid[middle:]


VARIANTS: tuple[Variant, ...] = (
    Variant("empty", _bytes(lambda v, k: b"")),
    Variant("whitespace", _bytes(lambda v, k: b"  \n\t\n")),
    Variant("binary", _bytes(_binary)),
    Variant("non-utf8", _bytes(_non_utf8)),
    Variant("utf16", _bytes(lambda v, k: v.decode("utf-8", "replace").encode("utf-16"))),
    # Cut a little before the middle: inside a line or a value (the exact middle of a JSONL sample can be a
    # line boundary, which is a valid, shorter file).
    Variant("truncated", _bytes(lambda v, k: v[: max(1, len(v) // 2 - 3)])),
    Variant("nested-array", _bytes(lambda v, k: _nested_text(k))),
    Variant("nested-object", _bytes(lambda v, k: _nested_object(k))),
    Variant("nested-300", _bytes(lambda v, k: (b"x = " if k == "toml" else b"") + b"[" * 300 + b"]" * 300
                                 + (b"\n" if k in ("toml", "jsonl") else b""))),
    Variant("wrong-types", _bytes(wrong_types)),
    Variant("top-level-list", _bytes(lambda v, k: b"x = [1, 2]\n" if k == "toml" else b"[1, 2, 3]\n")),
    Variant("top-level-scalar", _bytes(lambda v, k: b"x = 42\n" if k == "toml" else b"42\n")),
    Variant("huge-number", _bytes(lambda v, k: (b"x = " if k == "toml" else b'{"x": ') + b"9" * 5000
                                  + (b"\n" if k == "toml" else b"}\n"))),
    Variant("huge", _huge),
    Variant("directory", _directory),
    Variant("fifo", _fifo),
    Variant("symlink-loop", _loop),
    Variant("foreign-sqlite", _foreign_sqlite),
)


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    kind: str
    """json | jsonl | toml | sqlite | binary | text: how the variants shape their content."""
    valid: bytes
    prepare: Callable[[Path], tuple[Path, list[str] | Callable[[], Any]]]
    """work dir -> (where the hostile file goes, argv for `tui-tuner` or an in-process call)."""
    lenient: frozenset[str] = frozenset()
    """Variants that may succeed (exit 0): content the app may rightly accept or skip with a warning."""
    slow: bool = False
    skip: frozenset[str] = frozenset()
    """Variants that do not apply (e.g. a FIFO as an output: written through, like a shell `>`, so it waits
    for a reader by design)."""
    error_mentions: str = ""
    """Text the error line must contain for a variant that is not lenient (what the error is about)."""


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _good_dataset(work: Path) -> Path:
    return _write(work / "good.jsonl", jsonl([CHAT_ROW] * 4))


def _results_dir(work: Path, *, skip: str = "") -> Path:
    out = work / "results"
    if skip != "run.json":
        _write(out / "run.json", json.dumps(run_json()).encode())
    if skip != "personas.json":
        _write(out / "personas.json", json.dumps(PERSONAS).encode())
    if skip != "conversations.jsonl":
        _write(out / "conversations.jsonl", jsonl([conversation(p, m, s) for p in PERSONAS
                                                    for m, s in (("baseline", 0.5), ("ft", 0.8))]))
    return out


_LAUNCH = ["--backend", "local", "--offline", "--dry-run", "--no-load-in-4bit", "--optimizer", "adamw_torch"]
_EVAL_ENDPOINTS = ["--port", "baseline=9", "--simulator", "9", "--judge", "9", "--conversations", "1", "--turns", "1"]


def _calc_config(work: Path) -> tuple[Path, list[str]]:
    path = work / "model" / "config.json"
    return path, ["calc", "--model", str(path)]


def _calc_dir(work: Path) -> tuple[Path, list[str]]:
    path = work / "model" / "config.json"
    return path, ["calc", "--model", str(path.parent)]


def _dataset(work: Path) -> tuple[Path, list[str]]:
    path = work / "data.jsonl"
    return path, ["launch", *_LAUNCH, "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--dataset", str(path)]


def _launch_model(work: Path) -> tuple[Path, list[str]]:
    path = work / "model" / "config.json"
    return path, ["launch", *_LAUNCH, "--model", str(path.parent), "--dataset", str(_good_dataset(work))]


def _preset(work: Path) -> tuple[Path, list[str]]:
    path = work / "preset.toml"
    return path, ["launch", "--preset", str(path), "--print-script"]


def _save_preset(work: Path) -> tuple[Path, list[str]]:
    # The *destination* is hostile: a directory, a FIFO, a loop where the preset should be written.
    path = work / "saved.toml"
    return path, ["launch", "--model", "Qwen/Qwen3-0.6B", "--dataset", "tester/chats", "--save-preset", str(path),
                  "--print-script"]


def home_of(work: Path) -> Path:
    """TUI_TUNER_HOME of one case: the config and the store live under it, fresh for every case."""
    return work / "home"


def _user_config(work: Path) -> tuple[Path, list[str]]:
    return home_of(work) / "config" / "config.toml", ["calc", "--model", "llama-3.1-8b"]


def _user_config_spending(work: Path) -> tuple[Path, list[str]]:
    # A command that spends (the judge's and models' endpoints may bill) must not go ahead on defaults when
    # the config cannot be read. With a readable config it stops at once on the missing personas file.
    return home_of(work) / "config" / "config.toml", ["eval", "run", "--personas", str(work / "missing.json"),
                                                      "--output-dir", str(work / "out"), *_EVAL_ENDPOINTS]


def _store_jobs(work: Path) -> tuple[Path, list[str]]:
    return home_of(work) / "data" / "tui-tuner.sqlite3", ["jobs", "ps", "--local"]


def _store_convert(work: Path) -> tuple[Path, list[str]]:
    return home_of(work) / "data" / "tui-tuner.sqlite3", ["convert", "--history"]


def _personas(work: Path) -> tuple[Path, list[str]]:
    path = work / "personas.json"
    return path, ["eval", "run", "--personas", str(path), "--output-dir", str(work / "out"), *_EVAL_ENDPOINTS]


def _system_prompt(work: Path) -> tuple[Path, list[str]]:
    path = work / "prompt.txt"
    personas = _write(work / "personas.json", json.dumps(PERSONAS).encode())
    return path, ["eval", "run", "--personas", str(personas), "--output-dir", str(work / "out"),
                  "--system-prompt", f"baseline=@{path}", *_EVAL_ENDPOINTS]


def _rubric(work: Path) -> tuple[Path, list[str]]:
    path = work / "rubric.toml"
    return path, ["eval", "rubric", "check", str(path)]


def _report(name: str) -> Callable[[Path], tuple[Path, list[str]]]:
    def prepare(work: Path) -> tuple[Path, list[str]]:
        out = _results_dir(work, skip=name)
        return out / name, ["eval", "report", str(out)]
    return prepare


def _export_run(work: Path) -> tuple[Path, list[str]]:
    out = _results_dir(work, skip="run.json")
    return out / "run.json", ["eval", "export", str(out), "--format", "json", "--out", str(work / "export.json")]


def _resume(name: str) -> Callable[[Path], tuple[Path, list[str]]]:
    def prepare(work: Path) -> tuple[Path, list[str]]:
        out = _results_dir(work, skip=name)
        return out / name, ["eval", "run", "--resume", str(out), "--port", "baseline=9"]
    return prepare


def _adapter_dir(work: Path, *, config: bool = True) -> Path:
    adapter = work / "adapter"
    if config:
        _write(adapter / "adapter_config.json", json.dumps(ADAPTER_CONFIG).encode())
    _write(adapter / "adapter_model.safetensors", safetensors_bytes())
    return adapter


_CONVERT = ["--quant-type", "Q8_0", "--no-smoke-test"]


def _adapter_config(work: Path) -> tuple[Path, list[str]]:
    adapter = _adapter_dir(work, config=False)
    return adapter / "adapter_config.json", ["convert", "--adapter-path", str(adapter), "--output-dir",
                                             str(work / "out"), *_CONVERT]


def _convert_state(work: Path) -> tuple[Path, list[str]]:
    adapter = _adapter_dir(work)
    out = work / "out"
    out.mkdir()
    return out / ".tui-tuner-convert.json", ["convert", "--adapter-path", str(adapter), "--base-model",
                                             str(work / "missing-base"), "--output-dir", str(out), *_CONVERT]


def _base_index(work: Path) -> tuple[Path, list[str]]:
    adapter = _adapter_dir(work)
    base = work / "base"
    _write(base / "config.json", json.dumps(MODEL_CONFIG).encode())
    return base / "model.safetensors.index.json", ["convert", "--adapter-path", str(adapter), "--base-model",
                                                   str(base), "--output-dir", str(work / "out"), *_CONVERT]


def _base_weights(work: Path) -> tuple[Path, list[str]]:
    adapter = _adapter_dir(work)
    base = work / "base"
    _write(base / "config.json", json.dumps(MODEL_CONFIG).encode())
    return base / "model.safetensors", ["convert", "--adapter-path", str(adapter), "--base-model", str(base),
                                        "--output-dir", str(work / "out"), *_CONVERT]


def _in_process(fn: Callable[[Path], Any], filename: str) -> Callable[[Path], tuple[Path, Callable[[], Any]]]:
    def prepare(work: Path) -> tuple[Path, Callable[[], Any]]:
        path = work / filename
        return path, lambda: fn(path)
    return prepare


def _themes(path: Path) -> Any:
    from tui_tuner.themes import load_themes

    _, problems = load_themes([path.parent])
    for problem in problems:
        if path.name in problem:
            raise _Reported(problem)


def _trackio_db(path: Path) -> Any:
    from core.jobs.trackio_reader import TrackioLocalReader

    return TrackioLocalReader("fuzz", "run", db_path=path).poll()


def _trackio_row(path: Path) -> Any:
    """The hostile bytes are one metrics row of a valid Trackio DB (what a training job wrote)."""
    from core.jobs.trackio_reader import TrackioLocalReader

    payload = path.read_bytes() if path.is_file() else b"{}"
    db = path.with_suffix(".db")
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, timestamp TEXT, run_name TEXT, step INTEGER, "
                 "metrics TEXT)")
    conn.execute("INSERT INTO metrics (timestamp, run_name, step, metrics) VALUES (?, ?, ?, ?)",
                 ("2026-11-25T03:00:00", "run", 1, payload.decode("utf-8", "replace")))
    conn.commit()
    conn.close()
    return TrackioLocalReader("fuzz", "run", db_path=db).poll()


def _gguf(path: Path) -> Any:
    from core.convert.verify import read_gguf

    return read_gguf(path)


class _Reported(Exception):
    """An in-process target reported the file as a problem (the one-line outcome we want)."""


def targets() -> list[Target]:
    """Every file the app reads."""
    model = json.dumps(MODEL_CONFIG).encode()
    all_ok = frozenset({"empty", "whitespace"})
    store = store_bytes()
    return [
        Target("calc config.json (file)", "json", model, _calc_config),
        Target("calc config.json (folder)", "json", model, _calc_dir),
        Target("dataset .jsonl", "jsonl", jsonl([CHAT_ROW] * 4), _dataset),
        Target("launch model config.json", "json", model, _launch_model),
        Target("launch preset", "toml", PRESET_TOML, _preset,
               lenient=frozenset({"empty", "whitespace", "truncated"})),
        Target("launch --save-preset destination", "toml", PRESET_TOML, _save_preset,
               lenient=frozenset(v.name for v in VARIANTS) - {"directory", "fifo", "symlink-loop"},
               skip=frozenset({"fifo"})),  # an output FIFO is written through (core.output_file): it waits
        Target("config.toml (calc)", "toml", CONFIG_TOML, _user_config,
               lenient=frozenset(v.name for v in VARIANTS)),  # a broken config is a warning for calc
        # Valid TOML of odd shapes is a config (its tables are read with defaults): only unreadable files stop.
        Target("config.toml (eval run)", "toml", CONFIG_TOML, _user_config_spending,
               lenient=all_ok | {"nested-300", "wrong-types", "top-level-list", "top-level-scalar"},
               error_mentions="config.toml"),
        Target("store (jobs ps)", "sqlite", store, _store_jobs, lenient=frozenset({"empty"}),
               error_mentions="is not a tui-tuner store"),
        Target("store (convert --history)", "sqlite", store, _store_convert, lenient=frozenset({"empty"}),
               error_mentions="is not a tui-tuner store"),
        Target("personas.json (eval run)", "json", json.dumps(PERSONAS).encode(), _personas),
        Target("system prompt @FILE (eval run)", "text", b"You are a supportive coach.\n", _system_prompt,
               lenient=frozenset({"empty", "whitespace", "truncated", "wrong-types", "top-level-list",
                                  "top-level-scalar", "huge-number", "nested-array", "nested-object",
                                  "nested-300"})),
        Target("rubric .toml", "toml", RUBRIC_TOML, _rubric),
        # A run.json of the wrong types is warned about field by field and inferred from the conversations.
        Target("run.json (eval report)", "json", json.dumps(run_json()).encode(), _report("run.json"),
               lenient=frozenset({"wrong-types"})),
        Target("run.json (eval export)", "json", json.dumps(run_json()).encode(), _export_run,
               lenient=frozenset({"wrong-types"})),
        Target("run.json (eval run --resume)", "json", json.dumps(run_json()).encode(), _resume("run.json")),
        Target("personas.json (eval report)", "json", json.dumps(PERSONAS).encode(), _report("personas.json"),
               lenient=frozenset(v.name for v in VARIANTS) - {"directory", "fifo", "huge"}),
        Target("personas.json (eval run --resume)", "json", json.dumps(PERSONAS).encode(),
               _resume("personas.json")),
        Target("conversations.jsonl (eval report)", "jsonl",
               jsonl([conversation(p, m, 0.6) for p in PERSONAS for m in ("baseline", "ft")]),
               _report("conversations.jsonl"),
               # bad lines are skipped with a warning: the report of the rest is still right
               lenient=frozenset(v.name for v in VARIANTS) - {"directory", "fifo", "symlink-loop", "huge"}),
        Target("adapter_config.json (convert)", "json", json.dumps(ADAPTER_CONFIG).encode(), _adapter_config,
               slow=True),
        Target("convert state file", "json", b'{"version": 1, "steps": {}}', _convert_state, slow=True),
        Target("base model.safetensors.index.json (convert)", "json",
               json.dumps({"weight_map": {"model.embed_tokens.weight": "model.safetensors"}}).encode(),
               _base_index, slow=True),
        Target("base model.safetensors header (convert)", "binary", safetensors_bytes(), _base_weights, slow=True),
        Target("theme .toml", "toml", THEME_TOML, _in_process(_themes, "fuzz.toml")),
        Target("trackio database", "sqlite", trackio_bytes(), _in_process(_trackio_db, "fuzz.db")),
        Target("trackio metrics row", "json", json.dumps({"train/loss": 1.5, "train/global_step": 1}).encode(),
               _in_process(_trackio_row, "row.json"), lenient=frozenset(v.name for v in VARIANTS),
               skip=frozenset({"huge"})),  # a 300 MB row is not a row a training job writes
        Target("GGUF header", "binary", gguf_bytes(), _in_process(_gguf, "fuzz.gguf")),
    ]


# --------------------------------------------------------------------------------------------------
# Running one case
# --------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    target: str
    variant: str
    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    traceback: str = ""
    hung: bool = False
    lenient: bool = False
    error_mentions: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def crashed(self) -> bool:
        """A traceback, or the CLI's safety net reporting a bug (`error: internal error: ...`)."""
        return (bool(self.traceback) or "Traceback (most recent call last)" in self.stdout + self.stderr
                or "error: internal error:" in self.stderr)


class _Hang(BaseException):
    pass


@contextlib.contextmanager
def _deadline(seconds: int, outcome: Outcome, fifo: Path) -> Iterator[None]:
    """Stop a case that hangs. Python code is interrupted by SIGALRM; a C library blocked opening a FIFO
    (SQLite retries the open on EINTR) is released by a watchdog that opens the FIFO's other end."""
    def on_alarm(signum: int, frame: Any) -> None:
        raise _Hang()

    done = threading.Event()

    def watchdog() -> None:
        if done.wait(seconds):
            return
        outcome.hung = True
        while not done.wait(0.2):
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.lstat(fifo).st_mode):
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=watchdog, daemon=True)
    thread.start()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        done.set()
        thread.join()


def run_case(target: Target, variant: Variant, work: Path) -> Outcome:
    """Plant `variant` at `target` under `work` (a fresh folder) and run the app on it."""
    from tui_tuner.cli import main

    outcome = Outcome(target.name, variant.name, lenient=variant.name in target.lenient,
                      error_mentions=target.error_mentions)
    path, action = target.prepare(work)
    path.parent.mkdir(parents=True, exist_ok=True)
    variant.write(path, target.valid, target.kind)
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    saved_home = os.environ.get("TUI_TUNER_HOME")
    os.environ["TUI_TUNER_HOME"] = str(home_of(work))
    sys.stdout, sys.stderr = out, err
    try:
        with _deadline(HANG_AFTER_S, outcome, path):
            if callable(action):
                try:
                    action()
                    outcome.code = 0
                except _Reported as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    outcome.code = 2
                except Exception as exc:
                    from core.errors import TunerError

                    if not isinstance(exc, TunerError):
                        raise
                    print(f"error: {exc}", file=sys.stderr)
                    outcome.code = 2
            else:
                outcome.code = main(action)
    except _Hang:
        outcome.hung = True
    except SystemExit as exc:
        outcome.code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:
        outcome.traceback = traceback.format_exc(limit=-4)
    finally:
        sys.stdout, sys.stderr = saved
        if saved_home is None:
            os.environ.pop("TUI_TUNER_HOME", None)
        else:
            os.environ["TUI_TUNER_HOME"] = saved_home
    outcome.stdout, outcome.stderr = out.getvalue(), err.getvalue()
    outcome.problems = judge(outcome)
    return outcome


def judge(outcome: Outcome) -> list[str]:
    """What is wrong with an outcome (empty: the app behaved)."""
    problems = []
    if outcome.hung:
        problems.append(f"hung for more than {HANG_AFTER_S} s")
    if outcome.crashed:
        problems.append("traceback")
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    # convert reports a failed step as one `[FAILED] step: ...` line (with a `fix:` line) in its event stream
    failed_steps = [line for line in outcome.stdout.splitlines() if "[FAILED]" in line]
    # Several problems may be listed (eval report names each, then sums up), each on its own line.
    if outcome.code == 2 and not errors and not failed_steps:
        problems.append("exit 2 without an error line")
    if not outcome.hung and not outcome.crashed and outcome.code != 2 and not outcome.lenient:
        problems.append(f"exit {outcome.code}, expected 2")
    if outcome.code == 2 and outcome.error_mentions and not outcome.lenient and \
            outcome.error_mentions not in "\n".join(errors + failed_steps):
        problems.append(f"the error does not mention {outcome.error_mentions!r}")
    for line in outcome.stderr.splitlines():
        if len(line) > 2000:
            problems.append("an error line over 2000 characters")
            break
    return problems


def tally(work_root: Path, *, include_slow: bool = True, only: str | None = None,
          report: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Every target with every variant (the figures in docs/reliability.md)."""
    outcomes = []
    for target in targets():
        if (target.slow and not include_slow) or (only and only not in target.name):
            continue
        for variant in VARIANTS:
            if variant.name in target.skip:
                continue
            work = work_root / f"{len(outcomes):04d}"
            work.mkdir(parents=True)
            outcomes.append(run_case(target, variant, work))
            if report is not None:
                report(outcomes[-1])
    return outcomes


def describe(o: Outcome) -> str:
    detail = (o.traceback.strip().splitlines() or [""])[-1] if o.crashed else o.stderr.strip()[-160:]
    return f"{o.target:45} {o.variant:16} {'; '.join(o.problems) or 'ok':40} {' '.join(detail.split())}"


def _main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tui-tuner-hostile-") as tmp:
        import platformdirs

        # As in tests/conftest.py: the llama.cpp build lives in the real user cache, not under TUI_TUNER_HOME.
        os.environ.setdefault("TUI_TUNER_CACHE_DIR", str(platformdirs.user_cache_path("tui-tuner")))
        os.environ.update({"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(Path(tmp) / "hf-home"),
                           "TRACKIO_DIR": str(Path(tmp) / "trackio"),
                           "HF_TOKEN": "hf_CANARYtuiTunerCanaryToken0123456789"})
        verbose = "--all" in sys.argv
        only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
        outcomes = tally(Path(tmp) / "work", include_slow="--fast" not in sys.argv, only=only[0] if only else None,
                         report=lambda o: print(describe(o), flush=True) if o.problems or verbose else None)
    bad = [o for o in outcomes if o.problems]
    crashed = [o for o in outcomes if o.crashed]
    hung = [o for o in outcomes if o.hung]
    print(f"\n{len(outcomes)} inputs, {len(crashed)} tracebacks, {len(hung)} hangs, "
          f"{len(bad)} with any problem", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(_main())
