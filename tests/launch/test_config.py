from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TunerError
from core.launch.config import LaunchConfig, format_duration, load_preset, parse_timeout, save_preset


def fields(config: LaunchConfig) -> dict[str, str]:
    return {e.field: e.message for e in config.validate()}


def test_valid_hub_config_has_no_errors(hub_config: LaunchConfig) -> None:
    assert hub_config.validate() == []


def test_one_error_per_bad_field(tmp_path: Path) -> None:
    config = LaunchConfig(base_model="not a model", dataset=str(tmp_path / "missing.jsonl"),
                          output_repo="me/bad repo", flavor="a10g-hyper", timeout="5x", lora_targets=[],
                          learning_rate=3.0, batch_size=0, trackio_space="nope")
    errors = fields(config)
    assert set(errors) >= {"base_model", "dataset", "output_repo", "flavor", "timeout", "lora_targets",
                           "learning_rate", "batch_size", "trackio_space"}
    assert "no such file" in errors["dataset"]
    for error in config.validate():
        assert "\n" not in error.one_line()


def test_required_fields_and_output_repo_required_for_hf_jobs() -> None:
    errors = fields(LaunchConfig())
    assert errors["base_model"] == "required"
    assert errors["dataset"] == "required"
    assert "required for HF Jobs" in errors["output_repo"]
    local = LaunchConfig(backend="local")
    assert "output_repo" not in fields(local)


@pytest.mark.parametrize(("text", "seconds"), [("6h", 21600), ("90m", 5400), ("1.5h", 5400), ("3600", 3600),
                                                ("2d", 172800), ("45s", 45)])
def test_parse_timeout(text: str, seconds: int) -> None:
    assert parse_timeout(text) == seconds


def test_parse_timeout_rejects_garbage() -> None:
    with pytest.raises(TunerError, match="timeout"):
        parse_timeout("30min")


def test_format_duration_round_trips() -> None:
    assert format_duration(21600) == "6h"
    assert format_duration(5400) == "90m"
    assert format_duration(61) == "61s"


def test_preset_round_trip(tmp_path: Path, hub_config: LaunchConfig) -> None:
    path = save_preset(hub_config.replace(lora_targets=["all-linear"], epochs=2.5), tmp_path / "p.toml")
    assert "[launch]" in path.read_text()
    loaded = load_preset(path)
    assert loaded == hub_config.replace(lora_targets=["all-linear"], epochs=2.5)


def test_preset_top_level_table_and_coercion(tmp_path: Path) -> None:
    path = tmp_path / "flat.toml"
    path.write_text('base_model = "Qwen/Qwen3-14B"\nepochs = 2\nlora_targets = "q_proj, v_proj"\n'
                    'load_in_4bit = "false"\n')
    config = load_preset(path)
    assert config.epochs == 2.0 and config.lora_targets == ["q_proj", "v_proj"] and config.load_in_4bit is False


def test_preset_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 'three'\n")
    with pytest.raises(TunerError, match=r"^epochs: 'three' is not a valid float"):
        load_preset(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epoch = 3\n")
    with pytest.raises(TunerError, match="unknown setting"):
        load_preset(unknown)
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = [\n")
    with pytest.raises(TunerError, match="not valid TOML"):
        load_preset(broken)
    with pytest.raises(TunerError, match="no such file"):
        load_preset(tmp_path / "absent.toml")
