"""`launch --save-preset FILE` saves settings; it is not an order to spend money. Before, it saved the
preset and then submitted the job (with a token at hand, a paid HF Job) — a newcomer who only wanted a
preset to edit got a running job."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_no_canary
from tui_tuner.cli import main

SETTINGS = ["launch", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--dataset", "tester/coaching",
            "--output-repo", "tester/smol-coach", "--flavor", "t4-small", "--timeout", "90m"]


@pytest.fixture
def hub(fake_hub: Any, chat_jsonl: Path) -> Any:
    fake_hub.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct", files={"config.json": b"{}"})
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    return fake_hub


def test_save_preset_saves_and_submits_nothing(hub: Any, capsys: Any, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([*SETTINGS, "--save-preset", "smol.toml"])
    out, err = capsys.readouterr()
    assert_no_canary(out, err)
    assert code == 0, err
    assert hub.created_job_bodies == [] and hub.requests_to(r"^/api/jobs/", "POST") == []
    preset = tomllib.loads((tmp_path / "smol.toml").read_text(encoding="utf-8"))
    assert preset["launch"]["flavor"] == "t4-small"
    assert "nothing submitted; to launch it: tui-tuner launch --preset" in err


def test_save_preset_to_stdout_prints_only_the_preset(hub: Any, capsys: Any) -> None:
    code = main([*SETTINGS, "--save-preset", "-"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert tomllib.loads(out)["launch"]["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # nothing else on stdout
    assert hub.created_job_bodies == []
