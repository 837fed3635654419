"""Start and stop a local `llama-server` for evaluation (tests, benchmarks, `eval serve`).

The server runs in its own session (process group) so stopping it, or cancelling the task that
waits for it, never leaves a process behind; it is tracked by `core.process_tree` (ended at exit or on a
signal, and recorded in the user data dir so the next start reaps one whose owner was killed with
SIGKILL). Readiness is `/health` answering 200; the process is watched at the same time so a load failure
or a taken port fails fast with the server's own line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from core import paths, process_tree
from core.errors import TunerError
from core.redact import redact


def find_llama_server() -> Path:
    """The llama-server binary: the convert area's locator first, then the cache build, then PATH."""
    try:
        from core.llama_cpp import locate_llama_cpp
    except ImportError:
        locate_llama_cpp = None
    if locate_llama_cpp is not None:
        try:
            found = locate_llama_cpp().server_bin
        except TunerError:
            found = None
        if found and Path(found).is_file():
            return Path(found)
    env = os.environ.get("TUI_TUNER_LLAMA_CPP")
    roots = [Path(env).expanduser()] if env else []
    roots += sorted((paths.cache_dir() / "llama.cpp").glob("*"), reverse=True)
    roots.append(Path.home() / "llama.cpp")
    for root in roots:
        for candidate in (root / "build" / "bin" / "llama-server", root / "bin" / "llama-server",
                          root / "llama-server"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    raise TunerError("llama-server not found", hint="run `tui-tuner llama-cpp install` or put llama-server on PATH")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """`async with LlamaServer(gguf, parallel=4) as server: server.endpoint` → http://127.0.0.1:P/v1."""

    def __init__(self, model: str | Path, *, port: int | None = None, host: str = "127.0.0.1",
                 ctx_size: int = 4096, parallel: int = 1, threads: int | None = None,
                 alias: str | None = None, extra_args: Sequence[str] = (), binary: str | Path | None = None,
                 log_path: str | Path | None = None) -> None:
        self.model = Path(model).expanduser()
        self.host = host
        self.port = port
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.threads = threads
        self.alias = alias
        self.extra_args = list(extra_args)
        self.binary = Path(binary) if binary else None
        self.log_path = Path(log_path) if log_path else None
        self.process: asyncio.subprocess.Process | None = None
        self._log_file: object | None = None

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.root}/v1"

    def command(self) -> list[str]:
        binary = self.binary or find_llama_server()
        cmd = [str(binary), "-m", str(self.model), "--host", self.host, "--port", str(self.port),
               "-c", str(self.ctx_size), "-np", str(self.parallel), "-ngl", "0", "--no-webui"]
        if self.threads:
            cmd += ["-t", str(self.threads), "-tb", str(self.threads)]
        if self.alias:
            cmd += ["-a", self.alias]
        return cmd + self.extra_args

    def log_tail(self, lines: int = 5) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return redact(" | ".join(line.strip() for line in text[-lines:] if line.strip()))

    async def start(self, timeout_s: float = 180.0) -> str:
        if not self.model.is_file():
            raise TunerError(f"{self.model}: no such model file", field="model")
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is None:
            self.log_path = paths.ensure(paths.logs_dir()) / f"llama-server-{self.port}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self._log_file = log
        cmd = self.command()
        pid_dir = process_tree.global_children_dir()
        await asyncio.to_thread(process_tree.reap_stale, pid_dir)  # servers of a run killed with SIGKILL
        try:
            self.process = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        except OSError as exc:
            log.close()
            raise TunerError(f"cannot start {cmd[0]}: {exc}") from None
        process_tree.track(self.process.pid, cmd, pid_dir)
        try:
            await self._wait_ready(timeout_s)
        except BaseException:
            await self.stop()
            raise
        return self.endpoint

    async def _wait_ready(self, timeout_s: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=5.0) as client:
            while True:
                if self.process.returncode is not None:
                    raise TunerError(f"llama-server exited with code {self.process.returncode} while starting: "
                                     f"{self.log_tail()}")
                try:
                    response = await client.get(f"{self.root}/health")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # socket not bound yet
                if time.monotonic() > deadline:
                    raise TunerError(f"llama-server not ready after {timeout_s:.0f} s: {self.log_tail()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 0.25)

    async def stop(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if process is not None:
            if process_tree.group_members(process.pid):  # what the server left in its group
                await asyncio.to_thread(process_tree.end_groups, [process.pid], 1.0)
            process_tree.untrack(process.pid)
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None

    async def __aenter__(self) -> LlamaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
