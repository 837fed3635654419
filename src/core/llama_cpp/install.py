"""`tui-tuner llama-cpp install`: a pinned llama.cpp source, built with CMake into the cache.

Layout (what `locate_llama_cpp` finds):
`<cache>/llama.cpp/llama-cpp-python-<ver>/` = the `vendor/llama.cpp` tree of the llama-cpp-python sdist
(or `<cache>/llama.cpp/llama.cpp-<sha7>/` for `--source git`), with `build/bin/llama-quantize` and
`build/bin/llama-server`, and a `.tui-tuner-install.json` marker.

Each stage is skipped when already done, so a second call is a no-op. The source is unpacked into a
`.tmp` folder and renamed when complete. The converter's Python requirements are checked in the target
interpreter and only the missing ones are installed, with the installed torch pinned by a constraint:
its requirements file pins another torch (2.11) and must never be installed as-is.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from core import paths, safe_json
from core.convert.events import (
    Event,
    LogLine,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepStarted,
)
from core.convert.logparse import CMakeParser, LineParser, hint_for
from core.convert.process import ProcessOutcome, shell_line, stream_process
from core.errors import TunerError
from core.llama_cpp.locate import (
    CACHE_SUBDIR,
    MARKER_FILE,
    PINNED_COMMIT,
    PINNED_SDIST_VERSION,
    cache_tree_dir,
    read_commit,
)

GIT_URL = "https://github.com/ggml-org/llama.cpp"
TARGETS = ("llama-quantize", "llama-server")
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # no download of the web UI at build time (API unaffected)
    "-DBUILD_SHARED_LIBS=OFF",  # standalone binaries
    "-DGGML_NATIVE=OFF",  # portable: the cache may be shared between machines
    "-DLLAMA_CURL=OFF",  # ignored by new trees, needed by old ones
)
# Import name -> pip requirement for what the converter imports (torch is checked, never installed).
CONVERTER_MODULES = {
    "numpy": "numpy",
    "sentencepiece": "sentencepiece",
    "transformers": "transformers",
    "safetensors": "safetensors",
    "google.protobuf": "protobuf",
}


def _marker(root: Path) -> dict:
    try:  # damaged, nested or a FIFO: no marker, never a crash or a wait
        return safe_json.load_file(root / MARKER_FILE, expect=dict)  # type: ignore[no-any-return]
    except ValueError:
        return {}


def _write_marker(root: Path, data: dict) -> None:
    tmp = root / (MARKER_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(root / MARKER_FILE)


def binaries_work(root: Path) -> bool:
    """Both tools exist and start (`--version` exits 0): a half-linked binary does not count."""
    for name in TARGETS:
        binary = root / "build" / "bin" / name
        if not binary.is_file():
            return False
    try:
        proc = subprocess.run([str(root / "build" / "bin" / "llama-server"), "--version"],
                              capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def missing_python_modules(python: str) -> list[str]:
    # find_spec on a dotted name imports the parent; guard it so a broken package reads as missing.
    code = ("import importlib.util as u, json\n"
            "def ok(n):\n"
            "    try:\n        return u.find_spec(n) is not None\n"
            "    except Exception:\n        return False\n"
            f"print(json.dumps([m for m in {[*list(CONVERTER_MODULES), 'torch']!r} if not ok(m)]))")
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise TunerError(f"cannot run {python}: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout)


def installed_version(python: str, dist: str) -> str | None:
    proc = subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                          capture_output=True, text=True, timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else None


async def _run(step: str, argv: list[str], parser: LineParser | None = None, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> AsyncIterator[Event]:
    outcome = ProcessOutcome()
    yield LogLine(step, "$ " + shell_line(argv))
    async for event in stream_process(argv, parser or LineParser(step), outcome, cwd=cwd, env=env):
        yield event
    if outcome.returncode != 0:
        line = outcome.error_line or (outcome.tail.lines[-1] if outcome.tail.lines else f"exit {outcome.returncode}")
        raise _StepError(step, line, outcome.returncode)


class _StepError(Exception):
    def __init__(self, step: str, line: str, code: int | None) -> None:
        super().__init__(line)
        self.step, self.line, self.code = step, line, code


def _github_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection(("github.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _pick_source() -> str:
    for source in ("sdist", "git"):
        root = cache_tree_dir(source)
        if (root / "build" / "bin" / "llama-server").is_file() and (root / "convert_hf_to_gguf.py").is_file():
            return source
    return "git" if _github_reachable() else "sdist"


def _extract_vendor(sdist: Path, dest: Path, version: str) -> str | None:
    """Unpack `vendor/llama.cpp` of the sdist into `dest`; return the vendored commit when recorded."""
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    head_name = f"llama_cpp_python-{version}/.git/modules/vendor/llama.cpp/HEAD"
    commit = None
    with tarfile.open(sdist) as tar:
        members = []
        for member in tar.getmembers():
            if member.name == head_name:
                f = tar.extractfile(member)
                commit = f.read().decode().strip() if f else None
            elif member.name.startswith(prefix):
                member.name = member.name[len(prefix):]
                if member.name:
                    members.append(member)
        if not members:
            raise TunerError(f"{sdist.name} has no vendor/llama.cpp tree")
        tar.extractall(dest, members=members, filter="data")
    return commit


async def install_llama_cpp(
    source: str = "sdist",
    *,
    version: str = PINNED_SDIST_VERSION,
    python: str | None = None,
    jobs: int | None = None,
    sdist_file: Path | None = None,
    force_rebuild: bool = False,
) -> AsyncIterator[Event]:
    """Fetch, build and set up llama.cpp, streaming events. Idempotent; safe to cancel and rerun.

    `source="auto"`: an existing managed tree if one is built, else a git fetch of the pinned commit when
    GitHub answers, else the sdist from PyPI.
    """
    if source not in {"sdist", "git", "auto"}:
        raise TunerError(f"unknown source {source!r}", field="--source", hint="use auto, sdist or git")
    if source == "auto":
        source = await asyncio.to_thread(_pick_source)
        yield LogLine("source", f"source: {source} (auto)")
    python = python or sys.executable
    jobs = jobs or os.cpu_count() or 2
    root = cache_tree_dir(source) if version == PINNED_SDIST_VERSION or source == "git" else (
        paths.cache_dir() / CACHE_SUBDIR / f"llama-cpp-python-{version}")
    paths.ensure(root.parent)
    lock_path = root.parent / ".install.lock"
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TunerError("another `llama-cpp install` is running", hint=f"wait for it (lock {lock_path})") from None
        try:
            async for event in _install_locked(source, version, python, jobs, root, sdist_file, force_rebuild):
                yield event
        except _StepError as exc:
            yield StepFailed(exc.step, exc.line, hint_for(exc.line), exc.code)
            yield PipelineFinished("failed", message=exc.line)


async def _install_locked(source: str, version: str, python: str, jobs: int, root: Path,
                          sdist_file: Path | None, force_rebuild: bool) -> AsyncIterator[Event]:
    marker = _marker(root)
    # 1. source
    yield StepStarted("source", f"llama.cpp source ({source})")
    t0 = time.monotonic()
    if (root / "CMakeLists.txt").is_file() and (root / "convert_hf_to_gguf.py").is_file():
        yield StepFinished("source", f"already there: {root}", (str(root),), skipped=True)
    else:
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        commit: str | None = None
        if source == "git":
            if shutil.which("git") is None:
                raise _StepError("source", "git is not installed (use --source sdist)", None)
            tmp.mkdir(parents=True)
            for argv in (["git", "init", "-q", str(tmp)],
                         ["git", "-C", str(tmp), "fetch", "--depth", "1", "--progress", GIT_URL, PINNED_COMMIT],
                         ["git", "-C", str(tmp), "checkout", "-q", "FETCH_HEAD"]):
                async for event in _run("source", argv):
                    yield event
            commit = PINNED_COMMIT
        else:
            with tempfile.TemporaryDirectory(prefix="tui-tuner-sdist-") as dl:
                sdist = sdist_file
                if sdist is None:
                    argv = [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "--progress-bar", "off", "-d", dl, f"llama-cpp-python=={version}"]
                    async for event in _run("source", argv):
                        yield event
                    found = sorted(Path(dl).glob("llama_cpp_python-*.tar.gz"))
                    if not found:
                        raise _StepError("source", "pip download produced no llama_cpp_python sdist", None)
                    sdist = found[0]
                yield LogLine("source", f"unpacking vendor/llama.cpp from {sdist.name}")
                yield Progress("source", 0, None, "", "unpacking")
                commit = await asyncio.to_thread(_extract_vendor, sdist, tmp, version)
        tmp.rename(root)
        marker = {"source": source, "version": version if source == "sdist" else None,
                  "commit": commit or read_commit(root)}
        _write_marker(root, marker)
        yield StepFinished("source", f"unpacked into {root}", (str(root),), seconds=time.monotonic() - t0)

    # 2. build
    yield StepStarted("build", "build llama-quantize and llama-server (CMake, CPU)",
                      command=shell_line(["cmake", "-S", root, "-B", root / "build", *CMAKE_FLAGS]))
    t0 = time.monotonic()
    if not force_rebuild and await asyncio.to_thread(binaries_work, root):
        yield StepFinished("build", "already built", tuple(str(root / "build" / "bin" / t) for t in TARGETS),
                           skipped=True)
    else:
        for tool in ("cmake", "c++", "make"):
            if shutil.which(tool) is None and not (tool == "c++" and shutil.which("g++")):
                raise _StepError("build", f"{tool} is not installed", None)
        configure = ["cmake", "-S", str(root), "-B", str(root / "build"), *CMAKE_FLAGS]
        async for event in _run("build", configure, LineParser("build")):
            yield event
        build = ["cmake", "--build", str(root / "build"), "--config", "Release", "-j", str(jobs),
                 "--target", *TARGETS]
        async for event in _run("build", build, CMakeParser("build")):
            yield event
        if not binaries_work(root):
            raise _StepError("build", "the build finished but llama-server --version does not run", None)
        yield StepFinished("build", "built " + ", ".join(TARGETS),
                           tuple(str(root / "build" / "bin" / t) for t in TARGETS), seconds=time.monotonic() - t0)

    # 3. the converter's Python requirements, in the target interpreter, torch untouched
    yield StepStarted("python", "converter requirements (numpy, sentencepiece, transformers, safetensors, protobuf)")
    t0 = time.monotonic()
    missing = await asyncio.to_thread(missing_python_modules, python)
    if "torch" in missing:
        raise _StepError("python", "torch is not installed in " + python, None)
    wanted = [CONVERTER_MODULES[m] for m in missing]
    if not wanted:
        yield StepFinished("python", "all present (converter runs with the tree's own gguf-py)", skipped=True)
    else:
        torch_version = installed_version(python, "torch")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as cons:
            cons.write(f"torch=={torch_version}\n")
        try:
            async for event in _run("python", [python, "-m", "pip", "install", "--progress-bar", "off",
                                               "-c", cons.name, *wanted]):
                yield event
        finally:
            with contextlib.suppress(OSError):
                os.unlink(cons.name)
        yield StepFinished("python", "installed " + ", ".join(wanted), seconds=time.monotonic() - t0)

    marker.update({"built": True, "cmake_flags": list(CMAKE_FLAGS), "targets": list(TARGETS),
                   "source": marker.get("source") or source, "commit": marker.get("commit") or read_commit(root)
                   or (PINNED_COMMIT if version == PINNED_SDIST_VERSION else None)})
    if marker != _marker(root):
        _write_marker(root, marker)
    yield PipelineFinished("completed", kept=(str(root),), message=f"llama.cpp ready at {root}")
