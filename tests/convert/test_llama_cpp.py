"""Finding llama.cpp and reporting exactly what is missing; the installer is a no-op when built."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from core.convert.events import PipelineFinished, StepFinished
from core.llama_cpp import locate_llama_cpp, probe_converter
from tests.convert.conftest import needs_llama_cpp

ROOT = Path(__file__).resolve().parents[2]


def _exe(path: Path, text: str = "#!/bin/sh\necho ok\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_homebrew_layout_reports_the_mistral_tokenizer_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Homebrew: the converter without its sibling gguf-py, the binaries on PATH.
    tree = tmp_path / "brew"
    (tree / "convert_hf_to_gguf.py").parent.mkdir(parents=True)
    (tree / "convert_hf_to_gguf.py").write_text("from gguf.vocab import MistralTokenizerType\n")
    bindir = tmp_path / "bin"
    _exe(bindir / "llama-quantize")
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", str(tree))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    inst = locate_llama_cpp()
    assert inst.source == "configured" and inst.quantize_bin == bindir / "llama-quantize"
    text = "\n".join(inst.problems)
    assert "no sibling gguf-py/" in text and "MistralTokenizerType" in text
    assert "llama-server not found" in text
    assert "convert_lora_to_gguf.py not found" in text
    assert not inst.ok and not inst.can_convert


def test_missing_configured_path_is_one_clear_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", str(tmp_path / "nope"))
    inst = locate_llama_cpp()
    assert inst.problems == [f"configured llama.cpp path {tmp_path / 'nope'} does not exist "
                             "(fix TUI_TUNER_LLAMA_CPP / [convert] llama_cpp)"]


def test_probe_catches_gguf_skew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = tmp_path / "skewed"
    (tree / "gguf-py" / "gguf").mkdir(parents=True)
    (tree / "gguf-py" / "gguf" / "__init__.py").write_text("")
    (tree / "gguf-py" / "gguf" / "vocab.py").write_text("class SpecialVocab: pass\n")
    (tree / "convert_hf_to_gguf.py").write_text("from gguf.vocab import MistralTokenizerType\n")
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", str(tree))
    inst = locate_llama_cpp()
    assert inst.can_convert
    problem = probe_converter(inst)
    assert problem is not None and problem.startswith("ImportError: cannot import name 'MistralTokenizerType'")


@needs_llama_cpp
def test_managed_build_is_found_with_its_commit() -> None:
    inst = locate_llama_cpp()
    assert inst.ok, inst.problems
    assert inst.server_bin is not None and inst.server_bin.name == "llama-server"
    assert inst.gguf_py is not None and inst.convert_script is not None
    assert inst.gguf_py.parent == inst.convert_script.parent  # the converter's own gguf-py
    assert probe_converter(inst) is None


@needs_llama_cpp
def test_install_is_a_noop_when_built() -> None:
    from core.llama_cpp.install import install_llama_cpp

    async def consume() -> list:
        return [e async for e in install_llama_cpp("sdist")]

    events = asyncio.run(consume())
    finished = [e for e in events if isinstance(e, StepFinished)]
    assert [e.step for e in finished] == ["source", "build", "python"]
    assert all(e.skipped for e in finished)
    assert isinstance(events[-1], PipelineFinished) and events[-1].status == "completed"


@needs_llama_cpp
def test_cli_status_json() -> None:
    import json

    proc = subprocess.run([sys.executable, "-m", "tui_tuner", "llama-cpp", "status", "--json"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ok"] and data["server_bin"].endswith("llama-server") and data["problems"] == []


@pytest.mark.slow
def test_install_from_an_sdist_builds_and_then_is_a_noop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole installer path offline: a fabricated sdist whose vendor/llama.cpp is a tiny CMake project
    with the two targets, unpacked, configured, built with streamed progress, then a second call is a no-op."""
    from core.llama_cpp.install import CMAKE_FLAGS, install_llama_cpp

    src = tmp_path / "llama_cpp_python-9.9.9"
    vendor = src / "vendor" / "llama.cpp"
    vendor.mkdir(parents=True)
    (vendor / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.14)\nproject(fake C)\n"
        "add_executable(llama-quantize q.c)\nadd_executable(llama-server s.c)\n"
        "set_target_properties(llama-quantize llama-server PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)\n")
    (vendor / "q.c").write_text("int main(void){return 0;}\n")
    (vendor / "s.c").write_text('#include <stdio.h>\nint main(void){puts("version: 1");return 0;}\n')
    (vendor / "convert_hf_to_gguf.py").write_text("print('converter')\n")
    (vendor / "gguf-py" / "gguf").mkdir(parents=True)
    (vendor / "gguf-py" / "gguf" / "__init__.py").write_text("")
    head = src / ".git" / "modules" / "vendor" / "llama.cpp"
    head.mkdir(parents=True)
    (head / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    sdist = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    monkeypatch.setenv("TUI_TUNER_CACHE_DIR", str(tmp_path / "cache"))

    async def consume() -> list:
        return [e async for e in install_llama_cpp("sdist", version="9.9.9", sdist_file=sdist)]

    events = asyncio.run(consume())
    assert isinstance(events[-1], PipelineFinished), events[-3:]
    assert events[-1].status == "completed", [e for e in events if type(e).__name__ == "StepFailed"]
    root = tmp_path / "cache" / "llama.cpp" / "llama-cpp-python-9.9.9"
    assert (root / "build" / "bin" / "llama-server").is_file()
    marker = (root / ".tui-tuner-install.json").read_text()
    assert "0123456789abcdef0123456789abcdef01234567" in marker and CMAKE_FLAGS[0] in marker
    assert any(type(e).__name__ == "Progress" and e.step == "build" for e in events)
    again = asyncio.run(consume())
    assert all(e.skipped for e in again if isinstance(e, StepFinished))


def test_probe_success_is_remembered_failure_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.llama_cpp.probe_cache import probe_and_remember, probe_passed_before

    monkeypatch.setenv("TUI_TUNER_CACHE_DIR", str(tmp_path / "cache"))
    tree = tmp_path / "tree"
    (tree / "gguf-py" / "gguf").mkdir(parents=True)
    (tree / "gguf-py" / "gguf" / "__init__.py").write_text("")
    script = tree / "convert_hf_to_gguf.py"
    script.write_text("import sys\nsys.exit(1)\n")
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", str(tree))
    inst = locate_llama_cpp()
    assert probe_and_remember(inst, sys.executable) is not None
    assert not probe_passed_before(inst, sys.executable)
    script.write_text("print('usage')\n")
    assert probe_and_remember(inst, sys.executable) is None
    assert probe_passed_before(inst, sys.executable)
    (tree / "gguf-py" / "gguf" / "vocab.py").write_text("# a changed gguf-py re-probes\n")
    assert not probe_passed_before(inst, sys.executable)
