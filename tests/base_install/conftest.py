"""The base-install smoke suite: what `pip install -e .` alone (no extras) must do.

`.ci/run` runs this directory in a fresh venv holding only the base install and the test runner
(pytest, pytest-asyncio, pytest-timeout), with TUI_TUNER_BASE_INSTALL=1; the full suite collects it too,
where the checks that only mean something without the extras are skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.eval_run.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
BASE_INSTALL = os.environ.get("TUI_TUNER_BASE_INSTALL") == "1"
base_install_only = pytest.mark.skipif(not BASE_INSTALL, reason="means something only in the base-install venv "
                                                                "(.ci/run sets TUI_TUNER_BASE_INSTALL=1)")
HEAVY_MODULES = ("torch", "transformers", "trl", "peft")


def tui_tuner_exe() -> str:
    """The `tui-tuner` console script of this venv (the one the README's install puts on PATH)."""
    exe = Path(sys.executable).parent / "tui-tuner"
    assert exe.is_file(), f"{exe}: the install did not create the tui-tuner command"
    return str(exe)


def run_cli(*args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tui_tuner_exe(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "120", **(env or {})}, stdin=subprocess.DEVNULL)


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()
