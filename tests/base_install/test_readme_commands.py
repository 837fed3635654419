"""The README's commands, copied verbatim, from a working folder of the user's (relative paths).

Every `tui-tuner ...` line of the README's shell blocks must be listed in COMMANDS, with how it is run
here or why it is not; a new or changed README command fails this test until it is. Placeholders the
reader replaces (JOB_ID) become a real job of the loopback fake Hub; the ports the evaluation line names
(8080-8082) are served by stand-in OpenAI-compatible servers.
"""

from __future__ import annotations

import re
import socket
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.extras import has_extra
from tests.base_install.conftest import ROOT, run_cli
from tests.conftest import assert_no_canary
from tests.eval_run.fake_openai import FakeOpenAI

pytestmark = pytest.mark.timeout(600)

README = ROOT / "README.md"


@dataclass(frozen=True)
class Expect:
    codes: tuple[int, ...] = (0,)
    stdout: str = ""
    stderr: str = ""
    skip: str = ""
    """Why this line is not run here (it then must be covered elsewhere)."""
    only_without: str = ""
    """Run only where this extra is missing (the line is then its one-line error)."""


CONVERT_LINE = 'error: conversion needs the "convert" extra: pip install "tui-tuner[convert]"\n'

COMMANDS: dict[str, Expect] = {
    "tui-tuner calc --model gemma-3-12b --method qlora --max-length 16384": Expect(stdout="logits (fp32)"),
    "tui-tuner calc --guide": Expect(stdout="Logits"),
    "tui-tuner launch --base-model Qwen/Qwen3-0.6B --dataset you/chats --output-repo you/qwen-coach "
    "--flavor l4x1 --timeout 2h --dry-run": Expect(skip="needs the user's own Hub repos; tests/launch runs it "
                                                        "against the fake Hub"),
    "tui-tuner launch --print-script ...": Expect(skip="'...' stands for the launch options above"),
    "tui-tuner jobs ps": Expect(stdout="readme-job"),
    "tui-tuner jobs logs -f JOB_ID": Expect(stdout="Training complete"),
    "tui-tuner jobs inspect JOB_ID": Expect(stdout="COMPLETED"),
    "tui-tuner jobs wait JOB_ID": Expect(),
    "tui-tuner llama-cpp status": Expect(codes=(0, 1)),
    "tui-tuner llama-cpp install": Expect(skip="builds llama.cpp (minutes); .ci/run runs it for the full suite"),
    "tui-tuner convert --adapter-repo you/qwen-coach --output-dir out --quant-type Q4_K_M,Q8_0":
        Expect(codes=(2,), stderr=CONVERT_LINE, only_without="convert"),
    "tui-tuner eval personas --count 15 --out personas.json": Expect(),
    "tui-tuner eval run --personas personas.json --output-dir results --port baseline=8080 "
    "--port finetuned=8081 --simulator 8082 --judge 8082": Expect(stdout="finished"),
    "tui-tuner eval report results": Expect(stdout="finetuned"),
    "tui-tuner eval view results": Expect(skip="a full-screen app: test_eval opens the viewer under Pilot"),
    "tui-tuner calc --model qwen3-8b --dataset chats.jsonl": Expect(
        skip="needs the user's chats.jsonl and Qwen3-8B's tokenizer from the Hub; tests/calc and tests/launch "
             "profile datasets with SmolLM2's tokenizer"),
    "tui-tuner calc --model llama-3.1-8b --method full --strategy fsdp --gpus 4": Expect(stdout="fsdp"),
    "tui-tuner jobs logs -n 50 -f --exit-status JOB_ID": Expect(stdout="Training complete"),
    "tui-tuner convert --history": Expect(),
    "tui-tuner demo": Expect(skip="opens the TUI on the whole loop (minutes): tests/demo drives the demo "
                                  "screen under Pilot and runs the headless demo for real"),
    "tui-tuner demo --headless": Expect(skip="the whole loop (minutes): tests/demo runs it for real with "
                                             "SmolLM2's GGUF"),
    "tui-tuner demo --model-gguf FILE.gguf": Expect(skip="FILE.gguf stands for the user's GGUF: tests/demo "
                                                         "runs the demo with SmolLM2's"),
    "tui-tuner serve": Expect(skip="a server that runs until stopped: tests/serve drives it from chromium"),
}
EVAL_PORTS = (8080, 8081, 8082)


def readme_commands() -> list[str]:
    """`tui-tuner ...` lines of the README's bash blocks, continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("tui-tuner "):
                commands.append(" ".join(line.split()))
    return commands


def test_every_readme_command_is_listed() -> None:
    found = readme_commands()
    assert found, "no tui-tuner command found in README.md"
    unlisted = [c for c in found if c not in COMMANDS]
    assert not unlisted, "README commands with no entry in COMMANDS (say how to run them):\n" + "\n".join(unlisted)
    stale = [c for c in COMMANDS if c not in found]
    assert not stale, "COMMANDS lists lines the README no longer has:\n" + "\n".join(stale)


def test_the_base_install_line_is_what_ci_installs() -> None:
    # .ci/run builds its base venv with `pip install -e .` and nothing else: the README's app-alone line.
    text = README.read_text(encoding="utf-8")
    assert "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && tui-tuner\n" in text
    assert "python -m pip install -q -e .\n" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _ports_free(ports: tuple[int, ...]) -> bool:
    for port in ports:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_readme_commands_run_verbatim(fake_hub: Any, tmp_path: Path) -> None:
    if not _ports_free(EVAL_PORTS):
        pytest.skip(f"ports {EVAL_PORTS} are taken on this machine; the README's evaluation line names them")
    job = fake_hub.create_job(stage="COMPLETED", labels={"name": "readme-job"},
                              logs=["Loading model", "{'loss': 1.2, 'epoch': 0.5}", "Training complete"])
    workdir = tmp_path / "my-project"  # not the repository: relative paths are the user's
    workdir.mkdir()
    ran = []
    with ExitStack() as stack:
        for port in EVAL_PORTS:
            server = FakeOpenAI(port=port).start()
            stack.callback(server.stop)
        for command in readme_commands():
            expect = COMMANDS[command]
            if expect.skip or (expect.only_without and has_extra(expect.only_without)):
                continue
            argv = command.replace("JOB_ID", job).split()[1:]
            done = run_cli(*argv, cwd=workdir, timeout=300)
            where = f"{command}\nexit {done.returncode}\nstdout: {done.stdout[-1500:]}\nstderr: {done.stderr[-1500:]}"
            assert done.returncode in expect.codes, where
            assert expect.stdout in done.stdout, where
            assert (done.stderr == expect.stderr) if expect.stderr else "Traceback" not in done.stderr, where
            assert_no_canary(done.stdout, done.stderr)
            ran.append(command)
    assert (workdir / "results" / "evaluation_report.md").is_file()
    assert len(ran) >= 10, ran
