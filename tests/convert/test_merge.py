"""The low-RAM shard walker gives the same tensors as peft's merge_and_unload, bit for bit."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.convert.merge import lowram_merge, peft_merge, read_adapter
from core.errors import TunerError
from tests.convert.conftest import make_adapter


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out: dict = {}
    for f in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


@pytest.fixture(scope="module")
def peft_merged(sharded_base: Path, lora_adapter: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("merge") / "peft"
    peft_merge(sharded_base, lora_adapter, out)
    return out


@pytest.mark.slow
def test_lowram_merge_is_bit_identical_to_peft(sharded_base: Path, lora_adapter: Path, peft_merged: Path,
                                                tmp_path: Path) -> None:
    import torch

    low = tmp_path / "low"
    calls: list[tuple[int, int, str]] = []
    summary = lowram_merge(sharded_base, lora_adapter, low, lambda d, t, label: calls.append((d, t, label)))
    assert summary["shards"] >= 4 and summary["merged_modules"] == 30 * 4
    assert len(list(low.glob("model-*.safetensors"))) == summary["shards"]  # same shard layout as the base
    assert [c[0] for c in calls] == list(range(summary["shards"] + 1))
    a, b, base = _tensors(peft_merged), _tensors(low), _tensors(sharded_base)
    assert set(a) == set(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    changed = [k for k in a if not torch.equal(a[k], base[k])]
    assert len(changed) == 120  # the merge really changed every target weight
    assert all(k.endswith(("q_proj.weight", "v_proj.weight", "o_proj.weight", "up_proj.weight")) for k in changed)
    assert {str(t.dtype) for t in b.values()} == {"torch.bfloat16"}
    assert (low / "tokenizer.json").is_file() and (low / "chat_template.jinja").is_file()
    assert json.loads((low / "model.safetensors.index.json").read_text())["weight_map"]


@pytest.mark.slow
def test_rslora_scaling_matches_peft(sharded_base: Path, tmp_path: Path) -> None:
    import torch

    adapter = make_adapter(sharded_base, tmp_path / "rs", seed=3, targets=("k_proj",), r=4, alpha=8, use_rslora=True)
    peft_merge(sharded_base, adapter, tmp_path / "p")
    lowram_merge(sharded_base, adapter, tmp_path / "l")
    a, b = _tensors(tmp_path / "p"), _tensors(tmp_path / "l")
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_lowram_merge_resumes_finished_shards(sharded_base: Path, lora_adapter: Path, peft_merged: Path,
                                               tmp_path: Path) -> None:
    import torch

    out = tmp_path / "resume"
    lowram_merge(sharded_base, lora_adapter, out)
    first = sorted(out.glob("model-*.safetensors"))[0]
    stamp = first.stat().st_mtime_ns
    for later in sorted(out.glob("model-*.safetensors"))[1:]:
        later.unlink()  # as if interrupted after the first shard
    (out / "model-00002-of-00004.safetensors.part").write_bytes(b"partial")
    lowram_merge(sharded_base, lora_adapter, out)
    assert first.stat().st_mtime_ns == stamp  # kept, not redone
    a, b = _tensors(peft_merged), _tensors(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_corrupt_adapter_is_one_line(sharded_base: Path, lora_adapter: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(lora_adapter, broken)
    (broken / "adapter_model.safetensors").write_bytes(b"\x00\x10garbage")
    with pytest.raises(TunerError) as err:
        lowram_merge(sharded_base, broken, tmp_path / "out")
    assert "cannot read" in err.value.message and "corrupt" in (err.value.hint or "")


def test_adapter_for_another_base_is_refused(sharded_base: Path, lora_adapter: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    other = tmp_path / "other"
    shutil.copytree(lora_adapter, other)
    tensors = load_file(str(other / "adapter_model.safetensors"))
    key = next(k for k in tensors if "lora_B" in k)
    tensors[key] = tensors[key][:-1]  # wrong output width
    save_file(tensors, str(other / "adapter_model.safetensors"))
    with pytest.raises(TunerError) as err:
        lowram_merge(sharded_base, other, tmp_path / "out")
    assert "does not match the base weight" in err.value.message
    assert "another base model" in (err.value.hint or "")


def test_read_adapter_flags_what_lowram_cannot_do(lora_adapter: Path, tmp_path: Path) -> None:
    dora = tmp_path / "dora"
    shutil.copytree(lora_adapter, dora)
    config = json.loads((dora / "adapter_config.json").read_text())
    config["use_dora"] = True
    (dora / "adapter_config.json").write_text(json.dumps(config))
    assert read_adapter(dora).unsupported == ["DoRA"]
    with pytest.raises(TunerError, match=r"adapter_config\.json"):
        read_adapter(tmp_path)


def test_worker_reports_user_errors_as_one_line(sharded_base: Path, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "core.convert.merge_worker", "--base", str(sharded_base),
                           "--adapter", str(tmp_path), "--out", str(tmp_path / "o"), "--method", "low-ram"],
                          capture_output=True, text=True, cwd=root / "src", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: adapter:") and "no adapter_config.json" in proc.stderr
