"""Read and write safetensors one tensor at a time, without mmap.

The low-RAM merge must hold at most one tensor: `safe_open` memory-maps the shard, and every page it
touches stays resident (file-backed pages count in RSS) until the shard is closed, and `save_file` needs
the whole shard in a dict. The format is simple (an 8-byte little-endian header length, a JSON header
with dtype/shape/data_offsets, then the raw bytes), so both directions are done here with plain reads
and writes: the page cache still helps, but none of it is the merge's memory.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core import safe_json
from core.errors import TunerError

_DTYPES = {
    "BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    """safetensors dtype string (BF16, F32, ...)."""
    shape: tuple[int, ...]
    start: int
    end: int


def read_header(path: Path) -> tuple[list[TensorEntry], dict[str, str], int]:
    """Entries in file order, the `__metadata__`, and where the data begins."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ValueError("file shorter than its header length")
            (size,) = struct.unpack("<Q", raw)
            if size > 100_000_000:
                raise ValueError("header too large")
            header = safe_json.loads(f.read(size), source="header", expect=dict)
    except (OSError, ValueError) as exc:  # a safe_json error is a ValueError too: bytes, nesting, not an object
        raise TunerError(f"{path.name}: not a readable safetensors file ({exc})",
                         hint="the download is incomplete or corrupt: download it again") from None
    metadata = header.pop("__metadata__", None) or {}
    try:
        entries = [TensorEntry(name, str(v["dtype"]), tuple(int(d) for d in v["shape"]), int(v["data_offsets"][0]),
                               int(v["data_offsets"][1])) for name, v in header.items()]
    except (KeyError, IndexError, TypeError, ValueError):
        raise TunerError(f"{path.name}: not a readable safetensors file (a tensor entry without dtype, shape "
                         "and data_offsets)", hint="the download is incomplete or corrupt: download it again") from None
    if not isinstance(metadata, dict):
        metadata = {}
    entries.sort(key=lambda e: e.start)
    return entries, metadata, 8 + size


def iter_tensors(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield (name, tensor) in file order, each read into its own buffer (no mmap)."""
    import torch

    entries, _, base = read_header(path)
    with open(path, "rb") as f:
        for e in entries:
            f.seek(base + e.start)
            buf = bytearray(e.end - e.start)
            if f.readinto(buf) != len(buf):
                raise TunerError(f"{path.name}: truncated at tensor {e.name}", hint="download it again")
            dtype = getattr(torch, _DTYPES[e.dtype])
            tensor = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
            yield e.name, tensor.reshape(e.shape)


def safetensors_dtype(tensor: Any) -> str:
    name = str(tensor.dtype).removeprefix("torch.")
    for key, value in _DTYPES.items():
        if value == name:
            return key
    raise TunerError(f"unsupported tensor dtype {name}")


class StreamWriter:
    """Write a safetensors file whose tensor list (name, dtype, shape) is known up front, one at a time."""

    def __init__(self, path: Path, layout: list[tuple[str, str, tuple[int, ...]]], metadata: dict[str, str]) -> None:
        header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
        offset = 0
        self._order: list[tuple[str, int]] = []
        for name, dtype, shape in layout:
            n = _nbytes(dtype, shape)
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
            self._order.append((name, n))
            offset += n
        blob = json.dumps(header, separators=(",", ":")).encode()
        blob += b" " * (-len(blob) % 8)  # the data starts 8-byte aligned, like safetensors' own writer
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(struct.pack("<Q", len(blob)) + blob)
        self._next = 0

    def write(self, name: str, tensor: Any) -> None:
        import torch

        expected, nbytes = self._order[self._next]
        if name != expected:
            raise RuntimeError(f"tensor {name} written out of order (expected {expected})")
        data = tensor.contiguous().view(torch.uint8).reshape(-1).numpy()
        if data.nbytes != nbytes:
            raise RuntimeError(f"tensor {name}: {data.nbytes} bytes, header says {nbytes}")
        self._file.write(memoryview(data))
        self._next += 1

    def abort(self) -> None:
        """Close and delete the partial file."""
        self._file.close()
        Path(self._file.name).unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()
        if self._next != len(self._order):
            raise RuntimeError(f"only {self._next} of {len(self._order)} tensors written")


_SIZES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
          "F8_E4M3": 1, "F8_E5M2": 1}


def _nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    n = _SIZES[dtype]
    for dim in shape:
        n *= dim
    return n
