"""Launch-area fixtures: a small chat dataset and configs for the local CPU backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.launch.config import LaunchConfig

TOPICS = ("sleep", "stress", "exercise", "focus", "habits", "motivation", "journaling", "breathing")


def write_chat_jsonl(path: Path, n: int = 16) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            topic = TOPICS[i % len(TOPICS)]
            row = {"messages": [
                {"role": "user", "content": f"I want help with {topic}. What is one small step?"},
                {"role": "assistant", "content": f"Pick one tiny {topic} action you can do in two minutes today."},
                {"role": "user", "content": "And tomorrow?"},
                {"role": "assistant", "content": f"Repeat it at the same time, then add a minute of {topic}."},
            ]}
            out.write(json.dumps(row) + "\n")
    return path


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    return write_chat_jsonl(tmp_path / "chats.jsonl")


@pytest.fixture
def hub_config() -> LaunchConfig:
    """A valid HF Jobs config (Hub ids only)."""
    return LaunchConfig(base_model="google/gemma-3-12b-it", dataset="tester/coaching", output_repo="tester/gemma-coach",
                        trackio_space="tester/trackio", flavor="a100-large", timeout="6h", max_length=2048)


def cpu_config(model_dir: Path, dataset: Path, **changes: object) -> LaunchConfig:
    """SmolLM2 on CPU for a few steps: no 4-bit, no bitsandbytes optimizer."""
    base = LaunchConfig(
        base_model=str(model_dir), dataset=str(dataset), backend="local", load_in_4bit=False,
        optimizer="adamw_torch", max_steps=3, batch_size=2, gradient_accumulation=1, logging_steps=1,
        save_steps=2, max_length=256, lora_r=8, lora_alpha=16, trackio_project="launch-e2e", timeout="20m",
    )
    return base.replace(**changes)
