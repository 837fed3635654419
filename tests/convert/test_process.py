"""The subprocess streamer: \\r redraws become progress, cancel kills the whole process group."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest

from core.convert.events import LogLine, Progress
from core.convert.logparse import ConvertParser, LineParser
from core.convert.process import ProcessOutcome, stream_process
from tests.conftest import CANARY_TOKEN, assert_no_canary


async def test_stream_splits_carriage_returns_and_redacts(tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.stderr.write("INFO:hf-to-gguf:token_embd.weight,  torch.bfloat16 --> BF16, shape = {{576, 49152}}\\n")
        for pct, done in ((0, "0.00"), (50, "91.0"), (100, "182")):
            sys.stderr.write(f"\\rWriting: {{pct:3d}}%|#####| {{done}}k/182k [00:00<00:00, 29.3Mbyte/s]")
            sys.stderr.flush()
            time.sleep(0.05)
        sys.stderr.write("\\n")
        print("token is {CANARY_TOKEN}")
        print("INFO:hf-to-gguf:Model successfully exported to out.gguf")
    """))
    parser = ConvertParser("convert")
    outcome = ProcessOutcome()
    events = [e async for e in stream_process([sys.executable, str(script)], parser, outcome)]
    assert outcome.returncode == 0
    writing = [e for e in events if isinstance(e, Progress) and e.label == "Writing"]
    assert [w.done for w in writing] == [0, 91e3, 182e3]
    logs = [e.text for e in events if isinstance(e, LogLine)]
    assert not any(text.startswith("Writing:   0%") for text in logs)  # redraws are not log lines
    assert parser.exported == "out.gguf"
    assert_no_canary(*logs, *outcome.tail.lines)


async def test_cancel_kills_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "tool.py"
    # The tool starts a grandchild (like the converter's workers) and keeps printing.
    script.write_text(textwrap.dedent(f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        while True:
            print("working", flush=True)
            time.sleep(0.1)
    """))
    outcome = ProcessOutcome()

    async def consume() -> None:
        async for _ in stream_process([sys.executable, str(script)], LineParser("x"), outcome):
            pass

    task = asyncio.create_task(consume())
    for _ in range(100):
        await asyncio.sleep(0.1)
        if pid_file.exists() and pid_file.read_text():
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        await asyncio.sleep(0.1)
    assert not _alive(outcome.pid or 0) and not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


async def test_failed_tool_reports_its_own_error_line(tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    script.write_text("import sys\nprint('INFO:hf-to-gguf:Loading model: x', file=sys.stderr)\n"
                      "print('ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported', file=sys.stderr)\n"
                      "sys.exit(1)\n")
    outcome = ProcessOutcome()
    _ = [e async for e in stream_process([sys.executable, str(script)], LineParser("convert"), outcome)]
    assert outcome.returncode == 1
    assert outcome.error_line == "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported"
