"""Convert inputs: Hub ids by the Hub's rules, --adapter-repo never a path, and a damaged adapter or model
folder named for what it is (not "no config.json: point --base-model...")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from core.convert.logparse import hint_for
from core.convert.merge import read_adapter, shard_files
from core.convert.safetensors_stream import read_header
from core.errors import TunerError
from tests.convert.conftest import needs_llama_cpp
from tests.reliability.hostile import ADAPTER_CONFIG, safetensors_bytes
from tui_tuner.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("args", "needle"), [
    (["--adapter-repo", "../../etc"], "adapter: '../../etc' is not a valid Hub adapter repo id"),
    (["--adapter-repo", "/etc"], "adapter: '/etc' is not a valid Hub adapter repo id"),
    (["--adapter-repo", "Qwen/Q--x..y"], "the Hub forbids '--' and '..'"),
    (["--adapter-path", "./a", "--base-model", "Qwen/Q--x..y"], "base_model: 'Qwen/Q--x..y' is not a valid Hub"),
    (["--adapter-path", "./a", "--upload", "--gguf-repo", "me/x..gguf"], "gguf_repo: 'me/x..gguf' is not a valid"),
])
def test_ids_the_hub_forbids_stop_before_anything(args: list[str], needle: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "convert", "--output-dir", str(tmp_path / "out"), *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_adapter_path_is_always_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--adapter-path me/adapter` (relative, not created yet) must not be looked up on the Hub."""
    import argparse

    from tui_tuner.commands.convert import spec_from_args

    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(output_dir="out", base_model=None, adapter_repo=None, adapter_path="me/adapter",
                              quant_type=None, outtype="bf16", merge_method="auto", no_merge=False,
                              skip_download=False, skip_merge=False, no_smoke_test=False, upload=False,
                              gguf_repo=None, private=False, model_name=None, gpu=False, threads=None, imatrix=None)
    spec = spec_from_args(args)
    assert Path(spec.adapter).resolve() == (tmp_path / "me" / "adapter").resolve()


# ------------------------------------------------------------------------------------------------
# Issue 15 item 9: the right hint for a broken adapter_config.json
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    "/runs/a/adapter_config.json: not valid JSON (Expecting value: line 1 column 1 (char 0))",
    "adapter: /runs/a/adapter_config.json: nested too deeply to be read (more than 200 levels)",
    "ValueError: Can't find 'adapter_config.json' at '/runs/a'",
])
def test_a_broken_adapter_config_gets_the_adapter_hint(line: str) -> None:
    hint = hint_for(line)
    assert "adapter_config.json" in hint and "--base-model" not in hint


def test_a_missing_model_config_still_gets_the_base_model_hint() -> None:
    assert "--base-model" in hint_for("OSError: /m does not appear to have a file named config.json")
    assert "--base-model" not in hint_for("tokenizer_config.json: Expecting value")


@pytest.mark.parametrize("content", [b"", b"\xff", b"[1]", b"[" * 100_000 + b"]" * 100_000,
                                     json.dumps({**ADAPTER_CONFIG, "r": [8]}).encode(),
                                     json.dumps({**ADAPTER_CONFIG, "rank_pattern": [1]}).encode()])
def test_read_adapter_is_one_line_with_the_adapter_hint(content: bytes, tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_bytes(content)
    (tmp_path / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    with pytest.raises(TunerError) as info:
        read_adapter(tmp_path)
    assert info.value.field == "adapter" and "adapter_config.json" in str(info.value)
    assert info.value.hint and "--base-model" not in info.value.hint


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b'{"weight_map": [1]}', b"\xff"])
def test_a_broken_shard_index_is_one_line(content: bytes, tmp_path: Path) -> None:
    (tmp_path / "model.safetensors.index.json").write_bytes(content)
    with pytest.raises(TunerError) as info:
        shard_files(tmp_path)
    assert info.value.field == "base_model" and "\n" not in str(info.value)


@pytest.mark.parametrize("header", [b"[" * 50_000 + b"]" * 50_000, b'{"w": {"dtype": "BF16"}}', b"[1]", b"\xff"])
def test_a_broken_safetensors_header_is_one_line(header: bytes, tmp_path: Path) -> None:
    import struct

    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(TunerError, match="not a readable safetensors file"):
        read_header(path)


@needs_llama_cpp
@pytest.mark.parametrize("content", [b"{not json", b"[" * 100_000 + b"]" * 100_000, b"[1, 2]"])
def test_convert_with_a_broken_adapter_config_says_so(content: bytes, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_bytes(content)
    (adapter / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    code, out, err = run(capsys, "convert", "--adapter-path", str(adapter), "--output-dir", str(tmp_path / "out"),
                         "--quant-type", "Q8_0", "--no-smoke-test")
    assert code == 2, out + err  # the user's input: exit 2, as everywhere in the CLI
    failed = [line for line in out.splitlines() if "[FAILED]" in line]
    assert len(failed) == 1 and "adapter_config.json" in failed[0], out
    fix = [line.strip() for line in out.splitlines() if line.strip().startswith("fix:")]
    assert fix and "adapter_config.json" in fix[0] and "--base-model" not in fix[0], out
    assert "Traceback" not in out + err


def test_a_folder_where_the_state_file_goes_is_one_line(tmp_path: Path) -> None:
    from core.convert.pipeline import STATE_FILE, ConversionRun, ConvertSpec

    out = tmp_path / "out"
    (out / STATE_FILE).mkdir(parents=True)
    run = ConversionRun(ConvertSpec(output_dir=out, adapter="./a"))
    run._load_state()  # a folder is no state: start over
    with pytest.raises(TunerError, match="cannot save the conversion state"):
        run._save_state()
    assert (out / STATE_FILE).is_dir() and not os.listdir(out / STATE_FILE)
