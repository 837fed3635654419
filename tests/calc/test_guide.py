"""The guide's planning tables, reproduced exactly by the code."""

from __future__ import annotations

from core.calc.guide import GUIDE_CONTEXTS, guide_gpu_selection, guide_logits_table, logits_gb

# The guide, "GPU Selection Based on Context Length".
GUIDE_LOGITS = {"Gemma 3": (2.1, 8.6, 17.2), "Qwen3": (1.2, 5.0, 10.0), "Llama 3": (1.0, 4.2, 8.4)}
GUIDE_GPUS = {
    2048: ("A10G (24GB)", "A10G (24GB)"),
    8192: ("A100 (80GB)", "A10G (24GB)"),
    16384: ("A100 (80GB)", "A100 (80GB)"),
}


def test_logits_table_matches_the_guide() -> None:
    assert GUIDE_CONTEXTS == (2048, 8192, 16384)
    assert {row.model: row.gb for row in guide_logits_table()} == GUIDE_LOGITS


def test_logits_formula_with_real_vocabularies() -> None:
    assert round(logits_gb(262_144, 16384), 1) == 17.2
    assert round(logits_gb(262_208, 16384), 1) == 17.2   # Gemma 3 4B-27B's HF vocab
    assert round(logits_gb(151_936, 16384), 1) == 10.0
    # The guide's Llama row is the 128,000-token BPE vocabulary: the full 128,256 prints 1.1 GB at 2k.
    assert round(logits_gb(128_256, 2048), 1) == 1.1


def test_gpu_selection_matches_the_guide() -> None:
    cells = guide_gpu_selection()
    table = {ctx: tuple(c.label for c in cells if c.context == ctx) for ctx in GUIDE_CONTEXTS}
    assert table == GUIDE_GPUS


def test_gpu_selection_is_computed_not_copied() -> None:
    cells = {(c.context, c.column): c for c in guide_gpu_selection()}
    gemma8k = cells[(8192, "Gemma 3 (262K vocab)")]
    assert gemma8k.worst_model == "gemma-3-12b" and 24 < gemma8k.worst_total_gb < 80
    small2k = cells[(2048, "Qwen3/Llama (128-152K vocab)")]
    assert small2k.worst_total_gb < 24
