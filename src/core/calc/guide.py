"""The training guide's two planning tables, computed (not copied) so tests can assert them.

1. Logits table: `memory = vocab_size × sequence_length × 4 bytes` in decimal GB, one decimal, at
   2k/8k/16k (= 2048/8192/16384 tokens). The guide's vocab column is nominal ("262K", "152K", "128K"):
   Gemma 3 262,144 and Qwen3 151,936 reproduce it; the Llama 3 row matches 128,000 (its BPE vocabulary
   without the 256 reserved special tokens) — the full 128,256 would print 1.1 GB at 2k, not 1.0.
   The estimator itself always uses the model's real `vocab_size`.
2. GPU selection: for the guide's own training configuration (its SFT script: QLoRA NF4 + double quant,
   r=64 on q/k/v/o, dropout 0.05, batch 1, grad accum 8, 8-bit AdamW, checkpointing, bf16), the
   cheapest of the guide's two GPUs (A10G 24 GB, A100 80 GB) that fits every model of the column.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.calc.estimate import MemoryInputs, estimate_training
from core.calc.resolve import resolve_architecture
from core.flavors import Flavor, get_flavor

GUIDE_CONTEXTS = (2048, 8192, 16384)
GUIDE_LOGITS_VOCAB = (("Gemma 3", "262K", 262_144), ("Qwen3", "152K", 151_936), ("Llama 3", "128K", 128_000))
GUIDE_GPUS = ("a10g-large", "a100-large")
# Models each GPU-selection column stands for: the guide's Gemma 3 model (12B) and the smaller ones,
# and the Qwen3 / Llama 3 sizes up to ~4B. At 8k the 8B models sit at the A10G's limit: Qwen3-8B needs
# ~26 GB; Llama-3.1-8B ~23 GB with today's transformers loss but ~27 GB with fp32 logits kept
# (transformers ≤4.45), which matches the dev set's HF+FA2 measurement (at most 5,789 tokens in 24 GB).
GUIDE_COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Gemma 3 (262K vocab)", ("gemma-3-1b", "gemma-3-4b", "gemma-3-12b")),
    ("Qwen3/Llama (128-152K vocab)", ("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "llama-3.2-1b", "llama-3.2-3b")),
)


def logits_gb(vocab_size: int, tokens: int) -> float:
    """One fp32 copy of the logits in decimal GB (the guide's formula)."""
    return vocab_size * tokens * 4 / 1e9


@dataclass(frozen=True)
class LogitsRow:
    model: str
    vocab_label: str
    vocab_size: int
    gb: tuple[float, ...]
    """Rounded to one decimal, per GUIDE_CONTEXTS."""


def guide_logits_table() -> list[LogitsRow]:
    return [LogitsRow(model, label, vocab, tuple(round(logits_gb(vocab, n), 1) for n in GUIDE_CONTEXTS))
            for model, label, vocab in GUIDE_LOGITS_VOCAB]


def guide_training_inputs(model: str, max_length: int) -> MemoryInputs:
    """The guide's SFT script configuration for `model` at `max_length`."""
    return MemoryInputs(arch=resolve_architecture(model, allow_hub=False), method="qlora", max_length=max_length,
                        batch_size=1, gradient_accumulation=8, lora_r=64,
                        lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"), optimizer="adamw_8bit",
                        gradient_checkpointing=True, dtype="bf16", lora_dropout=0.05, quant="nf4-dq")


def gpu_label(flavor: Flavor) -> str:
    return f"{flavor.gpu_name} ({flavor.gpu_memory_gb:g}GB)"


@dataclass(frozen=True)
class GpuSelectionCell:
    context: int
    column: str
    flavor: Flavor | None
    worst_model: str
    worst_total_gb: float

    @property
    def label(self) -> str:
        return gpu_label(self.flavor) if self.flavor else "none of the guide's GPUs"


def guide_gpu_selection() -> list[GpuSelectionCell]:
    """Cells of the guide's GPU-selection table, row by row (context), column by column."""
    gpus = [f for f in (get_flavor(name) for name in GUIDE_GPUS) if f is not None]
    cells: list[GpuSelectionCell] = []
    for context in GUIDE_CONTEXTS:
        for column, models in GUIDE_COLUMNS:
            estimates = [(m, estimate_training(guide_training_inputs(m, context))) for m in models]
            worst_model, worst = max(estimates, key=lambda pair: pair[1].total_bytes)
            chosen = next((g for g in gpus if all(e.fits(g) for _, e in estimates)), None)
            cells.append(GpuSelectionCell(context, column, chosen, worst_model, worst.total_gb))
    return cells
