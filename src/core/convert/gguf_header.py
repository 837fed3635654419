"""Read a GGUF file's header, metadata and tensor table without touching the tensor data.

`gguf.GGUFReader` builds a numpy view for every metadata item (≈250k for a 49k-token vocabulary) and
costs seconds even on a 135M model; the checks here need a dozen scalar values, the tensor table and
the file size. This reader walks the same layout (GGUF v2/v3, little-endian: the GGUF spec,
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) with `struct` over the first bytes of the
file, keeps scalars and strings, and records arrays only as (element type, count). From the tensor
table it computes where the data of every tensor ends, so a truncated file is caught without reading
the data. `tests/convert/test_gguf_header.py` checks the type tables against the `gguf` package.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# ggml tensor types: id -> (name, elements per block, bytes per block), as in ggml.h / gguf.constants.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}

# general.file_type values (llama.cpp's llama_ftype / gguf.LlamaFileType names).
FILE_TYPES: dict[int, str] = {
    0: "ALL_F32", 1: "MOSTLY_F16", 2: "MOSTLY_Q4_0", 3: "MOSTLY_Q4_1", 7: "MOSTLY_Q8_0", 8: "MOSTLY_Q5_0",
    9: "MOSTLY_Q5_1", 10: "MOSTLY_Q2_K", 11: "MOSTLY_Q3_K_S", 12: "MOSTLY_Q3_K_M", 13: "MOSTLY_Q3_K_L",
    14: "MOSTLY_Q4_K_S", 15: "MOSTLY_Q4_K_M", 16: "MOSTLY_Q5_K_S", 17: "MOSTLY_Q5_K_M", 18: "MOSTLY_Q6_K",
    19: "MOSTLY_IQ2_XXS", 20: "MOSTLY_IQ2_XS", 21: "MOSTLY_Q2_K_S", 22: "MOSTLY_IQ3_XS", 23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S", 25: "MOSTLY_IQ4_NL", 26: "MOSTLY_IQ3_S", 27: "MOSTLY_IQ3_M", 28: "MOSTLY_IQ2_S",
    29: "MOSTLY_IQ2_M", 30: "MOSTLY_IQ4_XS", 31: "MOSTLY_IQ1_M", 32: "MOSTLY_BF16", 36: "MOSTLY_TQ1_0",
    37: "MOSTLY_TQ2_0", 38: "MOSTLY_MXFP4_MOE", 39: "MOSTLY_NVFP4", 40: "MOSTLY_Q1_0",
}

# metadata value types: id -> struct format of one element (8 = string, 9 = array).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFFormatError(ValueError):
    """The bytes are not a (complete) GGUF header."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int
    """Relative to the start of the data section."""

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.type_id, (f"type{self.type_id}", 1, 0))[0]

    @property
    def nbytes(self) -> int | None:
        known = GGML_TYPES.get(self.type_id)
        if known is None:
            return None
        _, block, size = known
        elements = 1
        for dim in self.shape:
            elements *= dim
        return elements // block * size


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    """Scalars and strings as values; arrays as ("array", element type id, count)."""
    tensors: list[TensorEntry]
    data_start: int
    file_size: int
    problems: list[str] = field(default_factory=list)

    def get(self, key: str) -> Any:
        value = self.metadata.get(key)
        return None if isinstance(value, tuple) else value

    @property
    def file_type_name(self) -> str | None:
        ft = self.get("general.file_type")
        return None if ft is None else FILE_TYPES.get(int(ft), str(ft))

    @property
    def tensor_types(self) -> dict[str, int]:
        return dict(Counter(t.type_name for t in self.tensors))

    @property
    def data_end(self) -> int:
        """Where the last tensor's data ends (what the file size must reach)."""
        ends = [self.data_start + t.offset + (t.nbytes or 0) for t in self.tensors]
        return max(ends, default=self.data_start)


class _Cursor:
    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.pos = 0
        self.size = len(buf)

    def take(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise GGUFFormatError(f"header ends early (at byte {self.size})")
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def string(self) -> str:
        n = self.take("<Q")
        if self.pos + n > self.size:
            raise GGUFFormatError(f"header ends early (a {n}-byte string at byte {self.pos})")
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def skip_strings(self, count: int) -> None:
        buf, pos, size, unpack = self.buf, self.pos, self.size, struct.unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise GGUFFormatError(f"header ends early (at byte {size})")
            pos += 8 + unpack("<Q", buf, pos)[0]
        if pos > size:
            raise GGUFFormatError(f"header ends early (at byte {size})")
        self.pos = pos

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            if depth > 2:
                raise GGUFFormatError("arrays nested too deep")
            etype, count = self.take("<I"), self.take("<Q")
            if etype in _SCALARS:
                n = struct.calcsize(_SCALARS[etype]) * count
                if self.pos + n > self.size:
                    raise GGUFFormatError(f"header ends early (a {count}-element array at byte {self.pos})")
                self.pos += n
            elif etype == _STRING:
                self.skip_strings(count)
            else:
                for _ in range(count):
                    self.value(etype, depth + 1)
            return ("array", etype, count)
        raise GGUFFormatError(f"unknown metadata value type {vtype}")


def read_header(path: Path) -> GGUFHeader:
    """Parse `path`'s header and tensor table; raises GGUFFormatError / OSError."""
    path = Path(path)
    if path.exists() and not path.is_file():  # opening a FIFO would wait for a writer forever
        raise GGUFFormatError("not a regular file (a folder, FIFO or device)")
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < 24:
            raise GGUFFormatError(f"{size} bytes: too short for a GGUF header")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
            return _parse(memoryview(mapping), size)


def _parse(buf: memoryview, size: int) -> GGUFHeader:
    cur = _Cursor(buf)
    try:
        if bytes(buf[:4]) != GGUF_MAGIC:
            raise GGUFFormatError(f"no GGUF magic (starts with {bytes(buf[:4])!r})")
        cur.pos = 4
        version = cur.take("<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"GGUF version {version} (this reader knows 2 and 3)")
        n_tensors, n_kv = cur.take("<Q"), cur.take("<Q")
        if n_tensors > size or n_kv > size:
            raise GGUFFormatError(f"implausible counts ({n_tensors} tensors, {n_kv} metadata items)")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = cur.string()
            metadata[key] = cur.value(cur.take("<I"))
        tensors: list[TensorEntry] = []
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.take("<I")
            if n_dims > 8:
                raise GGUFFormatError(f"tensor {name!r} has {n_dims} dimensions")
            shape = tuple(cur.take("<Q") for _ in range(n_dims))
            tensors.append(TensorEntry(name, shape, cur.take("<I"), cur.take("<Q")))
        alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0:
            alignment = DEFAULT_ALIGNMENT
        data_start = -(-cur.pos // alignment) * alignment
    finally:
        del cur
        buf.release()
    header = GGUFHeader(version, metadata, tensors, data_start, size)
    unknown = sorted({t.type_id for t in tensors if t.type_id not in GGML_TYPES})
    if unknown:
        header.problems.append(f"unknown tensor type(s) {unknown}")
    elif header.data_end > size:
        header.problems.append(f"truncated: the tensor data ends at byte {header.data_end}, the file has {size}")
    return header


__all__ = ["FILE_TYPES", "GGML_TYPES", "GGUFFormatError", "GGUFHeader", "TensorEntry", "read_header"]
