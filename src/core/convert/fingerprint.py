"""What a resumed conversion checks before it skips a step: its inputs' contents and its outputs' health.

A step is skipped only when (1) its inputs are the ones it ran on: names, sizes and modification times of
the files it read, plus a SHA-256 of the adapter weights (a changed adapter of the same size and date
must not slip through), and (2) each output it recorded is still the file it wrote (same size and
mtime) and still whole: a GGUF's header and tensor table parse, the tensor count matches, and the file
reaches the end of its tensor data; a safetensors shard's header parses and the file holds all its data.
Checks read headers only, never tensor data. Hashes are cached in the state file under the file's
size, mtime, ctime and inode, so an unchanged multi-GB adapter is hashed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

HASH_CHUNK = 1 << 20


def file_sig(path: Path | str | None) -> list[Any] | None:
    """[name, size, mtime_ns] of a file (None when absent). The name, not the path: a moved folder still matches."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return None
    return [p.name, st.st_size, st.st_mtime_ns]


def folder_sig(folder: Path | str | None) -> list[Any] | None:
    """file_sig of every regular file directly in `folder`, sorted (None when the folder is absent)."""
    if folder is None:
        return None
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return None
    out = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith(".part"):
            continue
        try:
            if not entry.is_file():
                continue
            st = entry.stat()
        except OSError:
            continue
        out.append([entry.name, st.st_size, st.st_mtime_ns])
    return out


def sha256_cached(path: Path, cache: dict[str, Any]) -> str | None:
    """SHA-256 of `path`, reused from `cache` while size, mtime, ctime and inode are unchanged."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
    hit = cache.get(str(path))
    if isinstance(hit, dict) and hit.get("stat") == key and hit.get("sha256"):
        return str(hit["sha256"])
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    cache[str(path)] = {"stat": key, "sha256": value}
    return value


def adapter_sig(adapter_dir: Path | None, cache: dict[str, Any]) -> list[Any] | None:
    if adapter_dir is None:
        return None
    weights = Path(adapter_dir) / "adapter_model.safetensors"
    return [folder_sig(adapter_dir), sha256_cached(weights, cache) if weights.is_file() else None]


def output_sig(path: Path) -> list[Any] | None:
    return folder_sig(path) if path.is_dir() else file_sig(path)


def gguf_problem(path: Path, expect_tensors: int | None = None) -> str | None:
    """Why a GGUF output cannot be trusted (None: header, tensor table and size are fine)."""
    from core.convert.gguf_header import GGUFFormatError, read_header

    try:
        header = read_header(path)
    except (GGUFFormatError, OSError) as exc:
        return f"{path.name}: not a readable GGUF ({exc})"
    if header.problems:
        return f"{path.name}: {header.problems[0]}"
    if not header.tensors:
        return f"{path.name}: no tensors"
    if expect_tensors is not None and len(header.tensors) != expect_tensors:
        return f"{path.name}: {len(header.tensors)} tensors, {expect_tensors} when it was written"
    return None


def safetensors_folder_problem(folder: Path) -> str | None:
    """Why a merged model folder cannot be trusted: missing config, missing or truncated shards."""
    from core.convert.safetensors_stream import read_header
    from core.errors import TunerError

    if not (folder / "config.json").is_file():
        return f"{folder.name}: no config.json"
    index = folder / "model.safetensors.index.json"
    try:
        if index.is_file():
            names = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
        else:
            names = ["model.safetensors"]
    except (OSError, ValueError, AttributeError, RecursionError) as exc:
        return f"{index.name}: unreadable ({exc})"
    if not names:
        return f"{folder.name}: no shards listed"
    for name in names:
        shard = folder / name
        try:
            entries, _, data_start = read_header(shard)
            size = shard.stat().st_size
        except (TunerError, OSError) as exc:
            return f"{name}: {exc}"
        end = data_start + max((e.end for e in entries), default=0)
        if size < end:
            return f"{name}: truncated ({size} bytes, its header promises {end})"
    return None


def output_problem(path: Path, recorded: list[Any] | None, expect_tensors: int | None = None) -> str | None:
    """Why a recorded output must be made again (None: it is what the step wrote, and whole)."""
    if not path.exists():
        return f"{path.name} is missing"
    now = output_sig(path)
    if recorded is not None and now != recorded:
        return f"{path.name} changed since it was written"
    if path.suffix == ".gguf":
        return gguf_problem(path, expect_tensors)
    if path.is_dir() and ((path / "model.safetensors.index.json").is_file() or (path / "model.safetensors").is_file()):
        return safetensors_folder_problem(path)
    return None


__all__ = ["adapter_sig", "file_sig", "folder_sig", "gguf_problem", "output_problem", "output_sig",
           "safetensors_folder_problem", "sha256_cached"]
