"""Resume trusts contents, not names: a changed adapter is merged again, a damaged output is made again,
and whatever was made again is verified again."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from core.convert.events import LogLine, StepFinished
from core.convert.fingerprint import output_problem, safetensors_folder_problem
from core.convert.pipeline import STATE_FILE, ConvertSpec
from core.store import Store
from tests.convert.conftest import RunResult, light_copy, needs_llama_cpp, run_pipeline

pytestmark = [needs_llama_cpp]


def _ran(events: list) -> list[str]:
    return [e.step for e in events if isinstance(e, StepFinished) and not e.skipped]


def _spec(out: Path, base: Path, adapter: Path, **kw: object) -> ConvertSpec:
    return ConvertSpec(output_dir=out, base_model=str(base), adapter=str(adapter), quant_types=("Q4_K_M",),
                       merge_method="low-ram", model_name="smol-coach", **kw)  # type: ignore[arg-type]


def _redo_lines(events: list) -> dict[str, str]:
    return {e.step: e.text for e in events if isinstance(e, LogLine) and e.text.startswith("done before, running")}


@pytest.mark.slow
def test_changed_adapter_weights_redo_merge_and_everything_after(full_run: RunResult, sharded_base: Path,
                                                                 lora_adapter: Path, tmp_path: Path) -> None:
    out = light_copy(full_run.output_dir, tmp_path / "out")
    adapter = tmp_path / "adapter"
    shutil.copytree(lora_adapter, adapter)  # copy2: same bytes, same mtimes
    store = Store(tmp_path / "s.sqlite3")
    events, _ = run_pipeline(_spec(out, sharded_base, adapter, smoke_test=True), store)
    assert _ran(events) == ["preflight", "download"]  # an identical adapter elsewhere: nothing else to do

    weights = adapter / "adapter_model.safetensors"
    stat = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-64:] = bytes(64)  # change the last tensor's values in place: same size...
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ...and the same date (cp -p, rsync -t)
    before = hashlib.sha256((out / "smol-coach-Q4_K_M.gguf").resolve().read_bytes()).hexdigest()

    events, run = run_pipeline(_spec(out, sharded_base, adapter, smoke_test=False), store)
    # Same size, same date: only the weights' SHA-256 tells, and everything from the merge on is redone.
    assert _ran(events) == ["preflight", "merge", "convert", "quantize:Q4_K_M", "verify"]
    assert "inputs changed" in _redo_lines(events)["merge"]
    assert run.status == "completed"
    after = hashlib.sha256((out / "smol-coach-Q4_K_M.gguf").read_bytes()).hexdigest()
    assert after != before  # a new GGUF, not the stale one

    events, _ = run_pipeline(_spec(out, sharded_base, adapter, smoke_test=False), store)
    assert _ran(events) == ["preflight"]  # and now it resumes again


@pytest.mark.slow
def test_truncated_quant_is_made_again_and_verified_again(full_run: RunResult, sharded_base: Path,
                                                          lora_adapter: Path, tmp_path: Path) -> None:
    out = light_copy(full_run.output_dir, tmp_path / "out")
    quant = out / "smol-coach-Q4_K_M.gguf"
    full = quant.resolve().read_bytes()
    quant.unlink()
    quant.write_bytes(full[:1_000_000])  # a copy cut at 1 MB (a full disk, a killed cp)
    assert output_problem(quant, None) is not None  # even without a recorded size the header check sees it
    events, run = run_pipeline(_spec(out, sharded_base, lora_adapter), Store(tmp_path / "s.sqlite3"))
    assert _ran(events) == ["preflight", "quantize:Q4_K_M", "verify"]
    redo = _redo_lines(events)
    assert "smol-coach-Q4_K_M.gguf" in redo["quantize:Q4_K_M"] and "verify" in redo
    assert run.status == "completed" and run.smoke.ok
    assert quant.stat().st_size == len(full) and not quant.is_symlink()


@pytest.mark.slow
def test_truncated_bf16_redoes_convert_and_quant(full_run: RunResult, sharded_base: Path, lora_adapter: Path,
                                                 tmp_path: Path) -> None:
    out = light_copy(full_run.output_dir, tmp_path / "out")
    bf16 = out / "smol-coach-BF16.gguf"
    data = bf16.resolve().read_bytes()
    bf16.unlink()
    bf16.write_bytes(data[: len(data) // 2])
    # An older state file (version 1) recorded no output sizes: the header/size check alone must catch it.
    state = json.loads((out / STATE_FILE).read_text())
    for entry in state["steps"].values():
        entry.pop("output_sigs", None)
    (out / STATE_FILE).write_text(json.dumps(state))
    events, run = run_pipeline(_spec(out, sharded_base, lora_adapter, smoke_test=False),
                               Store(tmp_path / "s.sqlite3"))
    assert _ran(events) == ["preflight", "convert", "quantize:Q4_K_M", "verify"]
    assert "truncated" in _redo_lines(events)["convert"]
    assert run.status == "completed"


@pytest.mark.slow
def test_merged_shard_check(full_run: RunResult, tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    shutil.copytree(full_run.output_dir / "merged", merged)
    assert safetensors_folder_problem(merged) is None
    shard = sorted(merged.glob("model-*.safetensors"))[1]
    with open(shard, "r+b") as f:
        f.truncate(shard.stat().st_size - 10)
    assert "truncated" in (safetensors_folder_problem(merged) or "")
    shard.unlink()
    assert "not a readable safetensors" in (safetensors_folder_problem(merged) or "")
