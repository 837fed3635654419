"""Find a usable llama.cpp: the converter with its own `gguf-py`, `llama-quantize`, `llama-server`.

Search order (the first place that has a converter wins; binaries may come from elsewhere, because the
guide notes that e.g. Homebrew's `llama-quantize` works fine even though its converter does not):

1. the configured tree: `TUI_TUNER_LLAMA_CPP` or `[convert] llama_cpp` in the config file;
2. the managed build under `<cache>/llama.cpp/` (what `tui-tuner llama-cpp install` makes);
3. `~/llama.cpp` (the guide's `git clone` location);
4. tools on PATH (`llama-quantize`, `llama-server`, a `convert_hf_to_gguf.py` script).

`problems` lists exactly what is missing, one line each, with the fix. The classic failure is a
converter without its sibling `gguf-py/` (Homebrew, a copied script): it then imports the older
site-packages `gguf` and dies with `cannot import name 'MistralTokenizerType' from 'gguf.vocab'`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import paths, safe_json
from core.config import load_config

PINNED_SDIST_VERSION = "0.3.36"
"""llama-cpp-python release whose `vendor/llama.cpp` is the pinned llama.cpp source."""
PINNED_COMMIT = "0c1e57098bba43ac29e6e3b677cdceebdd22334f"
"""The llama.cpp commit vendored in that sdist (also what `--source git` fetches)."""
CACHE_SUBDIR = "llama.cpp"
MARKER_FILE = ".tui-tuner-install.json"
"""Written by the installer into the tree: source, version, commit, cmake flags."""

_BIN_DIRS = ("build/bin", "build/bin/Release", "bin", ".")


def cache_tree_dir(source: str = "sdist") -> Path:
    """Where the installer puts (and looks for) the managed tree for `source`."""
    base = paths.cache_dir() / CACHE_SUBDIR
    if source == "git":
        return base / f"llama.cpp-{PINNED_COMMIT[:7]}"
    return base / f"llama-cpp-python-{PINNED_SDIST_VERSION}"


@dataclass
class LlamaCppInstall:
    root: Path | None
    """The llama.cpp tree whose converter is used (None when no converter was found)."""
    source: str
    """configured | cache | home | path | none"""
    convert_script: Path | None = None
    convert_lora_script: Path | None = None
    gguf_py: Path | None = None
    """The tree's own gguf-py, put first on PYTHONPATH when the converter runs."""
    quantize_bin: Path | None = None
    server_bin: Path | None = None
    commit: str | None = None
    problems: list[str] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def can_convert(self) -> bool:
        return self.convert_script is not None and self.gguf_py is not None

    def converter_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for running the converter: its own gguf-py first, unbuffered, tame tqdm."""
        env = dict(os.environ if base is None else base)
        # NO_LOCAL_GGUF would make the script skip its sibling gguf-py (§1.6): never let it through.
        env.pop("NO_LOCAL_GGUF", None)
        if self.gguf_py is not None:
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.gguf_py), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("TQDM_MININTERVAL", "0.5")
        return env

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "root": str(self.root) if self.root else None,
            "source": self.source,
            "commit": self.commit,
            "convert_script": _s(self.convert_script),
            "convert_lora_script": _s(self.convert_lora_script),
            "gguf_py": _s(self.gguf_py),
            "quantize_bin": _s(self.quantize_bin),
            "server_bin": _s(self.server_bin),
            "problems": list(self.problems),
            "searched": list(self.searched),
        }


def _s(path: Path | None) -> str | None:
    return str(path) if path else None


def _configured_root() -> Path | None:
    value = os.environ.get("TUI_TUNER_LLAMA_CPP") or load_config().get("convert", "llama_cpp")
    return Path(str(value)).expanduser() if value else None


def _cache_roots() -> list[Path]:
    base = paths.cache_dir() / CACHE_SUBDIR
    preferred = [cache_tree_dir("sdist"), cache_tree_dir("git")]
    others = sorted(p for p in base.glob("*") if p.is_dir() and p not in preferred and not p.name.endswith(".tmp"))
    return [p for p in preferred if p.is_dir()] + others


def _find_bin(root: Path, name: str) -> Path | None:
    for sub in _BIN_DIRS:
        candidate = root / sub / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def read_commit(root: Path) -> str | None:
    """The tree's llama.cpp commit: from our install marker, else from its git metadata."""
    marker = root / MARKER_FILE
    if marker.is_file():
        try:
            commit = safe_json.load_file(marker, expect=dict).get("commit")
            if commit:
                return str(commit)
        except ValueError:
            pass
    git = root / ".git"
    try:
        if git.is_file():  # a submodule checkout: "gitdir: ../../.git/modules/vendor/llama.cpp"
            target = git.read_text(encoding="utf-8").split("gitdir:", 1)[-1].strip()
            git = (root / target).resolve()
        head = git / "HEAD"
        if head.is_file():
            text = head.read_text(encoding="utf-8").strip()
            if text.startswith("ref:"):
                ref = git / text.split(None, 1)[1]
                text = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
            if re.fullmatch(r"[0-9a-f]{40}", text):
                return text
    except OSError:
        pass
    return None


