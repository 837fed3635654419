"""Pytest plugin (registered from the root conftest): the `fake_hub` fixture.

    def test_x(fake_hub):           # HF_ENDPOINT now points at fake_hub.url
        fake_hub.add_repo("tester/m", files={"config.json": b"{}"})

What it sets for the test (all undone afterwards by monkeypatch):
- env `HF_ENDPOINT=<hub.url>`, and huggingface_hub's import-time copies of it (`constants.ENDPOINT`,
  `constants.HUGGINGFACE_CO_URL_TEMPLATE`, the module-level `HfApi` behind `huggingface_hub.whoami`,
  `list_jobs`...), as if the process had been started with HF_ENDPOINT set — which is how a user points
  the library at a mirror.
- env `HF_HUB_DISABLE_XET=1` and `constants.HF_HUB_DISABLE_XET`: with hf_xet installed, huggingface_hub
  uploads LFS files through Xet storage (a binary CAS protocol the fake does not emulate); disabled, it
  uses the classic LFS batch + PUT path, which the fake implements. Subprocesses inherit the env var.
- env `HF_HUB_DISABLE_EXPERIMENTAL_WARNING=1` (run_uv_job is @experimental).
The accepted token is the test's `HF_TOKEN` (the canary planted by tests/conftest.py), user "tester".
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .server import FakeHub

FALLBACK_TOKEN = "hf_fakehubDefaultToken000000000000000"


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    hub = FakeHub(token=os.environ.get("HF_TOKEN") or FALLBACK_TOKEN, user="tester").start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_EXPERIMENTAL_WARNING", "1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        import huggingface_hub.constants as hf_constants
        import huggingface_hub.hf_api as hf_api_module
    except ImportError:  # pragma: no cover - huggingface_hub is a base dependency
        pass
    else:
        monkeypatch.setattr(hf_constants, "ENDPOINT", hub.url)
        # hf_hub_url() swaps `ENDPOINT` for `endpoint=` in this template: the two must agree.
        monkeypatch.setattr(
            hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_EXPERIMENTAL_WARNING", True)
        monkeypatch.setattr(hf_api_module.api, "endpoint", hub.url)
    try:
        yield hub
    finally:
        hub.close()
