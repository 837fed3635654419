"""End to end on SmolLM2-135M-Instruct + a LoRA made in the tests: merge → bf16 GGUF → Q4_K_M →
GGUFReader checks → llama-server answers a chat request; resume, cancel, failures with the tool's line."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from core.convert.events import LogLine, PipelineFinished, Progress, StepFailed, StepFinished, StepStarted
from core.convert.pipeline import STATE_FILE, ConversionRun, ConvertSpec
from core.convert.records import get_record
from core.convert.verify import read_gguf
from core.store import Store
from tests.conftest import assert_no_canary
from tests.convert.conftest import RunResult, light_copy, needs_llama_cpp, run_pipeline

pytestmark = [needs_llama_cpp]


def _steps(events: list, kind: type) -> list[str]:
    return [e.step for e in events if isinstance(e, kind)]


@pytest.mark.slow
def test_full_pipeline_produces_a_working_gguf(full_run: RunResult) -> None:
    events, out = full_run.events, full_run.output_dir
    plan = ["preflight", "download", "merge", "convert", "quantize:Q4_K_M", "verify"]
    assert _steps(events, StepStarted) == plan
    assert _steps(events, StepFinished) == plan and not _steps(events, StepFailed)
    final = events[-1]
    assert isinstance(final, PipelineFinished) and final.status == "completed"
    # streamed: per-tensor progress, the Writing bar in bytes, quantize [i/n]
    conv = [e for e in events if isinstance(e, Progress) and e.step == "convert"]
    assert any(e.unit == "tensors" and "→ BF16" in e.label for e in conv)
    assert any(e.label == "Writing" and e.fraction == 1.0 for e in conv)
    quant = [e for e in events if isinstance(e, Progress) and e.step == "quantize:Q4_K_M"]
    assert quant[-1].done == quant[-1].total == 272
    assert any(isinstance(e, LogLine) and e.text.startswith("$ ") and "convert_hf_to_gguf.py" in e.text
               and "PYTHONPATH=" in e.text for e in events)
    # outputs: finished names only, nothing half-written
    assert sorted(p.name for p in out.glob("*.gguf")) == ["smol-coach-BF16.gguf", "smol-coach-Q4_K_M.gguf"]
    assert not list(out.glob("*.part")) and not (out / "merged.part").exists()
    merge = next(e for e in events if isinstance(e, StepFinished) and e.step == "merge")
    assert merge.details["method"] == "low-ram" and merge.details["shards"] >= 4
    # the reader checks
    q = read_gguf(out / "smol-coach-Q4_K_M.gguf", "Q4_K_M")
    assert (q.architecture, q.file_type, q.tensor_count) == ("llama", "MOSTLY_Q4_K_M", 272)
    assert q.has_chat_template and q.problems == [] and q.name == "smol-coach"
    assert read_gguf(out / "smol-coach-BF16.gguf", "bf16").file_type == "MOSTLY_BF16"
    # llama-server answered a chat completion
    smoke = full_run.run.smoke
    assert smoke.ok and smoke.reply.strip() and smoke.finish_reason in {"stop", "length"}
    # recorded in the store
    record = get_record(full_run.store, full_run.run.run_id)
    assert record is not None and record.status == "completed"
    assert record.steps["merge"]["status"] == "done" and record.extra["smoke_test"]["ok"]
    assert record.extra["llama_cpp"]["commit"]
    text = "\n".join(getattr(e, "text", "") for e in events)
    assert_no_canary(text, (out / STATE_FILE).read_bytes(), full_run.store.path.read_bytes())


@pytest.mark.slow
def test_rerun_resumes_in_a_moved_folder_and_adds_a_quant(full_run: RunResult, tmp_path: Path,
                                                          sharded_base: Path, lora_adapter: Path) -> None:
    moved = tmp_path / "moved"
    light_copy(full_run.output_dir, moved)
    spec = ConvertSpec(output_dir=moved, base_model=str(sharded_base), adapter=str(lora_adapter),
                       quant_types=("Q4_K_M",), merge_method="low-ram", model_name="smol-coach")
    events, _ = run_pipeline(spec, Store(tmp_path / "s.sqlite3"))
    finished = {e.step: e for e in events if isinstance(e, StepFinished)}
    assert all(finished[s].skipped for s in ("download", "merge", "convert", "quantize:Q4_K_M", "verify"))
    spec.quant_types = ("Q4_K_M", "Q8_0")
    spec.smoke_test = False
    events, _ = run_pipeline(spec, Store(tmp_path / "s.sqlite3"))
    ran = [e.step for e in events if isinstance(e, StepFinished) and not e.skipped]
    assert ran == ["preflight", "quantize:Q8_0", "verify"]
    assert read_gguf(moved / "smol-coach-Q8_0.gguf", "Q8_0").file_type == "MOSTLY_Q8_0"


def _merged_copy(full_run: RunResult, dest: Path) -> Path:
    """An output folder with only merged/ in it (for --skip-merge runs)."""
    (dest / "merged").mkdir(parents=True)
    for f in (full_run.output_dir / "merged").iterdir():
        target = dest / "merged" / f.name
        if f.suffix == ".safetensors":
            target.symlink_to(f)  # read-only use: save the copy
        else:
            shutil.copy2(f, target)
    return dest


@pytest.mark.slow
def test_unsupported_architecture_shows_the_converter_line_and_fix(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "arch")
    config = json.loads((out / "merged" / "config.json").read_text())
    config["architectures"] = ["FooBarForCausalLM"]
    (out / "merged" / "config.json").write_text(json.dumps(config))
    events, run = run_pipeline(ConvertSpec(output_dir=out, skip_merge=True, model_name="x"), Store(tmp_path / "s"))
    failed = next(e for e in events if isinstance(e, StepFailed))
    assert failed.step == "convert" and failed.exit_code == 1
    assert failed.error == "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported"
    assert "llama-cpp install" in failed.hint
    assert events[-1].status == "failed" and run.status == "failed"
    assert not list(out.glob("*.gguf*"))  # the partial output was removed


@pytest.mark.slow
def test_missing_tokenizer_shows_the_converter_line_and_fix(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "tok")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (out / "merged" / name).unlink()
    events, _ = run_pipeline(ConvertSpec(output_dir=out, skip_merge=True, model_name="x"), Store(tmp_path / "s"))
    failed = next(e for e in events if isinstance(e, StepFailed))
    assert failed.step == "convert"
    assert "tokenizer" in failed.error and failed.error.startswith("ValueError:")
    assert "tokenizer.json" in failed.hint
    assert not list(out.glob("*.gguf*"))


@pytest.mark.slow
def test_corrupt_adapter_fails_the_merge_with_a_fix(full_run: RunResult, lora_adapter: Path, sharded_base: Path,
                                                    tmp_path: Path) -> None:
    broken = tmp_path / "broken-adapter"
    shutil.copytree(lora_adapter, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"\x07\x00\x00\x00\x00\x00\x00\x00{broken")
    spec = ConvertSpec(output_dir=tmp_path / "out", base_model=str(sharded_base), adapter=str(broken),
                       merge_method="low-ram")
    events, _ = run_pipeline(spec, Store(tmp_path / "s"))
    failed = next(e for e in events if isinstance(e, StepFailed))
    assert failed.step == "merge" and failed.exit_code == 2
    assert "cannot read" in failed.error and "corrupt" in failed.hint
    # the store says where it stopped; a rerun would resume from merge
    state = json.loads((tmp_path / "out" / STATE_FILE).read_text())
    assert state["steps"]["download"]["status"] == "done" and state["steps"]["merge"]["status"] == "failed"


@pytest.mark.slow
def test_cancel_kills_the_tool_and_keeps_finished_outputs(full_run: RunResult, tmp_path: Path) -> None:
    out = _merged_copy(full_run, tmp_path / "cancel")
    store = Store(tmp_path / "s.sqlite3")
    run = ConversionRun(ConvertSpec(output_dir=out, skip_merge=True, model_name="x"), store=store)
    seen: list = []

    async def consume() -> None:
        async for event in run.events():
            seen.append(event)
            if isinstance(event, Progress) and event.step == "convert":
                raise asyncio.CancelledError  # what a cancel key / Ctrl-C does to the worker task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(consume())
    assert run.status == "canceled"
    assert not list(out.glob("*.gguf*"))  # the .part file is gone, nothing looks finished
    assert str(out / "merged") in run.kept
    assert "canceled during convert" in run.cancel_summary() and "merged" in run.cancel_summary()
    record = get_record(store, run.run_id)
    assert record is not None and record.status == "canceled"


def test_bad_options_fail_before_anything_runs(tmp_path: Path) -> None:
    from core.errors import TunerError

    with pytest.raises(TunerError, match="importance matrix"):
        ConvertSpec(output_dir=tmp_path, base_model="b", adapter="a", quant_types=("IQ1_S",)).validate()
    with pytest.raises(TunerError, match="unknown quantization type"):
        ConvertSpec(output_dir=tmp_path, base_model="b", adapter="a", quant_types=("Q4_X",)).validate()
    with pytest.raises(TunerError, match="adapter is required"):
        ConvertSpec(output_dir=tmp_path, base_model="b").validate()
    spec = ConvertSpec(output_dir=tmp_path, adapter="/runs/qwen3-therapeutic/checkpoint-500",
                       quant_types=("q4_k_m, Q5_K_M", "Q4_K_M"))
    assert spec.name == "qwen3-therapeutic"
    assert [q.name for q in spec.quants()] == ["Q4_K_M", "Q5_K_M"]
    assert spec.plan() == ["preflight", "download", "merge", "convert", "quantize:Q4_K_M", "quantize:Q5_K_M",
                           "verify"]


@pytest.mark.slow
def test_no_merge_path_serves_the_adapter_as_a_gguf_lora(sharded_base: Path, lora_adapter: Path,
                                                         tmp_path: Path) -> None:
    spec = ConvertSpec(output_dir=tmp_path / "lora", base_model=str(sharded_base), adapter=str(lora_adapter),
                       mode="lora", model_name="smol")
    events, run = run_pipeline(spec, Store(tmp_path / "s"))
    assert not [e for e in events if isinstance(e, StepFailed)], [e for e in events if isinstance(e, StepFailed)]
    assert _steps(events, StepFinished) == ["preflight", "download", "convert", "lora", "quantize:Q4_K_M", "verify"]
    adapter = read_gguf(tmp_path / "lora" / "smol-LoRA-F16.gguf", expect_adapter=True)
    assert adapter.general_type == "adapter" and adapter.lora_alpha == 16.0 and adapter.problems == []
    assert adapter.tensor_count == 30 * 4 * 2  # lora_a + lora_b per target
    server_cmd = next(e.text for e in events if isinstance(e, LogLine) and "llama-server" in e.text
                      and e.text.startswith("$ "))
    assert "--lora" in server_cmd and "smol-LoRA-F16.gguf" in server_cmd
    assert run.smoke.ok


def test_preflight_names_what_llama_cpp_lacks(sharded_base: Path, lora_adapter: Path, tmp_path: Path) -> None:
    from core.llama_cpp import LlamaCppInstall

    missing = LlamaCppInstall(root=None, source="none",
                              problems=["convert_hf_to_gguf.py not found (run `tui-tuner llama-cpp install`)",
                                        "llama-quantize not found (not built; run `tui-tuner llama-cpp install`)"])
    spec = ConvertSpec(output_dir=tmp_path / "o", base_model=str(sharded_base), adapter=str(lora_adapter))
    run = ConversionRun(spec, llama=missing, store=Store(tmp_path / "s"))

    async def consume() -> list:
        return [e async for e in run.events()]

    events = asyncio.run(consume())
    failed = next(e for e in events if isinstance(e, StepFailed))
    assert failed.step == "preflight"
    assert "convert_hf_to_gguf.py with its gguf-py" in failed.error and "llama-quantize" in failed.error
    assert "llama-server" in failed.error and "tui-tuner llama-cpp install" in failed.hint


def test_disk_preflight_refuses_before_writing(sharded_base: Path, lora_adapter: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import collections

    from core.convert import pipeline

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(pipeline.shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 10**6, 10**6))
    spec = ConvertSpec(output_dir=tmp_path / "o", base_model=str(sharded_base), adapter=str(lora_adapter))
    events, _ = run_pipeline(spec, Store(tmp_path / "s"))
    failed = next(e for e in events if isinstance(e, StepFailed))
    assert failed.step == "preflight" and failed.error.startswith("not enough disk space")
    assert not (tmp_path / "o" / "merged").exists()


def test_smoke_test_reports_the_server_own_error_when_it_cannot_load(tmp_path: Path) -> None:
    from core.convert.logparse import hint_for
    from core.convert.verify import SmokeResult, smoke_test
    from core.llama_cpp import locate_llama_cpp

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)  # a header that promises nothing sane
    result = SmokeResult()

    async def consume() -> list:
        return [e async for e in smoke_test(locate_llama_cpp().server_bin, bad, result, load_timeout=60)]

    events = asyncio.run(consume())
    assert not result.ok and result.error
    assert "load" in result.error.lower()  # llama-server's own line, e.g. "... failed to load model ..."
    assert hint_for(result.error)
    assert any(isinstance(e, LogLine) and e.text.startswith("$ ") for e in events)
