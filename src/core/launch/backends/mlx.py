"""Apple Silicon: the guide's `mlx_lm.lora` run, supervised like a local job.

mlx_lm reads a data folder with `train.jsonl` and `valid.jsonl` (chat rows with `messages` work as
is), counts iterations rather than epochs, and masks prompts with `--mask-prompt` (loss on assistant
turns only, the guide's key lesson). Elsewhere the backend says plainly that it is unavailable.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from core import safe_json
from core.errors import TunerError
from core.launch.config import LaunchConfig
from core.launch.preflight import mlx_unavailable_reason

VALID_FRACTION = 0.05


def require_mlx() -> None:
    reason = mlx_unavailable_reason()
    if reason:
        raise TunerError(reason, field="backend", hint="use the local or HF Jobs backend")


def prepare_data_dir(config: LaunchConfig, data_dir: Path) -> int:
    """Write train.jsonl / valid.jsonl (a small held-out slice) for mlx_lm; return the training rows."""
    rows = list(_read_rows(config))
    if len(rows) < 2:
        raise TunerError("MLX needs at least 2 conversations (train + valid)", field="dataset")
    rng = random.Random(config.seed)
    rng.shuffle(rows)
    n_valid = max(1, int(len(rows) * VALID_FRACTION))
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("valid.jsonl", rows[:n_valid]), ("train.jsonl", rows[n_valid:])):
        with (data_dir / name).open("w", encoding="utf-8") as out:
            for row in part:
                out.write(json.dumps({"messages": row["messages"]}, ensure_ascii=False) + "\n")
    return len(rows) - n_valid


def _read_rows(config: LaunchConfig):
    if config.dataset_is_local:
        path = Path(config.dataset).expanduser()
        with path.open("rb") as handle:  # preflight checked it is a regular JSONL file
            for lineno, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield safe_json.loads(line, source=f"{path.name} line {lineno}", expect=dict)
                    except safe_json.JsonInputError as exc:
                        raise TunerError(exc.message, field="dataset") from None
        return
    from datasets import load_dataset

    yield from load_dataset(config.dataset, split=config.dataset_split)
