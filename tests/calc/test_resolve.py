"""Resolving what the user typed: catalog, local config.json / directory, Hub (fake), offline, broken."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.calc import resolve_architecture
from core.calc.catalog import find_entry
from core.errors import OfflineError, TunerError
from tests.conftest import CANARY_TOKEN

QWEN3_8B = find_entry("qwen3-8b").config  # type: ignore[union-attr]


def test_catalog_key_alias_and_hub_id_resolve_without_network() -> None:
    assert resolve_architecture("gemma-3-12b").source == "catalog:gemma-3-12b"
    assert resolve_architecture("Google/Gemma-3-12B-IT").source == "catalog:gemma-3-12b"
    assert resolve_architecture("llama-3-8b").source == "catalog:llama-3.1-8b"


def test_local_file_and_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(QWEN3_8B))
    by_file = resolve_architecture(str(tmp_path / "config.json"))
    by_dir = resolve_architecture(str(tmp_path))
    assert by_file.total_params == by_dir.total_params == 8_190_735_360


def test_smollm2_test_model_directory(smollm2_hf: Path) -> None:
    arch = resolve_architecture(str(smollm2_hf))
    assert arch.hidden_size == 576 and arch.num_layers == 30 and arch.vocab_size == 49152


@pytest.mark.parametrize(("content", "needle"), [
    ('{"hidden_size": 10,', "broken config.json"),
    ("[1, 2]", "not a JSON object"),
    ('{"model_type": "llama"}', "no valid hidden_size"),
])
def test_broken_local_config_is_one_line(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(TunerError) as info:
        resolve_architecture(str(path))
    assert needle in info.value.one_line() and "\n" not in info.value.one_line()


def test_unknown_name_and_missing_path() -> None:
    with pytest.raises(TunerError, match="unknown model 'not a model'"):
        resolve_architecture("not a model")
    with pytest.raises(TunerError, match=r"no config\.json"):
        resolve_architecture("./nowhere/config.json")
    with pytest.raises(TunerError, match="no model given"):
        resolve_architecture("  ")


def test_offline_hub_fails_fast_with_one_line() -> None:
    # conftest points HF_ENDPOINT at a closed loopback port: a dead network, answered at once.
    started = time.monotonic()
    with pytest.raises(OfflineError) as info:
        resolve_architecture("someone/unknown-model")
    assert time.monotonic() - started < 5
    assert "unreachable" in info.value.one_line()


def test_hub_config_fetched_through_fake_hub(fake_hub) -> None:  # type: ignore[no-untyped-def]
    fake_hub.add_repo("tester/my-qwen", files={"config.json": json.dumps(QWEN3_8B).encode(),
                                               "model.safetensors": b"x" * 10})
    arch = resolve_architecture("tester/my-qwen")
    assert arch.source == "hub:tester/my-qwen" and arch.total_params == 8_190_735_360
    paths = [r.path for r in fake_hub.requests]
    assert any(p.endswith("/config.json") for p in paths)
    assert not any("safetensors" in p for p in paths)  # only config.json is fetched


def test_hub_errors_are_one_line(fake_hub) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TunerError) as info:
        resolve_architecture("tester/does-not-exist")
    assert "not found" in info.value.one_line() and CANARY_TOKEN not in info.value.one_line()
    fake_hub.add_repo("tester/broken", files={"config.json": b"{not json"})
    with pytest.raises(TunerError, match=r"broken config\.json"):
        resolve_architecture("tester/broken")
    fake_hub.add_repo("tester/gated", files={"config.json": json.dumps(QWEN3_8B).encode()}, gated="manual")
    with pytest.raises(TunerError) as gated:
        resolve_architecture("tester/gated")
    assert "\n" not in gated.value.one_line()
