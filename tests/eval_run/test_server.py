from __future__ import annotations

import socket
from pathlib import Path

import pytest

from core.errors import TunerError
from core.eval.server import LlamaServer, find_llama_server, free_port


def _binary() -> Path:
    try:
        return find_llama_server()
    except TunerError as exc:
        pytest.skip(f"llama-server not available: {exc}")


def test_find_llama_server_honours_the_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "build" / "bin" / "llama-server"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr("core.llama_cpp.locate_llama_cpp", lambda: (_ for _ in ()).throw(TunerError("none")))
    monkeypatch.setenv("TUI_TUNER_LLAMA_CPP", str(tmp_path))
    assert find_llama_server() == fake


def test_command_line_is_explicit(tmp_path: Path) -> None:
    server = LlamaServer(tmp_path / "m.gguf", port=8123, ctx_size=2048, parallel=4, threads=1, alias="m",
                         binary="/bin/llama-server", extra_args=["--poll", "0"])
    cmd = server.command()
    assert cmd[:3] == ["/bin/llama-server", "-m", str(tmp_path / "m.gguf")]
    joined = " ".join(cmd)
    for part in ("--host 127.0.0.1", "--port 8123", "-c 2048", "-np 4", "-ngl 0", "-t 1", "-a m", "--poll 0"):
        assert part in joined
    assert server.endpoint == "http://127.0.0.1:8123/v1"


async def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(TunerError, match="no such model file"):
        await LlamaServer(tmp_path / "absent.gguf", binary="/bin/true").start()


async def test_a_broken_model_fails_fast_with_the_servers_line(tmp_path: Path) -> None:
    binary = _binary()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all" * 100)
    server = LlamaServer(bad, binary=binary, log_path=tmp_path / "log.txt")
    with pytest.raises(TunerError, match="exited with code") as info:
        await server.start(timeout_s=60)
    assert "\n" not in str(info.value)
    assert server.process is not None and server.process.returncode is not None


async def test_a_taken_port_fails_fast(tmp_path: Path, smollm2_gguf: Path) -> None:
    binary = _binary()
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        server = LlamaServer(smollm2_gguf, binary=binary, port=port, log_path=tmp_path / "log.txt")
        with pytest.raises(TunerError, match=r"exited with code|not ready"):
            await server.start(timeout_s=60)
