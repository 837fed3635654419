"""What the wizard adds to the tools' own time stays small: no heavy import in the CLI process before it is
needed (the merge plan used to import torch only to list the adapter's tensor names). The wall-time
ratio itself is a benchmark (`benchmarks/convert_wall.py`), not a test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "numpy", "gguf", "safetensors")


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_the_convert_command_imports_nothing_heavy_to_start() -> None:
    loaded = _run("import sys\n"
                  "import tui_tuner.cli, tui_tuner.commands.convert, core.convert.pipeline, core.convert.verify\n"
                  "import core.convert.fingerprint, core.convert.records, core.llama_cpp.probe_cache\n"
                  f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert loaded == "[]"


def test_merge_plan_and_checks_do_not_import_torch(sharded_base: Path, lora_adapter: Path, tmp_path: Path) -> None:
    loaded = _run(
        "import sys\n"
        "from pathlib import Path\n"
        "from core.convert.pipeline import ConversionRun, ConvertSpec\n"
        "from core.convert.fingerprint import adapter_sig, output_problem\n"
        f"run = ConversionRun(ConvertSpec(output_dir=Path({str(tmp_path / 'out')!r}), adapter='a'))\n"
        f"run.base_dir, run.adapter_dir = Path({str(sharded_base)!r}), Path({str(lora_adapter)!r})\n"
        "method, lines = run._merge_plan()\n"
        "assert method in ('peft', 'low-ram'), method\n"
        "adapter_sig(run.adapter_dir, {})\n"
        "assert output_problem(run.base_dir, None) is None\n"
        "print([m for m in ('torch', 'transformers', 'peft') if m in sys.modules])")
    assert loaded == "[]"