def _inspect_tree(root: Path, source: str) -> LlamaCppInstall:
    inst = LlamaCppInstall(root=root, source=source)
    conv = root / "convert_hf_to_gguf.py"
    inst.convert_script = conv if conv.is_file() else None
    lora = root / "convert_lora_to_gguf.py"
    inst.convert_lora_script = lora if lora.is_file() else None
    gguf_py = root / "gguf-py"
    inst.gguf_py = gguf_py if (gguf_py / "gguf" / "__init__.py").is_file() else None
    inst.quantize_bin = _find_bin(root, "llama-quantize")
    inst.server_bin = _find_bin(root, "llama-server")
    inst.commit = read_commit(root)
    return inst


def _check(inst: LlamaCppInstall) -> None:
    """Fill `problems` with one line per missing piece, each with its fix."""
    fix = "run `tui-tuner llama-cpp install`"
    if inst.convert_script is None:
        inst.problems.append(f"convert_hf_to_gguf.py not found ({fix})")
    elif inst.gguf_py is None:
        inst.problems.append(
            f"{inst.convert_script} has no sibling gguf-py/: it would import the site-packages gguf and fail "
            f"with `cannot import name 'MistralTokenizerType'` (Homebrew layout; {fix} or point "
            "TUI_TUNER_LLAMA_CPP at a git clone)")
    elif inst.root is not None and not (inst.root / "conversion").is_dir() and _needs_conversion_pkg(inst):
        inst.problems.append(f"{inst.root}/conversion/ is missing: the converter needs its sibling package ({fix})")
    if inst.convert_lora_script is None and inst.convert_script is not None:
        inst.problems.append(f"convert_lora_to_gguf.py not found next to the converter ({fix})")
    if inst.quantize_bin is None:
        inst.problems.append(f"llama-quantize not found (not built; {fix})")
    if inst.server_bin is None:
        inst.problems.append(f"llama-server not found (not built; {fix})")


def _needs_conversion_pkg(inst: LlamaCppInstall) -> bool:
    # Since 2026 the entry point imports its model classes from the sibling `conversion/` package.
    try:
        return "from conversion" in inst.convert_script.read_text(encoding="utf-8")  # type: ignore[union-attr]
    except OSError:
        return False


def locate_llama_cpp() -> LlamaCppInstall:
    """Find llama.cpp (see the module docstring for the order). Cheap: no subprocess is started."""
    candidates: list[tuple[Path, str]] = []
    configured = _configured_root()
    if configured is not None:
        candidates.append((configured, "configured"))
    candidates += [(p, "cache") for p in _cache_roots()]
    candidates.append((Path.home() / "llama.cpp", "home"))

    searched: list[str] = []
    chosen: LlamaCppInstall | None = None
    for root, source in candidates:
        searched.append(str(root))
        if not root.is_dir():
            if source == "configured":
                inst = LlamaCppInstall(root=None, source="configured", searched=searched)
                inst.problems.append(f"configured llama.cpp path {root} does not exist "
                                     "(fix TUI_TUNER_LLAMA_CPP / [convert] llama_cpp)")
                return inst
            continue
        inst = _inspect_tree(root, source)
        if source == "configured" or inst.convert_script is not None:
            chosen = inst
            break

    if chosen is None:
        chosen = LlamaCppInstall(root=None, source="none")
        script = shutil.which("convert_hf_to_gguf.py") or shutil.which("convert_hf_to_gguf")
        if script:
            real = Path(script).resolve()
            chosen = _inspect_tree(real.parent, "path")
            chosen.convert_script = real
    searched.append("PATH")
    # Binaries missing from the tree: fall back to PATH (Homebrew's llama-quantize works fine).
    if chosen.quantize_bin is None and (found := shutil.which("llama-quantize")):
        chosen.quantize_bin = Path(found)
    if chosen.server_bin is None and (found := shutil.which("llama-server")):
        chosen.server_bin = Path(found)
    if chosen.source == "none" and (chosen.quantize_bin or chosen.server_bin):
        chosen.source = "path"
    chosen.searched = searched
    _check(chosen)
    return chosen


def probe_converter(inst: LlamaCppInstall, python: str | None = None, timeout: float = 120) -> str | None:
    """Run `convert_hf_to_gguf.py --help` with the tree's gguf-py; None if it starts, else its error line.

    This catches gguf-py/script skew (ImportError: MistralTokenizerType, AttributeError: LazyChunkedTensor)
    and missing Python requirements before any expensive step.
    """
    if inst.convert_script is None:
        return "convert_hf_to_gguf.py not found"
    try:
        proc = subprocess.run([python or sys.executable, str(inst.convert_script), "--help"],
                              capture_output=True, text=True, env=inst.converter_env(), timeout=timeout,
                              cwd=str(inst.convert_script.parent))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not run the converter: {exc}"
    if proc.returncode == 0:
        return None
    lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^\w*(Error|Exception)\b", ln) or "Error:" in ln]
    return (errors or lines or [f"exit {proc.returncode}"])[-1]
