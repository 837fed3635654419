"""Physical constants of the estimator, with where each value comes from.

Calibrated ones were fitted on the development set (`../shared/data/memory-points-dev.csv`) by
`benchmarks/calc_accuracy.py --fit`; the figures it reports are in docs/benchmarks/calc.md. Nothing here
is a per-row correction: each constant is one number with a physical meaning.
"""

from __future__ import annotations

MiB = 1024**2
GiB = 1024**3
GB = 1e9

# ---- logits and cross-entropy (bytes per token × vocab alive at the loss peak) -------------------
LOGITS_FP32_BYTES = 4.0
"""One fp32 copy of the logits: the guide's `vocab × length × 4 bytes` term."""
CE_PEAK_BYTES_HF = 12.0
"""transformers `ForCausalLMLoss` (`logits.float()` + `cross_entropy`): at the CE backward the saved
fp32 log-softmax, its incoming gradient and the outgoing fp32 gradient are alive (3 × 4 B); the forward
peak (bf16 logits 2 + fp32 upcast 4 + log-softmax 4 = 10 B) is lower. Cross-checked against the CCE
paper (24 GB for 8,192 tokens × 256k vocab = 11.4 B) and Liger's torch-CE benchmark (4 B input + 16 B)."""
CE_PEAK_BYTES_BF16 = 4.0
"""LitGPT-style: bf16 logits kept for every token (2 B) plus their bf16 gradient (2 B), CE per chunk."""
CE_CHUNK_TOKENS = 1024
"""Fused / chunked loss (TRL fused LM head, Liger FLCE, CCE): only one chunk of logits exists at a time."""

# ---- activations -------------------------------------------------------------------------------
ACTIVATION_SCALE = 1.0
"""Multiplier on the derived per-layer saved-activation bytes (memory-estimation.md §2.6): covers
temporaries the derivation leaves out. Fitted on the dev set; 1.0 means the derivation is used as is."""
RECOMPUTE_GRAD_FRACTION = 0.5
"""With gradient checkpointing, backward recomputes one layer and holds its gradients too: the peak of
that phase is one layer's activations × (1 + this)."""
FLASH_LSE_BYTES_PER_HEAD = 4
"""SDPA / FlashAttention keep an fp32 log-sum-exp per token and head."""

# ---- allocator and process -----------------------------------------------------------------------
FRAGMENTATION = 0.10
"""Caching-allocator overhead: reserved ≈ allocated × (1 + this) at the peak. Fitted on the PEFT rows
(the only dev rows that report reserved memory)."""
CUDA_CONTEXT_BYTES = 512 * MiB
"""CUDA context + cuBLAS/cuDNN handles: outside torch's counters, so no dev row measures it. Peers use
650 MB (gpu_poor) to 1,000 MiB (vram-calculator); benchmarks/calc_calibrate_gpu.py measures it."""
INFERENCE_RUNTIME_BYTES = 40 * MiB
"""HF generate's small buffers beyond weights + KV cache (last-position logits, RoPE tables, sampling):
the dev Qwen3 BF16 rows sit +34…+48 MiB above weights + KV."""
DEQUANT_BUFFERS = 2
"""4-bit matmuls dequantise the weight to bf16 for each call; two of the largest matrix are alive at once
(forward of one layer + backward of the other, or the grad_input buffer)."""
