"""Remember that a converter started, so the few-second `--help` probe runs once per tree + interpreter.

The probe exists to catch gguf-py/script skew before hours of work; once a given converter (same
files) has started under a given interpreter (same packages), running it again proves nothing new.
The key covers the converter script, its gguf-py and conversion/ package, the interpreter and its
site-packages' gguf/transformers/torch versions, so any change re-probes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from core import paths, safe_json
from core.llama_cpp.locate import LlamaCppInstall, probe_converter


def _stamp(path: Path | None) -> str:
    if path is None or not path.exists():
        return "-"
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.py"))
        return f"{len(files)}:{max((p.stat().st_mtime_ns for p in files), default=0)}"
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _key(inst: LlamaCppInstall, python: str) -> str:
    from importlib import metadata

    versions = []
    for dist in ("gguf", "transformers", "torch", "numpy", "sentencepiece"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=-")
    root = inst.convert_script.parent if inst.convert_script else None
    parts: list[Any] = [str(inst.convert_script), _stamp(inst.convert_script), _stamp(inst.gguf_py),
                        _stamp(root / "conversion" if root else None), python, _stamp(Path(python)), versions]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _file() -> Path:
    return paths.cache_dir() / "llama.cpp" / "converter-probes.json"


def _load() -> dict[str, Any]:
    try:  # our cache file: damaged, nested or a FIFO means "nothing remembered", never a crash or a wait
        return safe_json.load_file(_file(), expect=dict)  # type: ignore[no-any-return]
    except ValueError:
        return {}


def probe_passed_before(inst: LlamaCppInstall, python: str) -> bool:
    return _load().get(_key(inst, python)) is True


def probe_and_remember(inst: LlamaCppInstall, python: str) -> str | None:
    """`probe_converter`, remembering a success (failures are never cached: the user will fix them)."""
    problem = probe_converter(inst, python)
    if problem is None:
        data = _load()
        data[_key(inst, python)] = True
        try:
            paths.ensure(_file().parent)
            tmp = _file().with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            tmp.replace(_file())
        except OSError:
            pass
    return problem
