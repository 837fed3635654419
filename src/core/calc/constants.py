"""Physical constants of the estimator, with where each value comes from.

Calibrated ones were fitted on the development set (`benchmarks/data/memory-points-dev.csv`) by
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
CE_PEAK_BYTES = {
    "hf": 12.0,
    "hf-outputs-kept": 14.0,
    "fp32-logits": 16.0,
    "bf16-logits": 6.0,
}
"""Bytes per token × vocab alive at the loss peak, by code path (memory-estimation.md §2.7):

- hf: transformers ≥4.46 `ForCausalLMLoss` under HF Trainer / TRL. The fp32 upcast is freed after the
  forward (log-softmax saves only its output) and Trainer drops `outputs` before backward, so the peak
  is the CE backward: saved fp32 log-softmax + incoming gradient + outgoing gradient = 3 × 4 B. The CCE
  paper's 24 GB for 8,192 tokens × 256k vocab (11.4 B) agrees.
- hf-outputs-kept: the same in a hand-written loop that holds `outputs` (bf16 logits, +2 B) through
  backward, as PEFT's method-comparison benchmark does.
- fp32-logits: the model itself returns fp32 logits that stay alive (transformers ≤4.45, torchtune):
  +4 B. Liger's torch-CE benchmark (fp32 input kept) measures 20 B: this 16 B + an op temporary.
- bf16-logits: bf16 logits and CE (LitGPT-style): fitted on Liger's nn.Linear + bf16 CE slope, 6.1 B.
"""
CE_CHUNK_TOKENS = 1024
"""Chunked loss (TRL fused LM head, torchtune's chunked CE): only one chunk of logits exists at a time."""
TORCHTUNE_OUTPUT_CHUNKS = 8
"""torchtune's `num_output_chunks`: with CEWithChunkedOutputLoss the model returns its logits as 8 bf16 chunks
(all of them, before the loss runs); each chunk is upcast and its CE computed on its own."""
CHUNKED_OUTPUTS_KEPT_BYTES = {True: 2.0, False: 6.0}
"""torchtune chunked-output CE, per token × vocab kept for backward over all chunks. Compiled (torchtune
compiles the loss with the model): the bf16 logits are the compiled CE's saved input, the fp32 upcast and
softmax are recomputed in backward (2 B). Eager: each chunk's fp32 log-softmax output is saved (4 B) while
the list of bf16 logits is still held by the recipe during the loss (2 B)."""
LIGER_CHUNK_BYTES = 10.0
"""Liger fused linear cross-entropy: per token × vocab of its one live chunk (bf16 logits, the fp32 upcast
and the fp32 gradient written in place). With the chunk rule and the hidden-state gradient below, Liger's
own benchmark (H = 4096, V = 128,256; dev rows liger-flce-liger-BT*) is matched within 1 %."""
LIGER_GRAD_INPUT_BYTES = 2.0
"""Fused / cut cross-entropy keep the bf16 gradient of the final hidden states: 2 B × h per token."""

# ---- activations -------------------------------------------------------------------------------
ACTIVATION_SCALE = 1.32
"""Multiplier on the derived per-layer saved-activation bytes (memory-estimation.md §2.6): covers what
the derivation leaves out (RoPE and mask temporaries, SDPA workspace, autograd bookkeeping). Fitted
jointly with FRAGMENTATION on all 16 scored training rows (grid search, `calc_accuracy.py --fit`:
minimise the median |relative error|, then the p90). Without the 5 LitGPT QLoRA rows the fit is 1.24.
Kept after those rows gained the bitsandbytes < 0.43.2 input term: a refit then picks 1.44 with
FRAGMENTATION 0.00 (median 2.2 %, p90 13.4 %), folding the allocator into the activations; the values here
give median 3.4 %, p90 12.2 % and keep a non-zero allocator term."""
RECOMPUTE_GRAD_FRACTION = 0.5
"""With gradient checkpointing, backward recomputes one layer and holds its gradients too: the peak of
that phase is one layer's activations × (1 + this)."""
FLASH_LSE_BYTES_PER_HEAD = 4
"""SDPA / FlashAttention keep an fp32 log-sum-exp per token and head."""

# ---- allocator and process -----------------------------------------------------------------------
FRAGMENTATION = 0.04
"""Caching-allocator overhead at the peak: reserved ≈ allocated × (1 + this). Fitted jointly with
ACTIVATION_SCALE (the PEFT rows are the only ones that report reserved memory; without the LitGPT QLoRA
rows the fit is 0.06)."""
CUDA_CONTEXT_BYTES = 512 * MiB
"""CUDA context + cuBLAS/cuDNN handles: outside torch's counters, so no dev row measures it. Peers use
650 MB (gpu_poor) to 1,000 MiB (vram-calculator); benchmarks/calc_calibrate_gpu.py measures it."""
INFERENCE_RUNTIME_BYTES = 40 * MiB
"""HF generate's small buffers beyond weights + KV cache (last-position logits, RoPE tables, sampling):
the dev Qwen3 BF16 rows sit +34…+48 MiB above weights + KV."""
OFFLOAD_LAYERS_ON_GPU = 2
"""Activation offloading keeps the layer being computed and the one being copied on the GPU."""
EAGER_SCORE_BYTES = 8.0
"""Eager attention at inference: bf16 scores, the fp32 softmax and its bf16 cast of one layer, per element."""
DEQUANT_BUFFERS = 2
"""4-bit matmuls dequantise the weight to bf16 for each call; two of the largest matrix are alive at once
(forward of one layer + backward of the other, or the grad_input buffer)."""
