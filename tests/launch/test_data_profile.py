"""The launcher sized by the data: the preflight counts the dataset in the model's real tokens (offline: the
SmolLM2 test model's tokenizer and chat template), for steps, time and cost, the share truncated at max_length
and memory at p95/p99/max; a dataset it cannot profile falls back to characters ÷ 3.8 in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.calc import resolve_architecture
from core.calc.dataset_profile import profile_dataset
from core.flavors import get_flavor
from core.launch import data_profile
from core.launch.config import LaunchConfig
from core.launch.preflight import (
    STARTUP_SECONDS,
    PreflightOptions,
    _attn_width,
    _total_params,
    estimate_seconds,
    run_preflight,
)
from tests.launch.conftest import cpu_config
from tui_tuner.cli import main

OFFLINE = PreflightOptions(online=False)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    data_profile.clear_cache()


def write_lengths(path: Path, words: list[int]) -> Path:
    """One conversation per entry, its user turn `n` words long."""
    rows = [{"messages": [{"role": "user", "content": "word " * n}, {"role": "assistant", "content": "ok, noted."}]}
            for n in words]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def spread(tmp_path: Path) -> Path:
    """100 conversations from ~40 to ~2,000 tokens: max_length 1024 cuts about half."""
    return write_lengths(tmp_path / "spread.jsonl", list(range(20, 2020, 20)))


def by_check(report, check: str):  # type: ignore[no-untyped-def]
    return [f for f in report.findings if f.check == check]


def test_tokens_per_example_come_from_the_tokenizer(smollm2_hf: Path, spread: Path) -> None:
    report = run_preflight(cpu_config(smollm2_hf, spread, max_length=1024), OFFLINE)
    reference = profile_dataset(str(spread), model=str(smollm2_hf))
    assert report.tokens_source == "tokenizer" and report.data_profile is not None
    assert report.data_profile.profile.lengths == reference.lengths
    # Conversations longer than max_length count max_length (the trainer cuts them).
    expected = round(sum(min(n, 1024) for n in reference.lengths) / len(reference.lengths))
    assert report.tokens_per_example == expected < reference.mean
    chars = report.dataset.avg_tokens if report.dataset else None
    assert chars and abs(chars - expected) > 20  # the ÷ 3.8 guess is not what is used
    (line,) = [f for f in by_check(report, "tokens") if f.severity == "info"]
    assert "chat template" in line.message and "all 100 conversations" in line.message and "p95" in line.message


def test_truncation_warning_names_the_suggested_max_length(smollm2_hf: Path, spread: Path) -> None:
    report = run_preflight(cpu_config(smollm2_hf, spread, max_length=1024), OFFLINE)
    prof = report.data_profile.profile  # type: ignore[union-attr]
    (warning,) = [f for f in report.warnings if f.check == "truncation"]
    suggested = -(-prof.percentile(0.99) // 64) * 64
    assert warning.field == "max_length" and f"{prof.truncated_share(1024):.1%}" in warning.message
    assert f"set max_length to {suggested:,}" in warning.fix
    fixed = run_preflight(cpu_config(smollm2_hf, spread, max_length=suggested), OFFLINE)
    assert not [f for f in fixed.warnings if f.check == "truncation"]
    assert [f.severity for f in by_check(fixed, "truncation")] in (["info"], ["ok"])


def test_memory_at_p95_p99_max_and_json(smollm2_hf: Path, spread: Path) -> None:
    report = run_preflight(cpu_config(smollm2_hf, spread, max_length=512), OFFLINE)
    out = report.to_dict()
    assert [m["at"] for m in out["data_profile"]["memory"]] == ["p95", "p99", "max"]
    peaks = [m["peak_gb"] for m in out["data_profile"]["memory"]]
    assert peaks == sorted(peaks) and all(m["flavor"] for m in out["data_profile"]["memory"])
    assert out["tokens_source"] == "tokenizer" and out["data_profile"]["max_length"] == 512
    assert out["data_profile"]["sample_size"] == data_profile.PROFILE_SAMPLE
    assert any("peak at the data's lengths: p95" in f.message for f in report.findings)


def test_profiled_once_per_dataset_and_tokenizer(smollm2_hf: Path, spread: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = data_profile._profile

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("profile")
        return real(*args, **kwargs)

    monkeypatch.setattr(data_profile, "_profile", counting)
    for length in (256, 512, 1024, 512):  # the form re-runs preflight on every change
        run_preflight(cpu_config(smollm2_hf, spread, max_length=length), OFFLINE)
    assert calls == ["profile"]
    stat = spread.stat()
    os.utime(spread, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new version of the file
    run_preflight(cpu_config(smollm2_hf, spread, max_length=512), OFFLINE)
    assert calls == ["profile", "profile"]


def test_sample_is_stated(smollm2_hf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_profile, "PROFILE_SAMPLE", 30)
    data = write_lengths(tmp_path / "big.jsonl", [10 + i % 50 for i in range(120)])
    report = run_preflight(cpu_config(smollm2_hf, data), OFFLINE)
    (line,) = [f for f in by_check(report, "tokens") if f.severity == "info"]
    assert "a sample of 30 of 120 conversations" in line.message


def test_hub_model_not_in_cache_falls_back_to_characters(chat_jsonl: Path) -> None:
    """Offline, a Hub model whose tokenizer was never downloaded: characters ÷ 3.8, one line, no error."""
    config = LaunchConfig(base_model="tester/never-downloaded-it", dataset=str(chat_jsonl), backend="local",
                          load_in_4bit=False, optimizer="adamw_torch")
    report = run_preflight(config, OFFLINE)
    assert report.tokens_source == "chars/3.8" and report.data_profile is None
    (line,) = by_check(report, "tokens")
    assert line.severity == "info" and "characters ÷ 3.8" in line.message and "not in the Hugging Face cache" in line.message
    assert "\n" not in line.one_line() and not [f for f in report.errors if f.check in ("tokens", "truncation")]
    assert report.tokens_per_example == pytest.approx(report.dataset.avg_tokens)  # type: ignore[union-attr]


def test_model_without_tokenizer_falls_back(tmp_path: Path, chat_jsonl: Path, smollm2_hf: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_bytes((smollm2_hf / "config.json").read_bytes())
    report = run_preflight(cpu_config(folder, chat_jsonl), OFFLINE)
    (line,) = by_check(report, "tokens")
    assert "characters ÷ 3.8" in line.message and "no tokenizer.json" in line.message


def test_hf_jobs_time_and_cost_from_real_tokens(fake_hub, smollm2_hf: Path, spread: Path) -> None:  # type: ignore[no-untyped-def]
    """Online: a Hub dataset and the model's tokenizer from the (fake) Hub; time and cost use the real tokens,
    and the later as-you-type (offline) preflights reuse the profile."""
    repo = "HuggingFaceTB/SmolLM2-135M-Instruct"
    fake_hub.add_repo(repo, files={name: (smollm2_hf / name).read_bytes() for name in
                                   ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")})
    fake_hub.add_repo("tester/spread", repo_type="dataset", files={"train.jsonl": spread.read_bytes()})
    config = LaunchConfig(base_model=repo, dataset="tester/spread", output_repo="tester/smol", flavor="t4-small",
                          trackio_space="tester/trackio", timeout="2d", max_length=1024)
    report = run_preflight(config)
    assert report.online is True and report.tokens_source == "tokenizer", [f.one_line() for f in report.findings]
    reference = profile_dataset(str(spread), model=str(smollm2_hf))
    assert report.tokens_per_example == reference.mean_tokens_at(1024)
    assert report.estimated_seconds and report.estimated_cost
    arch = resolve_architecture(repo, allow_hub=True)
    flavor = get_flavor("t4-small")
    assert flavor is not None
    train = estimate_seconds(config, steps=report.expected_steps or 0, params=_total_params(arch),
                             avg_tokens=reference.mean_tokens_at(1024), flavor=flavor, attn_width=_attn_width(arch))
    assert report.estimated_seconds == pytest.approx((train or 0) + STARTUP_SECONDS)
    offline = run_preflight(config.replace(max_length=512), OFFLINE)  # the form, as you type: no Hub read
    assert offline.tokens_source == "tokenizer" and offline.tokens_per_example == reference.mean_tokens_at(512)


def test_dry_run_shows_it_human_and_json(smollm2_hf: Path, spread: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["launch", "--backend", "local", "--model", str(smollm2_hf), "--dataset", str(spread), "--max-length",
            "1024", "--no-load-in-4bit", "--optimizer", "adamw_torch", "--offline", "--dry-run"]
    assert main(args) == 0
    human = capsys.readouterr().out
    assert "tokenizer + chat template on all 100 conversations" in human
    assert "get truncated — set max_length to" in human
    assert main([*args, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    pre = plan["preflight"]
    assert pre["tokens_source"] == "tokenizer" and pre["data_profile"]["profiled"] == 100
    assert pre["data_profile"]["truncated_at_max_length"] > 0.4 and pre["data_profile"]["histogram"]


def test_big_hub_dataset_is_not_downloaded_to_count_tokens(fake_hub, smollm2_hf: Path, spread: Path,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from core.launch import dataset

    monkeypatch.setattr(dataset, "MAX_HUB_FILE_BYTES", 1000)  # spread.jsonl is larger than this
    repo = "HuggingFaceTB/SmolLM2-135M-Instruct"
    fake_hub.add_repo(repo, files={name: (smollm2_hf / name).read_bytes() for name in ("config.json", "tokenizer.json")})
    fake_hub.add_repo("tester/spread", repo_type="dataset", files={"train.jsonl": spread.read_bytes()})
    called: list[str] = []
    monkeypatch.setattr(data_profile, "_profile", lambda *a, **k: called.append("x"))
    report = run_preflight(LaunchConfig(base_model=repo, dataset="tester/spread", output_repo="tester/smol",
                                        flavor="t4-small", trackio_space="tester/trackio"))
    (line,) = by_check(report, "tokens")
    assert "characters ÷ 3.8" in line.message and "over" in line.message and called == []
