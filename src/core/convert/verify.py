"""Check a GGUF two ways: read its header and tensor table (`core.convert.gguf_header`: metadata only,
milliseconds even for 20 GB, and the file size checked against where the tensor data must end) and load
it in `llama-server` for one real chat completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safe_json
from core.convert.events import Event, LogLine, Progress
from core.convert.logparse import ServerParser
from core.convert.process import ProcessOutcome, kill_group, shell_line, stream_process
from core.errors import TunerError


@dataclass
class GGUFInfo:
    path: str
    architecture: str | None
    file_type: str | None
    general_type: str | None
    name: str | None
    tensor_count: int
    tensor_types: dict[str, int]
    has_chat_template: bool
    tokenizer_model: str | None
    context_length: int | None
    block_count: int | None
    lora_alpha: float | None
    size_bytes: int
    problems: list[str] = field(default_factory=list)


def read_gguf(path: Path, expect_file_type: str | None = None, expect_adapter: bool = False) -> GGUFInfo:
    """Read a GGUF's header and tensor table (never its tensor data); `problems` lists what is wrong."""
    from core.convert.gguf_header import GGUFFormatError, read_header

    try:
        header = read_header(path)
    except (GGUFFormatError, OSError) as exc:
        raise TunerError(f"{path.name}: not a readable GGUF ({exc})", hint="rerun the step that wrote it") from None
    arch = header.get("general.architecture")
    file_type = header.file_type_name
    info = GGUFInfo(
        path=str(path), architecture=arch, file_type=file_type, general_type=header.get("general.type"),
        name=header.get("general.name"), tensor_count=len(header.tensors), tensor_types=header.tensor_types,
        has_chat_template=header.get("tokenizer.chat_template") is not None,
        tokenizer_model=header.get("tokenizer.ggml.model"),
        context_length=header.get(f"{arch}.context_length") if arch else None,
        block_count=header.get(f"{arch}.block_count") if arch else None,
        lora_alpha=header.get("adapter.lora.alpha"), size_bytes=header.file_size,
        problems=list(header.problems),
    )
    if not arch:
        info.problems.append("no general.architecture")
    if info.tensor_count == 0:
        info.problems.append("no tensors")
    if expect_adapter:
        if info.general_type != "adapter":
            info.problems.append(f"general.type is {info.general_type!r}, expected 'adapter'")
    else:
        if expect_file_type and file_type and not file_type.endswith(expect_file_type.upper()) and \
                file_type != f"MOSTLY_{expect_file_type.upper()}":
            info.problems.append(f"file type {file_type}, expected {expect_file_type}")
        if not info.has_chat_template:
            info.problems.append("no tokenizer.chat_template")
    return info


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http(method: str, url: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, safe_json.loads(resp.read() or b"null", source="llama-server's reply")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, safe_json.loads(exc.read() or b"null", source="llama-server's reply")
        except ValueError:
            return exc.code, None


@dataclass
class SmokeResult:
    ok: bool = False
    reply: str = ""
    finish_reason: str | None = None
    tokens_per_second: float | None = None
    load_seconds: float | None = None
    chat_template: bool | None = None
    error: str | None = None
    hint: str = ""


async def smoke_test(server_bin: Path, gguf: Path, result: SmokeResult, *, step: str = "verify",
                     lora: Path | None = None, ctx: int = 2048, gpu_layers: int = 0,
                     load_timeout: float = 600.0, prompt: str = "Say hello in one short sentence.",
                     max_tokens: int = 24, pid_dir: Path | None = None) -> AsyncIterator[Event]:
    """Start llama-server on a free loopback port, wait for /health, ask one chat completion, stop it.

    The server's own log is streamed as LogLines; if it exits while loading, its error line is reported.
    """
    port = free_port()
    argv: list[str | Path] = [server_bin, "-m", gguf, "--host", "127.0.0.1", "--port", str(port), "-c", str(ctx),
                              "-np", "1", "-ngl", str(gpu_layers)]
    if lora is not None:
        argv += ["--lora", lora]
    yield LogLine(step, "$ " + shell_line(argv))
    parser = ServerParser(step)
    outcome = ProcessOutcome()
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in stream_process(argv, parser, outcome, pid_dir=pid_dir):
                await queue.put(event)
        finally:
            await queue.put(None)

    task = asyncio.create_task(pump())
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    exited = False
    try:
        # Phase 1: wait for /health (fail fast if the process exits).
        while True:
            while not queue.empty():
                event = queue.get_nowait()
                if event is None:
                    exited = True
                    break
                yield event
            if exited:
                result.error = outcome.error_line or f"llama-server exited with {outcome.returncode} while loading"
                return
            status, _ = await asyncio.to_thread(_safe_http, "GET", base + "/health")
            if status == 200:
                break
            if time.monotonic() - started > load_timeout:
                result.error = f"llama-server not ready after {load_timeout:.0f}s"
                return
            yield Progress(step, time.monotonic() - started, None, "s", "waiting for llama-server /health")
            await asyncio.sleep(0.4)
        result.load_seconds = time.monotonic() - started
        yield LogLine(step, f"llama-server ready on {base} after {result.load_seconds:.1f}s")
        _, props = await asyncio.to_thread(_safe_http, "GET", base + "/props")
        if isinstance(props, dict):
            result.chat_template = bool(props.get("chat_template"))
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0}
        status, reply = await asyncio.to_thread(_safe_http, "POST", base + "/v1/chat/completions", body, 300.0)
        while not queue.empty():
            event = queue.get_nowait()
            if event is not None:
                yield event
        if status != 200 or not isinstance(reply, dict):
            result.error = f"chat completion failed: HTTP {status} {str(reply)[:200]}"
            return
        choice = (reply.get("choices") or [{}])[0]
        result.reply = str((choice.get("message") or {}).get("content") or "")
        result.finish_reason = choice.get("finish_reason")
        timings = reply.get("timings") or {}
        result.tokens_per_second = timings.get("predicted_per_second")
        if not result.reply.strip():
            result.error = "llama-server answered with empty content"
            return
        result.ok = True
        yield LogLine(step, f"reply ({result.finish_reason}): {result.reply.strip()[:200]}")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        # Cancelling the pump ran stream_process' cleanup: SIGTERM to the group, SIGKILL after a grace.


def _safe_http(method: str, url: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        return _http(method, url, body, timeout)
    except (OSError, ValueError):
        return 0, None


__all__ = ["GGUFInfo", "SmokeResult", "free_port", "kill_group", "read_gguf", "smoke_test"]
