"""What a flavor's GPU really holds, in bytes.

The Hub labels GPU memory in round "GB" (A100 "80 GB", H200 "141 GB"); the cards report more or less
than label × 10⁹ bytes. An estimate near the limit must be compared with the real total, which is what
nvidia-smi shows as "Total" (MiB) on these cards. Unknown GPUs fall back to the label in decimal GB.
"""

from __future__ import annotations

from core.flavors import GB, Flavor

MiB = 1024**2

# nvidia-smi "memory.total" per GPU model (MiB).
GPU_TOTAL_MIB: dict[str, int] = {
    "T4": 15_360,
    "L4": 23_034,
    "A10G": 23_028,
    "L40S": 46_068,
    "A100": 81_920,         # A100 80GB (SXM4 / PCIe)
    "H200": 143_771,
    "RTX PRO 6000": 97_887,  # Blackwell Server Edition, 96 GB GDDR7
}


def gpu_capacity_bytes(flavor: Flavor) -> float:
    """Bytes of ONE GPU of the flavor (the whole card: the estimate already counts the CUDA context)."""
    mib = GPU_TOTAL_MIB.get(flavor.gpu_name or "")
    return float(mib * MiB) if mib else flavor.gpu_memory_gb * GB


# GPUs without bf16 support (compute capability < 8.0): a bf16 run fails or falls back to slow paths.
NO_BF16 = {"T4"}
# flash-attn 2 needs Ampere or newer (compute capability ≥ 8.0): the T4 (Turing, 7.5) has none.
NO_FLASH_ATTENTION = {"T4"}


def unsupported_reason(flavor: Flavor, dtype: str, attention: str = "") -> str | None:
    """Why the flavor cannot run this dtype / attention kernel, or None."""
    gpu = flavor.gpu_name or ""
    if dtype == "bf16" and gpu in NO_BF16:
        return f"{flavor.gpu_name} has no bf16 (compute capability 7.5)"
    if attention == "flash-attention-2" and gpu in NO_FLASH_ATTENTION:
        return f"{flavor.gpu_name} has no flash-attention-2 (needs compute capability ≥ 8.0; use sdpa)"
    return None
