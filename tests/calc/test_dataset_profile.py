"""Sized by the data: token lengths with the model's own tokenizer and chat template (offline: the SmolLM2
test model's tokenizer, built locally), truncation shares, and memory / flavor / cost at p95, p99 and max."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.calc.dataset_profile import DatasetProfile, load_tokenizer, profile_dataset, sized_by_data
from core.calc.plan import DEFAULT_FIELDS
from core.errors import TunerError
from tui_tuner.cli import main

CONVERSATIONS = [
    [{"role": "system", "content": "You are a supportive coach."},
     {"role": "user", "content": "I keep missing my morning runs. How do I build the habit?"},
     {"role": "assistant", "content": "Start with five minutes, same time every day, and log each run."}],
    [{"role": "user", "content": "Short one."}, {"role": "assistant", "content": "Sure."}],
    [{"role": "user", "content": "Plan my week: " + "meetings and deadlines, " * 60},
     {"role": "assistant", "content": "Here is a plan: " + "focus block, break, " * 80}],
]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def chats(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "chats.jsonl", [{"messages": m} for m in CONVERSATIONS])


def test_counts_equal_transformers_chat_template(smollm2_hf: Path, chats: Path) -> None:
    transformers = pytest.importorskip("transformers")
    reference = transformers.AutoTokenizer.from_pretrained(str(smollm2_hf))
    expected = sorted(len(reference.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"])
                      for m in CONVERSATIONS)
    profile = profile_dataset(str(chats), model=str(smollm2_hf))
    assert list(profile.lengths) == expected
    assert profile.chat_template and profile.total == 3 and not profile.sampled


def test_row_formats(smollm2_hf: Path, tmp_path: Path) -> None:
    tok = load_tokenizer(str(smollm2_hf))
    rows = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            {"prompt": "hi", "completion": "hello"},
            {"instruction": "hi", "input": "", "output": "hello"},
            {"text": "plain text row"},
            {"nothing": "here"}]
    profile = profile_dataset(str(write_jsonl(tmp_path / "mixed.jsonl", rows)), model="", tokenizer=tok)
    assert profile.profiled == 5 and profile.skipped == 1
    # The four chat forms are one and the same conversation.
    lengths = sorted(profile.lengths)
    assert lengths.count(lengths[-1]) == 4


def test_percentiles_truncation_and_histogram() -> None:
    profile = DatasetProfile(source="x", tokenizer="t", chat_template=True, total=100,
                             lengths=tuple(range(1, 101)), sampled=False)
    assert (profile.percentile(0.5), profile.percentile(0.95), profile.percentile(0.99)) == (50, 95, 99)
    assert profile.truncated_share(90) == pytest.approx(0.10)
    assert profile.mean_tokens_at(50) == round((sum(range(1, 51)) + 50 * 50) / 100)
    hist = profile.histogram(10)
    assert sum(c for _, _, c in hist) == 100 and hist[0][0] == 0
    data = profile.to_dict([2048])
    assert data["percentiles"]["max"] == 100 and any(r["max_length"] == 2048 for r in data["truncation"])


def test_sampling_is_stated_and_repeatable(smollm2_hf: Path, tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": "word " * (i % 50 + 1)}]} for i in range(500)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    tok = load_tokenizer(str(smollm2_hf))
    a = profile_dataset(str(path), model="", tokenizer=tok, sample=100, seed=3)
    b = profile_dataset(str(path), model="", tokenizer=tok, sample=100, seed=3)
    assert a.sampled and a.profiled == 100 and a.total == 500 and a.lengths == b.lengths
    assert a.to_dict()["seed"] == 3


@pytest.mark.parametrize(("make", "needle"), [
    (lambda p: p / "missing.jsonl", "no such dataset file"),
    (lambda p: p, "is a folder"),
    (lambda p: write_jsonl(p / "junk.jsonl", ["x", 1, {"a": 2}]), "no conversations found"),
])
def test_bad_datasets_are_one_line(smollm2_hf: Path, tmp_path: Path, make, needle: str) -> None:
    with pytest.raises(TunerError, match=needle) as info:
        profile_dataset(str(make(tmp_path)), model=str(smollm2_hf))
    assert "\n" not in info.value.one_line() and info.value.field == "dataset"


def test_no_tokenizer_json_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TunerError, match=r"no tokenizer\.json") as info:
        load_tokenizer(str(tmp_path))
    assert info.value.field == "tokenizer"


def test_sized_by_data_options(smollm2_hf: Path, tmp_path: Path) -> None:
    rows = [{"messages": [{"role": "user", "content": "word " * n}]} for n in (100, 200, 300, 400, 3000)]
    profile = profile_dataset(str(write_jsonl(tmp_path / "d.jsonl", rows)), model=str(smollm2_hf))
    sizing = sized_by_data(profile, {**DEFAULT_FIELDS, "model": "smollm2-135m", "max_length": "512"})
    at = {o.at: o for o in sizing.options}
    assert at["max"].max_length >= max(profile.lengths) and at["max"].truncated_share == 0
    assert at["max"].max_length % 64 == 0 and at["max"].flavor is not None and at["max"].cost
    assert at["p95"].peak_bytes <= at["max"].peak_bytes
    assert sizing.to_dict()["truncated_at_max_length"] == pytest.approx(0.2)


def test_cli_dataset_json(smollm2_hf: Path, chats: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calc", "-m", "smollm2-135m", "--tokenizer", str(smollm2_hf), "--dataset", str(chats),
                 "--max-length", "2048", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    prof = data["dataset"]["profile"]
    assert prof["profiled"] == 3 and prof["chat_template"]
    # The run is priced on the real tokens per example, not a characters-per-token guess.
    assert data["run"]["tokens_per_example"] == data["dataset"]["tokens_per_example_at_max_length"]
    assert {o["at"] for o in data["dataset"]["options"]} == {"p95", "p99", "max"}
    code = main(["calc", "-m", "smollm2-135m", "--tokenizer", str(smollm2_hf), "--dataset", str(chats)])
    out, _ = capsys.readouterr()
    assert code == 0 and "tokens per conversation: p50" in out and "suggested max length" in out
    code = main(["calc", "-m", "smollm2-135m", "--dataset", str(chats.parent / "nope.jsonl")])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: dataset: no such dataset file") and err.count("\n") == 1


def test_hub_dataset_and_hub_tokenizer(fake_hub, smollm2_hf: Path) -> None:  # type: ignore[no-untyped-def]
    """A Hub dataset's train split and the model's tokenizer files, through the real huggingface_hub client."""
    rows = [{"messages": m} for m in CONVERSATIONS]
    fake_hub.add_repo("tester/chats", repo_type="dataset", files={
        "data/train.jsonl": "\n".join(json.dumps(r) for r in rows).encode(),
        "data/test.jsonl": json.dumps(rows[0]).encode()})
    fake_hub.add_repo("tester/smol", repo_type="model", files={
        name: (smollm2_hf / name).read_bytes() for name in ("tokenizer.json", "tokenizer_config.json",
                                                            "chat_template.jinja") if (smollm2_hf / name).is_file()})
    hub = profile_dataset("tester/chats", model="tester/smol")
    local = profile_dataset("tester/chats", model=str(smollm2_hf))  # the same tokenizer, read from the folder
    assert hub.total == 3 and hub.lengths == local.lengths and hub.chat_template
    test_split = profile_dataset("tester/chats", model="tester/smol", split="test")
    assert test_split.total == 1
    with pytest.raises(TunerError) as info:
        profile_dataset("tester/no-such-dataset", model="tester/smol")
    assert info.value.field == "dataset" and "\n" not in info.value.one_line()


def _go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # huggingface_hub reads it at import


def test_offline_tokenizer_not_in_cache_says_so(fake_hub, smollm2_hf: Path, chats: Path,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Offline, a cached tokenizer is used; an uncached one is "not in the local cache", not "no tokenizer.json"."""
    fake_hub.add_repo("tester/smol", repo_type="model", files={
        name: (smollm2_hf / name).read_bytes() for name in ("tokenizer.json", "tokenizer_config.json",
                                                            "chat_template.jinja") if (smollm2_hf / name).is_file()})
    fake_hub.add_repo("tester/uncached", repo_type="model", files={
        "tokenizer.json": (smollm2_hf / "tokenizer.json").read_bytes()})
    online = load_tokenizer("tester/smol")  # fills the local cache
    _go_offline(monkeypatch)
    assert load_tokenizer("tester/smol").tokenizer.get_vocab_size() == online.tokenizer.get_vocab_size()
    with pytest.raises(TunerError) as info:
        load_tokenizer("tester/uncached")
    line = info.value.one_line()
    assert "not in the local cache" in line and "offline" in line and "no tokenizer.json" not in line
    assert info.value.field == "tokenizer" and "--tokenizer" in (info.value.hint or "")
    code = main(["calc", "-m", "tester/uncached", "--method", "lora", "--count-from", "config",
                 "--dataset", str(chats)])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "not in the local cache and the Hub is offline" in err


@pytest.mark.slow
def test_unreachable_hub_tokenizer_not_in_cache_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fake Hub: the tests' HF_ENDPOINT is a dead port (huggingface_hub retries for ~20 s first)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(TunerError) as info:
        load_tokenizer("tester/never-cached")
    line = info.value.one_line()
    assert "not in the local cache and the Hub cannot be reached" in line and "\n" not in line
