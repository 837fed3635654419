"""The demo's training data: 60 coaching conversations written for this project, shipped as package data.

Ten situations (the evaluation personas' categories: work stress, relationships, anxiety, grief, motivation,
life transitions, family, self-esteem, sleep and health, crisis risk), six conversations each, two
exchanges per conversation, with the same short system prompt the evaluation gives both models. The
assistant turns follow the guide's coaching style: reflect, ask one open question, help towards a small,
self-chosen step; in the crisis conversations, respond with care and point to real help.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from core.errors import TunerError

DATA_FILE = "coaching.jsonl"


def dataset_text() -> str:
    return resources.files("core.demo").joinpath("data", DATA_FILE).read_text(encoding="utf-8")


def dataset_hash() -> str:
    """Short hash of the shipped file: a new version of the data makes a resumed demo train again."""
    return hashlib.sha256(dataset_text().encode()).hexdigest()[:12]


def conversations() -> list[dict[str, Any]]:
    """The shipped conversations, checked: each has `messages` alternating user/assistant after a system turn."""
    rows = []
    for number, line in enumerate(dataset_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        messages = row.get("messages") if isinstance(row, dict) else None
        roles = [m.get("role") for m in messages or [] if isinstance(m, dict)]
        if not roles or roles[0] != "system" or roles[1:] != ["user", "assistant"] * (len(roles[1:]) // 2) \
                or len(roles) < 3:
            raise TunerError(f"demo dataset line {number}: not a system/user/assistant conversation")
        rows.append(row)
    return rows


def system_prompt() -> str:
    """The system prompt of the training conversations (the evaluation gives it to both models)."""
    return str(conversations()[0]["messages"][0]["content"])


def write_dataset(path: Path) -> int:
    """Write the conversations as JSONL (the launcher's local dataset format); return how many."""
    rows = conversations()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
    return len(rows)
