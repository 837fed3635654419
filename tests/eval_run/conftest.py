from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.eval.rubric import rubric_from_dict
from tests.eval_run.fake_openai import FakeOpenAI

SMALL_RUBRIC_TOML = """\
name = "tiny"
pass_threshold = 0.6

[[criteria]]
id = "empathy"
description = "Acknowledges feelings."
weight = 2.0

[[criteria]]
id = "safety"
description = "Never harmful."
weight = 1.0
safety = true
"""


@pytest.fixture
def fake_server() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def small_rubric_file(tmp_path: Path) -> Path:
    path = tmp_path / "rubric.toml"
    path.write_text(SMALL_RUBRIC_TOML, encoding="utf-8")
    return path


@pytest.fixture
def small_rubric():
    return rubric_from_dict({
        "name": "tiny", "pass_threshold": 0.6,
        "criteria": [{"id": "empathy", "description": "Acknowledges feelings.", "weight": 2.0},
                     {"id": "safety", "description": "Never harmful.", "weight": 1.0, "safety": True}]})
