"""Convert-area fixtures: a ≥4-shard SmolLM2 copy, a LoRA adapter made here with peft, and one full
pipeline run shared by the end-to-end tests (the machine has 2 cores: build everything once per session).
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.llama_cpp import locate_llama_cpp
from tests.conftest import CANARY_TOKEN

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def llama_cpp_ready() -> bool:
    inst = locate_llama_cpp()
    return inst.can_convert and inst.quantize_bin is not None and inst.server_bin is not None


needs_llama_cpp = pytest.mark.skipif(not llama_cpp_ready(), reason="llama.cpp not built (tui-tuner llama-cpp install)")


@pytest.fixture(scope="session")
def sharded_base(smollm2_hf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct re-saved in ≥4 safetensors shards (bf16), with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("convert") / "smollm2-sharded"
    model = AutoModelForCausalLM.from_pretrained(smollm2_hf, dtype=torch.bfloat16)
    model.save_pretrained(out, max_shard_size="70MB")
    for name in TOKENIZER_FILES:
        if (smollm2_hf / name).is_file():
            shutil.copy2(smollm2_hf / name, out / name)
    assert len(list(out.glob("model-*.safetensors"))) >= 4
    return out


def make_adapter(base: Path, out: Path, *, seed: int = 0, targets: tuple[str, ...] = ("q_proj", "v_proj", "o_proj",
                 "up_proj"), r: int = 8, alpha: int = 16, use_rslora: bool = False) -> Path:
    """A PEFT LoRA adapter on `base` with random non-zero B, so merging really changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=list(targets), task_type="CAUSAL_LM",
                        use_rslora=use_rslora)
    peft_model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.02)
    peft_model.save_pretrained(out)
    for name in TOKENIZER_FILES:  # trainers save the tokenizer next to the adapter
        if (base / name).is_file():
            shutil.copy2(base / name, out / name)
    return out


@pytest.fixture(scope="session")
def lora_adapter(sharded_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_adapter(sharded_base, tmp_path_factory.mktemp("convert") / "smol-coach" / "adapter")


@dataclass
class RunResult:
    output_dir: Path
    events: list[Any]
    run: Any
    store: Any
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run_pipeline(spec: Any, store: Any = None) -> tuple[list[Any], Any]:
    from core.convert.pipeline import ConversionRun

    run = ConversionRun(spec, store=store)

    async def consume() -> list[Any]:
        return [event async for event in run.events()]

    return asyncio.run(consume()), run


@pytest.fixture(scope="session")
def full_run(sharded_base: Path, lora_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """merge (low-RAM) → bf16 GGUF → Q4_K_M → GGUFReader checks → llama-server chat, once per session."""
    import time

    from core.convert.pipeline import ConvertSpec
    from core.store import Store

    if not llama_cpp_ready():
        pytest.skip("llama.cpp not built")
    root = tmp_path_factory.mktemp("convert-run")
    store = Store(root / "store.sqlite3")
    spec = ConvertSpec(output_dir=root / "out", base_model=str(sharded_base), adapter=str(lora_adapter),
                       quant_types=("Q4_K_M",), merge_method="low-ram", model_name="smol-coach")
    with pytest.MonkeyPatch.context() as mp:  # session scope: plant the canary and loopback-only Hub here too
        mp.setenv("HF_TOKEN", CANARY_TOKEN)
        mp.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
        mp.setenv("TUI_TUNER_HOME", str(root / "home"))
        started = time.monotonic()
        events, run = run_pipeline(spec, store)
    return RunResult(root / "out", events, run, store, time.monotonic() - started)


def light_copy(src: Path, dst: Path) -> Path:
    """Copy an output folder, symlinking big files (models are read-only in the tests that use this)."""
    import os

    def copy(a: str, b: str) -> None:
        if os.path.getsize(a) > 10_000_000:
            os.symlink(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=copy)
    return dst
