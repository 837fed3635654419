"""The Launch screen on a multi-GPU flavor: the strategy, per-GPU memory and reason, and the override."""

from __future__ import annotations

import ast

from textual.widgets import Input, Select

from core.launch.config import LaunchConfig
from tests.launch.test_screen import fill, settle, text_of
from tui_tuner.app import TunerApp


def constant(script: str, name: str) -> object:
    node = next(n for n in ast.parse(script).body if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name)
    return ast.literal_eval(node.value)


async def test_strategy_shown_with_memory_and_reason_and_overridable() -> None:
    app = TunerApp(start_area="launch")
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = await fill(pilot, LaunchConfig(base_model="google/gemma-3-12b-it", dataset="tester/coaching",
                                                output_repo="tester/out", trackio_space="tester/t", flavor="a100x4"))
        await settle(pilot)
        findings = text_of(screen, "#findings")
        assert "DDP × 4" in findings and "GB per GPU" in findings and "fit one GPU" in findings
        assert constant(screen.script_text, "STRATEGY") == "ddp" and constant(screen.script_text, "NUM_PROCESSES") == 4
        screen.query_one("#f-strategy", Select).value = "fsdp"
        screen.query_one("#f-gpus", Input).value = "2"
        await settle(pilot)
        assert constant(screen.script_text, "STRATEGY") == "fsdp" and constant(screen.script_text, "NUM_PROCESSES") == 2
        assert "FSDP full-shard × 2" in text_of(screen, "#findings")
        assert "chosen with --strategy fsdp" in text_of(screen, "#findings")
        screen.query_one("#f-gpus", Input).value = "9"
        await settle(pilot)
        assert "-shown" in screen.query_one("#err-gpus").classes  # a100x4 has four
