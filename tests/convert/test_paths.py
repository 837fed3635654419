"""Relative paths: what the user typed is relative to *their* folder, though the tools run inside the
output folder. The README's command, as written, from another working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.convert.pipeline import ConvertSpec
from tests.convert.conftest import needs_llama_cpp

ROOT = Path(__file__).resolve().parents[2]


def test_resolved_makes_local_paths_absolute_and_leaves_hub_ids(tmp_path: Path) -> None:
    (tmp_path / "runs" / "coach" / "adapter").mkdir(parents=True)
    spec = ConvertSpec(output_dir=Path("out"), adapter="runs/coach/adapter", base_model="Qwen/Qwen3-0.6B",
                       imatrix="imatrix.dat").resolved(cwd=tmp_path)
    assert spec.output_dir == tmp_path / "out"
    assert spec.adapter == str(tmp_path / "runs" / "coach" / "adapter")  # exists here: a local folder
    assert spec.base_model == "Qwen/Qwen3-0.6B"  # a Hub id stays a Hub id
    assert spec.imatrix == str(tmp_path / "imatrix.dat")
    dotted = ConvertSpec(output_dir=Path("./a/../models/x"), adapter="you/qwen-coach").resolved(cwd=tmp_path)
    assert dotted.output_dir == tmp_path / "models" / "x" and dotted.adapter == "you/qwen-coach"
    home = ConvertSpec(output_dir=Path("~/gguf"), adapter="./adapter").resolved(cwd=tmp_path)
    assert home.output_dir == Path.home() / "gguf" and home.adapter == str(tmp_path / "adapter")
    assert spec.name == "coach"  # named after the folder that holds `adapter`, as before


def test_resume_command_names_absolute_paths(tmp_path: Path) -> None:
    spec = ConvertSpec(output_dir=Path("out"), adapter="./adapter", quant_types=("q4_k_m", "Q8_0"),
                       smoke_test=False).resolved(cwd=tmp_path)
    assert spec.command_line() == (f"tui-tuner convert --output-dir {tmp_path / 'out'} --adapter-path "
                                   f"{tmp_path / 'adapter'} --quant-type Q4_K_M,Q8_0 --no-smoke-test")


async def test_tui_form_resolves_against_the_app_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import Input

    from tests.support.host_app import ScreenHost
    from tui_tuner.screens.convert.screen import ConvertScreen

    monkeypatch.chdir(tmp_path)
    app = ScreenHost(ConvertScreen)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ConvertScreen)
        screen.query_one("#output", Input).value = "./models/my-model-gguf"  # the placeholder's own example
        screen.query_one("#adapter", Input).value = "./runs/adapter"
        await pilot.pause()
        spec = screen.spec_from_form()
        assert spec.output_dir == tmp_path / "models" / "my-model-gguf"
        assert spec.adapter == str(tmp_path / "runs" / "adapter")
        screen.query_one("#output", Input).value = ""
        await pilot.pause()
        assert screen._form_problem(screen.spec_from_form()) == "output folder: required"  # not "the cwd"


@needs_llama_cpp
@pytest.mark.slow
def test_readme_convert_command_from_another_folder_with_relative_paths(lora_adapter: Path,
                                                                         tmp_path: Path) -> None:
    # `cd somewhere && tui-tuner convert --adapter-path ADAPTER --output-dir out --quant-type Q8_0`:
    # the adapter (whose adapter_config.json names its base) and the output folder are both relative.
    work = tmp_path / "somewhere"
    shutil.copytree(lora_adapter, work / "smol-rel" / "adapter")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    result = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--adapter-path", "smol-rel/adapter",
                             "--output-dir", "out", "--quant-type", "Q8_0"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "is not a directory" not in result.stdout + result.stderr
    out = work / "out"
    assert sorted(p.name for p in out.glob("*.gguf")) == ["smol-rel-BF16.gguf", "smol-rel-Q8_0.gguf"]
    assert "llama-server ready" in result.stdout or "llama-server answered" in result.stdout
    history = subprocess.run([sys.executable, "-m", "tui_tuner", "convert", "--history", "--json"], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=True)
    record = json.loads(history.stdout)[0]
    assert record["status"] == "completed" and record["output_dir"] == str(out)
    assert record["spec"]["adapter"] == str(work / "smol-rel" / "adapter")
