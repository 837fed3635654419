"""Shared helpers for the convert benchmarks: test models, adapters, and the results file."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

RESULTS = ROOT / "docs" / "benchmarks" / "convert.md"
HEADER = "# Convert benchmarks\n\nWritten by `benchmarks/convert_*.py`; each script rewrites its own section.\n"


def bench_dir() -> Path:
    from core import paths

    path = paths.cache_dir() / "bench-convert"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sharded_smollm2(shard: str = "70MB") -> Path:
    """SmolLM2-135M-Instruct (the tests' model) re-saved in ≥4 shards."""
    import torch
    from tests.support.smollm2 import smollm2_hf_dir
    from transformers import AutoModelForCausalLM

    out = bench_dir() / "smollm2-sharded"
    if (out / "model.safetensors.index.json").is_file():
        return out
    src = smollm2_hf_dir()
    AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16).save_pretrained(out, max_shard_size=shard)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy2(src / name, out / name)
    return out


def synthetic_llama(params_b: float = 1.0, shard: str = "250MB") -> Path:
    """A randomly initialised Llama of about `params_b` billion parameters, bf16, in many shards."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    out = bench_dir() / f"llama-{params_b:g}b-random"
    if (out / "model.safetensors.index.json").is_file():
        return out
    config = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=16 if params_b <= 1 else 24,
                         num_attention_heads=16, num_key_value_heads=4, vocab_size=32000,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out, max_shard_size=shard)
    return out


def adapter_for(base: Path, name: str = "adapter") -> Path:
    from tests.convert.conftest import make_adapter

    out = base.parent / f"{base.name}-{name}"
    if (out / "adapter_model.safetensors").is_file():
        return out
    return make_adapter(base, out)


def write_section(key: str, body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else HEADER
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
