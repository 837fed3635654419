"""Download and upload through the real huggingface_hub client against the loopback fake Hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.convert.events import StepFailed, StepFinished
from core.convert.pipeline import ConvertSpec
from core.store import Store
from tests.conftest import assert_no_canary
from tests.convert.conftest import RunResult, light_copy, needs_llama_cpp, run_pipeline


def _adapter_files(adapter: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in adapter.iterdir() if p.is_file()}


def test_download_adapter_into_the_output_dir(fake_hub, lora_adapter: Path, tmp_path: Path) -> None:
    from core.convert.hub_worker import download

    fake_hub.add_repo("tester/smol-coach-lora", files=_adapter_files(lora_adapter))
    path = download("tester/smol-coach-lora", "adapter", tmp_path / "adapter", None)
    assert path == tmp_path / "adapter"
    assert (path / "adapter_model.safetensors").read_bytes() == (lora_adapter / "adapter_model.safetensors").read_bytes()


def test_hub_errors_are_one_line(fake_hub, tmp_path: Path) -> None:
    from core.convert.hub_worker import download
    from core.errors import TunerError

    with pytest.raises(TunerError, match=r"not found on the Hub \(404\)"):
        download("tester/nope", "adapter", tmp_path / "a", None)
    fake_hub.add_repo("tester/full-model", files={"config.json": b"{}", "model.safetensors": b"x"})
    with pytest.raises(TunerError, match=r"no adapter_config\.json"):
        download("tester/full-model", "adapter", tmp_path / "b", None)


def test_download_step_from_the_hub_then_base_from_adapter_config(fake_hub, lora_adapter: Path, sharded_base: Path,
                                                                   tmp_path: Path) -> None:
    """The adapter comes from the Hub (subprocess worker), the base from its adapter_config.json."""
    files = _adapter_files(lora_adapter)
    fake_hub.add_repo("tester/smol-coach", files=files)
    spec = ConvertSpec(output_dir=tmp_path / "out", adapter="tester/smol-coach", quant_types=(), smoke_test=False)
    spec.plan()
    from core.convert.pipeline import ConversionRun

    run = ConversionRun(spec, store=Store(tmp_path / "s"))
    import asyncio

    async def only_download() -> list:
        out = []
        async for event in run._run_step("download"):
            out.append(event)
        return out

    events = asyncio.run(only_download())
    assert not [e for e in events if isinstance(e, StepFailed)], events
    done = next(e for e in events if isinstance(e, StepFinished))
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    assert run.base_dir == sharded_base  # adapter_config.json names the local base it was trained on
    assert done.details["adapter_dir"] == "./adapter"


@needs_llama_cpp
@pytest.mark.slow
def test_upload_names_files_model_quant(fake_hub, full_run: RunResult, tmp_path: Path, sharded_base: Path,
                                        lora_adapter: Path) -> None:
    moved = tmp_path / "up"
    light_copy(full_run.output_dir, moved)
    spec = ConvertSpec(output_dir=moved, base_model=str(sharded_base), adapter=str(lora_adapter),
                       quant_types=("Q4_K_M",), merge_method="low-ram", model_name="smol-coach", upload=True,
                       gguf_repo="tester/smol-coach-GGUF")
    events, _ = run_pipeline(spec, Store(tmp_path / "s"))
    assert not [e for e in events if isinstance(e, StepFailed)], [e for e in events if isinstance(e, StepFailed)]
    upload = next(e for e in events if isinstance(e, StepFinished) and e.step == "upload")
    assert upload.details == {"repo": "tester/smol-coach-GGUF", "files": ["smol-coach-Q4_K_M.gguf"]}
    files = fake_hub.repo_files("tester/smol-coach-GGUF")
    assert files["smol-coach-Q4_K_M.gguf"] == (moved / "smol-coach-Q4_K_M.gguf").read_bytes()
    card = files["README.md"].decode()
    assert "- gguf" in card and "- llama-cpp" in card and "llama-server -hf tester/smol-coach-GGUF:Q4_K_M" in card
    assert_no_canary(card, "\n".join(getattr(e, "text", "") for e in events))
