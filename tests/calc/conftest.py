"""Calculator test fixtures."""

from __future__ import annotations

import pytest

from core.calc import ModelArchitecture, resolve_architecture


@pytest.fixture
def llama3b() -> ModelArchitecture:
    return resolve_architecture("llama-3.2-3b")


@pytest.fixture
def gemma12b() -> ModelArchitecture:
    return resolve_architecture("gemma-3-12b")
