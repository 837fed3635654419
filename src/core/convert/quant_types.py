"""The `llama-quantize` types a user can pick, with bits per weight and whether an imatrix is required.

bpw: llama.cpp's quantize README for Llama-3.1-8B (k-quants are mixes, so Q4_K_M is ~4.9, not 4.5);
types without a README figure use the tool's own hint. `needs_imatrix` follows
`tensor_requires_imatrix` in the vendored llama.cpp (reference gguf-conversion.md §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import TunerError


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype: int
    bpw: float
    description: str
    needs_imatrix: bool = False
    recommended: bool = False


QUANT_TYPES: tuple[QuantType, ...] = (
    QuantType("Q2_K", 10, 3.16, "smallest k-quant, large quality loss (+3.52 ppl on 8B)"),
    QuantType("Q2_K_S", 21, 2.97, "Q2_K without the larger attention tensors", needs_imatrix=True),
    QuantType("Q3_K_S", 11, 3.64, "3-bit, +1.63 ppl"),
    QuantType("Q3_K_M", 12, 4.00, "3-bit mix, +0.66 ppl"),
    QuantType("Q3_K_L", 13, 4.30, "3-bit mix with larger attention/output, +0.56 ppl"),
    QuantType("Q4_0", 2, 4.34, "legacy 4-bit, +0.47 ppl"),
    QuantType("Q4_1", 3, 4.78, "legacy 4-bit with offsets, +0.45 ppl"),
    QuantType("Q4_K_S", 14, 4.67, "4-bit k-quant, +0.27 ppl"),
    QuantType("Q4_K_M", 15, 4.89, "the usual choice: 4-bit mix, +0.18 ppl", recommended=True),
    QuantType("Q5_0", 8, 5.21, "legacy 5-bit, +0.13 ppl"),
    QuantType("Q5_1", 9, 5.65, "legacy 5-bit with offsets, +0.11 ppl"),
    QuantType("Q5_K_S", 16, 5.57, "5-bit k-quant, +0.10 ppl"),
    QuantType("Q5_K_M", 17, 5.70, "5-bit mix, +0.06 ppl", recommended=True),
    QuantType("Q6_K", 18, 6.56, "6-bit, +0.02 ppl: near lossless", recommended=True),
    QuantType("Q8_0", 7, 8.50, "8-bit, +0.003 ppl: practically lossless", recommended=True),
    QuantType("IQ1_S", 24, 2.00, "1.56 bpw importance quant: needs an imatrix", needs_imatrix=True),
    QuantType("IQ1_M", 31, 2.15, "1.75 bpw importance quant: needs an imatrix", needs_imatrix=True),
    QuantType("IQ2_XXS", 19, 2.38, "2.06 bpw: needs an imatrix", needs_imatrix=True),
    QuantType("IQ2_XS", 20, 2.59, "2.31 bpw: needs an imatrix", needs_imatrix=True),
    QuantType("IQ2_S", 28, 2.74, "2.5 bpw: needs an imatrix", needs_imatrix=True),
    QuantType("IQ2_M", 29, 2.93, "2.7 bpw, works best with an imatrix"),
    QuantType("IQ3_XXS", 23, 3.25, "3.06 bpw: needs an imatrix", needs_imatrix=True),
    QuantType("IQ3_XS", 22, 3.50, "3.3 bpw, works best with an imatrix"),
    QuantType("IQ3_S", 26, 3.66, "3.44 bpw, works best with an imatrix"),
    QuantType("IQ3_M", 27, 3.76, "3.66 bpw, works best with an imatrix"),
    QuantType("IQ4_XS", 30, 4.46, "4.25 bpw non-linear, works best with an imatrix"),
    QuantType("IQ4_NL", 25, 4.68, "4.5 bpw non-linear, works best with an imatrix"),
    QuantType("BF16", 32, 16.0, "no quantization (the intermediate)"),
    QuantType("F16", 1, 16.0, "no quantization, float16"),
)
_BY_NAME = {q.name: q for q in QUANT_TYPES}
DEFAULT_QUANT = "Q4_K_M"


def quant_type(name: str) -> QuantType:
    key = name.strip().upper()
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise TunerError(f"unknown quantization type {name!r}", field="quant_type",
                     hint="one of " + ", ".join(q.name for q in QUANT_TYPES))


def parse_quant_types(values: list[str] | tuple[str, ...]) -> tuple[QuantType, ...]:
    """Several allowed, comma- or space-separated, case-insensitive; duplicates dropped, order kept."""
    names: list[str] = []
    for value in values:
        names.extend(v for v in value.replace(",", " ").split() if v)
    seen: dict[str, QuantType] = {}
    for name in names:  # none: only the full-precision GGUF
        q = quant_type(name)
        seen.setdefault(q.name, q)
    return tuple(seen.values())
