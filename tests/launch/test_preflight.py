"""Preflight findings: one line each, on the right field, with a fix; Hub checks against the fake Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.launch.config import LaunchConfig
from core.launch.preflight import LocalGpu, PreflightOptions, expected_steps, run_preflight
from tests.launch.conftest import cpu_config

OFFLINE = PreflightOptions(online=False)


def by_field(report) -> dict[str, str]:
    return report.field_errors()


def test_cpu_machine_rejects_4bit_and_bnb_optimizer(smollm2_hf: Path, chat_jsonl: Path) -> None:
    config = cpu_config(smollm2_hf, chat_jsonl, load_in_4bit=True, optimizer="adamw_8bit")
    report = run_preflight(config, PreflightOptions(online=False, local_gpu_probe=lambda: None))
    errors = by_field(report)
    assert "CUDA" in errors["load_in_4bit"] and "adamw_torch" in errors["optimizer"]
    assert any("CPU" in w.message for w in report.warnings)


def test_cpu_config_passes(smollm2_hf: Path, chat_jsonl: Path) -> None:
    report = run_preflight(cpu_config(smollm2_hf, chat_jsonl), PreflightOptions(online=False, local_gpu_probe=lambda: None))
    assert report.ok, [f.one_line() for f in report.errors]
    assert report.expected_steps == 3 and report.dataset and report.dataset.num_examples == 16


def test_local_gpu_too_small(smollm2_hf: Path, chat_jsonl: Path) -> None:
    config = cpu_config(smollm2_hf, chat_jsonl, max_length=65536, batch_size=64, gradient_checkpointing=False)
    report = run_preflight(config, PreflightOptions(online=False, local_gpu_probe=lambda: LocalGpu("Tiny GPU", 2.0)))
    assert "Tiny GPU" in by_field(report)["max_length"]


def test_gemma3_16k_does_not_fit_a10g_and_a100_is_named(hub_config: LaunchConfig) -> None:
    """The guide's table: Gemma 3 at 16k context needs an A100."""
    report = run_preflight(hub_config.replace(max_length=16384, flavor="a10g-large"), OFFLINE)
    message = by_field(report)["flavor"]
    assert "does not fit a10g-large" in message
    assert report.cheapest_flavor is not None
    assert report.cheapest_flavor in message
    fits = run_preflight(hub_config.replace(max_length=2048, flavor="a10g-large"), OFFLINE)
    assert "flavor" not in by_field(fits)
    assert any(f.check == "memory" and f.severity == "ok" for f in fits.findings)


def test_local_dataset_and_model_rejected_for_hf_jobs(hub_config: LaunchConfig, chat_jsonl: Path, smollm2_hf: Path) -> None:
    report = run_preflight(hub_config.replace(dataset=str(chat_jsonl), base_model=str(smollm2_hf)), OFFLINE)
    errors = by_field(report)
    assert "not visible inside an HF job" in errors["dataset"] and "hf upload" in errors["dataset"]
    assert "not visible inside an HF job" in errors["base_model"]


def test_base_model_warns_with_the_instruct_id(hub_config: LaunchConfig) -> None:
    report = run_preflight(hub_config.replace(base_model="Qwen/Qwen3-14B-Base"), OFFLINE)
    (warning,) = [f for f in report.warnings if f.field == "base_model" and f.check == "model"]
    assert "Qwen/Qwen3-14B" in warning.fix


def test_offline_skips_hub_checks_visibly(hub_config: LaunchConfig) -> None:
    report = run_preflight(hub_config)  # HF_ENDPOINT points at a closed port (tests/conftest.py)
    assert report.online is False
    assert any("offline" in w.message and "skipped" in w.message for w in report.warnings)
    assert report.ok


def test_mlx_is_plainly_unavailable_off_apple_silicon(hub_config: LaunchConfig, chat_jsonl: Path) -> None:
    import platform

    report = run_preflight(hub_config.replace(backend="mlx", dataset=str(chat_jsonl)), OFFLINE)
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        pytest.skip("this machine can run MLX")
    assert "MLX needs Apple Silicon" in by_field(report)["backend"]


def _long_rows(n: int) -> bytes:
    row = {"messages": [{"role": "user", "content": "q " * 800}, {"role": "assistant", "content": "a " * 1200}]}
    return ("\n".join(json.dumps(row) for _ in range(n)) + "\n").encode()


def test_timeout_too_short_for_the_expected_steps(fake_hub, hub_config: LaunchConfig) -> None:
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": _long_rows(5000)})
    report = run_preflight(hub_config.replace(timeout="1h"))
    assert report.expected_steps == expected_steps(hub_config, 5000) == 1875
    message = by_field(report)["timeout"]
    assert "shorter than the estimated" in message and "set timeout to at least" in message
    ok = run_preflight(hub_config.replace(timeout="2d"))
    assert "timeout" not in by_field(ok)
    assert ok.estimated_seconds and ok.estimated_cost


def test_hub_checks_against_the_fake_hub(fake_hub, hub_config: LaunchConfig, chat_jsonl: Path) -> None:
    fake_hub.add_repo("google/gemma-3-12b-it", files={"config.json": b"{}"}, gated=True)
    fake_hub.add_repo("tester/coaching", repo_type="dataset", files={"train.jsonl": chat_jsonl.read_bytes()})
    report = run_preflight(hub_config.replace(output_repo="someone-else/model"))
    assert report.online is True and report.namespace == "tester"
    errors = by_field(report)
    assert "gated" in errors["base_model"] and "accept the license" in errors["base_model"]
    assert "cannot create repos under 'someone-else'" in errors["output_repo"]
    assert report.dataset and report.dataset.num_examples == 16


def test_missing_hub_dataset_and_model(fake_hub, hub_config: LaunchConfig) -> None:
    report = run_preflight(hub_config.replace(dataset="tester/absent", base_model="tester/nope-it"))
    errors = by_field(report)
    assert "not found" in errors["dataset"] and "not found" in errors["base_model"]


def test_no_token_is_an_error_for_hf_jobs(fake_hub, hub_config: LaunchConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    report = run_preflight(hub_config)
    assert "no Hugging Face token" in by_field(report)["token"]


def test_findings_are_one_line(hub_config: LaunchConfig) -> None:
    report = run_preflight(hub_config.replace(base_model="google/gemma-3-12b", max_length=16384, flavor="t4-small",
                                              output_repo="bad repo"), OFFLINE)
    assert report.errors
    for finding in report.findings:
        assert "\n" not in finding.one_line()


def test_read_only_token_would_fail_at_push(fake_hub, hub_config: LaunchConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    real = HfApi.whoami

    def read_only(self, *args, **kwargs):
        info = dict(real(self, *args, **kwargs))
        info["auth"] = {"accessToken": {"role": "read"}}
        return info

    monkeypatch.setattr(HfApi, "whoami", read_only)
    report = run_preflight(hub_config)
    assert "read-only" in by_field(report)["token"]


def test_expected_steps_follow_the_guide_formula(hub_config: LaunchConfig) -> None:
    """(examples ÷ effective batch) × epochs — the guide's 1294 examples, batch 8, 3 epochs → 486 steps."""
    config = hub_config.replace(batch_size=1, gradient_accumulation=8, epochs=3)
    assert expected_steps(config, 1294) == 486
    assert expected_steps(config.replace(max_steps=10), 1294) == 10
    held_out = config.replace(eval_fraction=0.1)  # 130 held out, 1164 trained on
    assert held_out.train_examples(1294) == 1164
    assert expected_steps(held_out, 1294) == 3 * 146
