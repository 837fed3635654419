from __future__ import annotations

from pathlib import Path

import pytest

from core.launch.naming import check_instruct_variant


@pytest.mark.parametrize(("model", "suggestion"), [
    ("google/gemma-3-12b", "google/gemma-3-12b-it"),
    ("google/gemma-3-4b-pt", "google/gemma-3-4b-it"),
    ("Qwen/Qwen3-14B-Base", "Qwen/Qwen3-14B"),
    ("meta-llama/Llama-3-8B", "meta-llama/Llama-3-8B-Instruct"),
    ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B-Instruct"),
    ("HuggingFaceTB/SmolLM2-135M", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"),
])
def test_base_models_get_the_instruct_suggestion(model: str, suggestion: str) -> None:
    advice = check_instruct_variant(model)
    assert advice is not None and advice.suggestion == suggestion


@pytest.mark.parametrize("model", [
    "google/gemma-3-12b-it", "Qwen/Qwen3-14B", "meta-llama/Llama-3-8B-Instruct",
    "meta-llama/Meta-Llama-3-8B-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen2.5-7B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3", "some/unknown-model",
])
def test_instruct_models_pass(model: str) -> None:
    assert check_instruct_variant(model) is None


def test_local_folder_with_chat_template_passes(smollm2_hf: Path) -> None:
    assert check_instruct_variant(str(smollm2_hf)) is None


def test_local_folder_without_chat_template_warns(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    advice = check_instruct_variant(str(folder))
    assert advice is not None and "no chat template" in advice.message


def test_local_adapter_folder_is_named_for_the_gguf() -> None:
    from core.convert.pipeline import ConvertSpec
    from core.launch.launcher import adapter_folder_name

    assert adapter_folder_name("me/qwen3-coach", "Qwen/Qwen3-0.6B") == "qwen3-coach"
    assert adapter_folder_name("", "HuggingFaceTB/SmolLM2-135M-Instruct") == "SmolLM2-135M-Instruct-sft"
    assert adapter_folder_name("", "/models/my base/") == "my-base-sft"
    # The wizard names `<name>-<QUANT>.gguf` after that folder, not after the job id that holds it.
    folder = "/data/jobs/local-20261206-162204-97db/" + adapter_folder_name("", "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert ConvertSpec(output_dir=Path("/tmp/out"), adapter=folder).name == "SmolLM2-135M-Instruct-sft"
