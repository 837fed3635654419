"""A llama.cpp tree whose tools are small real programs that start a process tree and run until stopped.

`tui-tuner convert --skip-merge` over a folder with a `merged/` model runs this tree's
`convert_hf_to_gguf.py`: it prints the converter's log lines, starts a grandchild that ignores SIGTERM
(the hardest case: only SIGKILL ends it) and keeps working. Every process of the tree carries MARKER in
its command line, so a test can list the survivors of a signal with `survivors(marker)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_CONVERTER = """
import signal, subprocess, sys, time
if "--help" in sys.argv:
    print("usage: convert_hf_to_gguf.py [options] model")
    sys.exit(0)
marker = {marker!r}
grandchild = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)", marker])
print("INFO:hf-to-gguf:Loading model: merged", file=sys.stderr, flush=True)
n = 0
while True:
    n += 1
    print(f"INFO:hf-to-gguf:blk.{{n}}.attn_q.weight, torch.bfloat16 --> BF16, shape = {{{{576, 576}}}}",
          file=sys.stderr, flush=True)
    time.sleep(0.2)
"""


def make_tree(root: Path, marker: str) -> Path:
    """A fake llama.cpp tree under `root` (point TUI_TUNER_LLAMA_CPP at it); put `marker` in `root`'s name
    so the converter's own command line carries it too."""
    assert marker in str(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "convert_hf_to_gguf.py").write_text(textwrap.dedent(_CONVERTER.format(marker=marker)))
    (root / "convert_lora_to_gguf.py").write_text("import sys; sys.exit(1)\n")
    (root / "gguf-py" / "gguf").mkdir(parents=True, exist_ok=True)
    (root / "gguf-py" / "gguf" / "__init__.py").write_text("")
    bin_dir = root / "build" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("llama-quantize", "llama-server"):
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import time; time.sleep(600)' {marker}\n")
        tool.chmod(0o755)
    return root


def make_merged_output(out: Path) -> Path:
    """An output folder holding a `merged/` model, so `--skip-merge` goes straight to the converter."""
    merged = out / "merged"
    merged.mkdir(parents=True, exist_ok=True)
    (merged / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    (merged / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    return out


def env_for(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TUI_TUNER_LLAMA_CPP"] = str(tree)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def start_convert(out: Path, tree: Path, *extra: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    """`tui-tuner convert --skip-merge` into `out`, with the fake tree."""
    argv = [sys.executable, "-m", "tui_tuner", "convert", "--output-dir", str(out), "--skip-merge",
            "--model-name", "fake", "--quant-type", "Q8_0", "--no-smoke-test", "--verbose", *extra]
    return subprocess.Popen(argv, cwd=cwd or ROOT, env=env_for(tree), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_tree(marker: str, count: int = 2, timeout: float = 120) -> list[int]:
    """Wait until `count` processes carry `marker` (the tool and its grandchild); return their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = survivors(marker)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the tool tree did not start ({survivors(marker)})")


def survivors(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(name))
    return found


def wait_gone(marker: str, timeout: float = 15) -> list[int]:
    """Survivors of `marker` after up to `timeout` seconds (an empty list is the goal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not survivors(marker):
            return []
        time.sleep(0.1)
    return survivors(marker)


def kill_marked(marker: str) -> None:
    """Test cleanup: SIGKILL whatever a failed test left running."""
    import signal

    for pid in survivors(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
