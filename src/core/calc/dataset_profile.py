"""Sized by the data: the token lengths of a dataset's conversations under the model's own tokenizer and
chat template, and what they mean for max length, memory, flavor, time and cost.

    profile = profile_dataset("chats.jsonl", model="qwen3-8b")            # or a Hub dataset id
    profile.percentile(0.95), profile.truncated_share(2048), profile.mean_tokens_at(2048)
    sized_by_data(profile, fields)                                         # p95 / p99 / max options

Fast path: the `tokenizers` library (Rust, batched over the cores) on `tokenizer.json`, and the chat template
rendered with jinja2 the way transformers' `apply_chat_template` renders it (sandboxed, trim_blocks,
lstrip_blocks, `raise_exception`, `tojson`), then encoded without adding special tokens again — so the counts
are what the trainer sees. Large sets are profiled on a uniform random sample (stated in the result).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import TunerError

CANDIDATE_LENGTHS = (512, 1024, 2048, 4096, 8192, 16384, 32768)
"""Max lengths whose truncation share is always reported (plus the one the user set)."""
HISTOGRAM_BINS = 40
ROUND_TO = 64
"""Suggested max lengths are rounded up to a multiple of this (tensor-core friendly, little padding)."""
ENCODE_BATCH = 2048
MAX_DATASET_BYTES = 4 * 1024**3
"""Largest local dataset file read (use --sample or a Hub dataset beyond that)."""
_TEXT_KEYS = ("messages", "conversations", "conversation", "chat", "dialogue")


@dataclass(frozen=True)
class DatasetProfile:
    source: str
    tokenizer: str
    chat_template: bool
    total: int
    """Rows in the dataset (non-empty lines of a JSONL)."""
    lengths: tuple[int, ...]
    """Tokens per profiled conversation, sorted."""
    sampled: bool
    skipped: int = 0
    """Rows that were not a conversation (bad JSON, no messages/text): counted, not profiled."""
    seed: int = 0

    @property
    def profiled(self) -> int:
        return len(self.lengths)

    @property
    def mean(self) -> float:
        return sum(self.lengths) / len(self.lengths)

    def percentile(self, q: float) -> int:
        """Nearest-rank percentile (a length that really occurs)."""
        ordered = self.lengths
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    def truncated_share(self, max_length: int) -> float:
        """Share of conversations longer than `max_length` (the trainer cuts them)."""
        import bisect

        return (len(self.lengths) - bisect.bisect_right(self.lengths, max_length)) / len(self.lengths)

    def mean_tokens_at(self, max_length: int) -> int:
        """Average tokens per example the GPU computes after truncation at `max_length` (padding-free)."""
        return max(1, round(sum(min(n, max_length) for n in self.lengths) / len(self.lengths)))

    def histogram(self, bins: int = HISTOGRAM_BINS) -> list[tuple[int, int, int]]:
        """(start, end, count) over [0, max] in equal-width bins."""
        top = max(self.lengths)
        width = max(1, math.ceil((top + 1) / bins))
        counts = [0] * bins
        for n in self.lengths:
            counts[min(n // width, bins - 1)] += 1
        return [(i * width, (i + 1) * width, c) for i, c in enumerate(counts)]

    def to_dict(self, max_lengths: Iterable[int] = ()) -> dict[str, Any]:
        lengths = sorted({*CANDIDATE_LENGTHS, *max_lengths})
        return {
            "source": self.source, "tokenizer": self.tokenizer, "chat_template": self.chat_template,
            "total": self.total, "profiled": self.profiled, "sampled": self.sampled, "skipped": self.skipped,
            "seed": self.seed if self.sampled else None, "mean": round(self.mean, 1),
            "percentiles": {"p50": self.percentile(0.5), "p90": self.percentile(0.9), "p95": self.percentile(0.95),
                            "p99": self.percentile(0.99), "max": max(self.lengths), "min": min(self.lengths)},
            "truncation": [{"max_length": n, "truncated_share": round(self.truncated_share(n), 4)} for n in lengths],
            "histogram": [{"from": a, "to": b, "count": c} for a, b, c in self.histogram()],
        }


# ---- reading rows ---------------------------------------------------------------------------------------

def _conversation(row: Any) -> list[dict[str, str]] | str | None:
    """A row as chat messages (role/content), or plain text, or None if it is neither."""
    if not isinstance(row, Mapping):
        return None
    for key in _TEXT_KEYS:
        value = row.get(key)
        if isinstance(value, list) and value:
            messages = []
            for turn in value:
                if not isinstance(turn, Mapping):
                    return None
                role = turn.get("role", turn.get("from"))
                content = turn.get("content", turn.get("value"))
                if isinstance(content, list):  # multimodal-style content parts: keep the text ones
                    content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
                if not isinstance(role, str) or content is None:
                    return None
                role = {"human": "user", "gpt": "assistant", "bot": "assistant"}.get(role, role)
                messages.append({"role": role, "content": str(content)})
            return messages
    if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    if isinstance(row.get("instruction"), str) and isinstance(row.get("output"), str):
        prompt = row["instruction"] + (("\n\n" + row["input"]) if isinstance(row.get("input"), str) and row["input"] else "")
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    if isinstance(row.get("text"), str):
        return row["text"]
    return None


def _local_rows(path: Path, sample: int | None, seed: int) -> tuple[list[Any], int, bool, int]:
    """(parsed rows to profile, total rows, sampled?, unparseable rows among the chosen)."""
    from core import safe_json

    try:  # a regular file only (a FIFO never blocks), size-capped, UTF-8
        text = safe_json.read_text(path, what=path.name, max_bytes=MAX_DATASET_BYTES)
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, field="dataset", hint=exc.hint) from None
    stripped = text.lstrip()
    if path.suffix == ".json" and stripped.startswith("["):
        try:
            rows = safe_json.loads(stripped, source=path.name, expect=list)
        except safe_json.JsonInputError as exc:
            raise TunerError(exc.message, field="dataset") from None
        total = len(rows)
        chosen = _choose(total, sample, seed)
        return [rows[i] for i in chosen], total, len(chosen) < total, 0
    lines = [line for line in text.splitlines() if line.strip()]
    total = len(lines)
    chosen = _choose(total, sample, seed)
    rows = []
    bad = 0
    for i in chosen:
        try:
            rows.append(json.loads(lines[i]))
        except (ValueError, RecursionError):  # bad JSON, absurd nesting or numbers: a skipped row
            bad += 1
    return rows, total, len(chosen) < total, bad


def _choose(total: int, sample: int | None, seed: int) -> list[int]:
    if sample is None or sample >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), sample))


def _hub_rows(repo_id: str, split: str, sample: int | None, seed: int) -> tuple[list[Any], int, bool, int]:
    """A Hub dataset's `split`: its JSONL / JSON / Parquet data files through huggingface_hub."""
    from core.hub import hub_error

    try:
        from huggingface_hub import HfApi, hf_hub_download

        files = [f for f in HfApi().list_repo_files(repo_id, repo_type="dataset")
                 if f.endswith((".jsonl", ".json", ".parquet")) and not f.startswith(".")]
    except Exception as exc:  # offline, private, missing: one line
        err = hub_error(exc, f"dataset {repo_id}")
        raise TunerError(err.message, field="dataset", hint=err.hint) from None
    chosen = [f for f in files if split in Path(f).name or f"/{split}/" in f"/{f}" or f.startswith(f"{split}/")]
    chosen = chosen or ([f for f in files if "test" not in f and "valid" not in f] if split == "train" else [])
    if not chosen:
        raise TunerError(f"dataset {repo_id} has no {split} data files (JSONL, JSON or Parquet)", field="dataset")
    rows: list[Any] = []
    for name in chosen:
        try:
            local = Path(hf_hub_download(repo_id, name, repo_type="dataset"))
        except Exception as exc:
            err = hub_error(exc, f"{name} of dataset {repo_id}")
            raise TunerError(err.message, field="dataset", hint=err.hint) from None
        if local.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(local).to_pylist())
        else:
            part, _, _, _ = _local_rows(local, None, seed)
            rows.extend(part)
    total = len(rows)
    idx = _choose(total, sample, seed)
    return [rows[i] for i in idx], total, len(idx) < total, 0


# ---- tokenizer and chat template ----------------------------------------------------------------------

@dataclass
class ChatTokenizer:
    name: str
    tokenizer: Any
    """tokenizers.Tokenizer"""
    template: Any | None
    special: dict[str, str] = field(default_factory=dict)

    def render(self, conversation: list[dict[str, str]] | str) -> str:
        if isinstance(conversation, str):
            return conversation
        if self.template is None:
            return "\n".join(m["content"] for m in conversation)
        return str(self.template.render(messages=conversation, add_generation_prompt=False, **self.special))

    def count(self, texts: Sequence[str]) -> list[int]:
        out: list[int] = []
        # encode_batch_fast (tokenizers ≥ 0.21) skips the character offsets nobody needs here.
        encode = getattr(self.tokenizer, "encode_batch_fast", None) or self.tokenizer.encode_batch
        for start in range(0, len(texts), ENCODE_BATCH):
            encoded = encode(list(texts[start:start + ENCODE_BATCH]), add_special_tokens=False)
            out.extend(len(e.ids) for e in encoded)
        return out


def _special(config: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, Mapping):
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    return out


def _compile_template(source: str) -> Any:
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TunerError(f"the chat template refused a conversation: {message}", field="dataset")

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(source)
    except jinja2.TemplateError as exc:
        raise TunerError(f"the model's chat template does not compile ({exc})", field="dataset") from None


def load_tokenizer(model: str) -> ChatTokenizer:
    """The tokenizer and chat template of `model`: a local model/tokenizer folder, a Hub id, or a catalog key
    (its first Hub id). Only tokenizer files are fetched from the Hub (cached by huggingface_hub)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TunerError("profiling a dataset needs the `tokenizers` package", field="dataset",
                         hint="pip install tokenizers (or the train extra)") from None
    from core.calc.catalog import find_entry

    name = (model or "").strip()
    if not name:
        raise TunerError("no model or tokenizer to count tokens with", field="tokenizer",
                         hint="--model or --tokenizer")
    folder = Path(name).expanduser()
    if folder.is_file() and folder.name == "config.json":
        folder = folder.parent
    files: dict[str, Path | None] = {}
    if folder.is_dir():
        for fname in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            files[fname] = folder / fname if (folder / fname).is_file() else None
        label = folder.name
    else:
        entry = find_entry(name)
        repo = entry.hub_ids[-1] if entry is not None else name
        if "/" not in repo:
            raise TunerError(f"no tokenizer for {name!r}", field="tokenizer",
                             hint="give a model folder with tokenizer.json, a Hub id, or --tokenizer")
        files = _hub_tokenizer_files(repo)
        label = repo
    if files.get("tokenizer.json") is None:
        raise TunerError(f"{label} has no tokenizer.json (the fast tokenizer the profile needs)", field="tokenizer")
    try:
        tokenizer = Tokenizer.from_file(str(files["tokenizer.json"]))
    except Exception as exc:
        raise TunerError(f"{label}: tokenizer.json cannot be loaded ({type(exc).__name__})", field="tokenizer") from None
    config: dict[str, Any] = {}
    if files.get("tokenizer_config.json") is not None:
        from core import safe_json

        try:
            loaded = safe_json.load_file(Path(str(files["tokenizer_config.json"])))
            config = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            config = {}
    source = None
    if files.get("chat_template.jinja") is not None:
        source = Path(str(files["chat_template.jinja"])).read_text(encoding="utf-8")
    elif isinstance(config.get("chat_template"), str):
        source = config["chat_template"]
    elif isinstance(config.get("chat_template"), list):  # named templates: the default one
        named = {t.get("name"): t.get("template") for t in config["chat_template"] if isinstance(t, Mapping)}
        source = named.get("default") or next(iter(named.values()), None)
    template = _compile_template(source) if isinstance(source, str) and source.strip() else None
    return ChatTokenizer(label, tokenizer, template, _special(config))


def _hub_tokenizer_files(repo: str) -> dict[str, Path | None]:
    from core.hub import hub_error

    out: dict[str, Path | None] = {}
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError
    except ImportError:  # pragma: no cover - huggingface_hub is in the base install
        raise TunerError("huggingface_hub is missing", field="tokenizer") from None
    for fname in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        try:
            with _quiet_hub_retries():
                out[fname] = Path(hf_hub_download(repo, fname))
        except LocalEntryNotFoundError:
            # A subclass of EntryNotFoundError: the file is not in the local cache and the Hub could not be asked
            # (HF_HUB_OFFLINE, or no connection), which says nothing about whether the repo has it.
            if fname != "tokenizer.json":
                out[fname] = None
                continue
            why = ("the Hub is offline (HF_HUB_OFFLINE=1)" if _hub_offline()
                   else "the Hub cannot be reached")
            raise TunerError(f"the tokenizer of {repo} is not in the local cache and {why}", field="tokenizer",
                             hint="run once with the Hub reachable to cache it, or pass --tokenizer with a local "
                                  "folder holding tokenizer.json") from None
        except EntryNotFoundError:
            out[fname] = None
        except Exception as exc:
            if fname != "tokenizer.json":
                out[fname] = None
                continue
            err = hub_error(exc, f"tokenizer of {repo}")
            raise TunerError(err.message, field="tokenizer", hint=err.hint) from None
    return out


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (set in the environment, or fixed at its import)."""
    import os

    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    return bool(getattr(constants, "HF_HUB_OFFLINE", False)) or value in {"1", "ON", "YES", "TRUE"}


@contextmanager
def _quiet_hub_retries() -> Iterator[None]:
    """huggingface_hub logs every retry of an unreachable Hub as a warning; the caller reports one line."""
    import logging

    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hub_logger.setLevel(level)


# ---- the profile ----------------------------------------------------------------------------------------

def profile_dataset(source: str, *, model: str, split: str = "train", sample: int | None = None, seed: int = 0,
                    tokenizer: ChatTokenizer | None = None) -> DatasetProfile:
    """Token lengths of every conversation (or a uniform sample of `sample`) in a local JSONL/JSON file or a
    Hub dataset, rendered with the model's chat template and counted with its tokenizer."""
    name = (source or "").strip()
    if not name:
        raise TunerError("no dataset given", field="dataset", hint="a JSONL file or a Hub dataset id")
    if sample is not None and (isinstance(sample, bool) or sample <= 0):
        raise TunerError(f"must be a positive whole number (got {sample!r})", field="sample")
    path = Path(name).expanduser()
    if path.is_dir():
        raise TunerError(f"{name} is a folder; give the JSONL file", field="dataset")
    if path.is_file():
        rows, total, sampled, bad = _local_rows(path, sample, seed)
    elif name.startswith((".", "/", "~")) or name.endswith((".jsonl", ".json")) or "/" not in name:
        raise TunerError(f"no such dataset file: {name}", field="dataset")
    else:
        rows, total, sampled, bad = _hub_rows(name, split, sample, seed)
    tok = tokenizer or load_tokenizer(model)
    texts: list[str] = []
    for row in rows:
        conversation = _conversation(row)
        if conversation is None:
            bad += 1
            continue
        try:
            texts.append(tok.render(conversation))
        except TunerError:
            raise
        except Exception:  # a template error on one odd row: skip it, count it
            bad += 1
    if not texts:
        raise TunerError(f"{name}: no conversations found ({bad} rows are not messages/conversations/"
                         "prompt+completion/text)", field="dataset")
    lengths = tuple(sorted(tok.count(texts)))
    return DatasetProfile(source=name, tokenizer=tok.name, chat_template=tok.template is not None, total=total,
                          lengths=lengths, sampled=sampled, skipped=bad, seed=seed)


# ---- what it means for the run ----------------------------------------------------------------------

@dataclass(frozen=True)
class SizedOption:
    at: str
    """p95, p99 or max"""
    max_length: int
    truncated_share: float
    tokens_per_example: int
    peak_bytes: float | None
    flavor: str | None
    strategy: str | None
    hours: float | None
    cost: float | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "max_length": self.max_length, "truncated_share": round(self.truncated_share, 4),
                "tokens_per_example": self.tokens_per_example,
                "peak_gb": None if self.peak_bytes is None else round(self.peak_bytes / 1e9, 2),
                "flavor": self.flavor, "strategy": self.strategy,
                "hours": None if self.hours is None else round(self.hours, 2),
                "cost_usd": None if self.cost is None else round(self.cost, 2), "error": self.error}


@dataclass(frozen=True)
class DataSizing:
    profile: DatasetProfile
    options: tuple[SizedOption, ...]
    suggested_max_length: int
    suggested_reason: str
    max_length: int
    """The max length the form / CLI is set to."""

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile.to_dict([self.max_length, *(o.max_length for o in self.options)]),
                "options": [o.to_dict() for o in self.options], "suggested_max_length": self.suggested_max_length,
                "suggested_reason": self.suggested_reason, "max_length": self.max_length,
                "truncated_at_max_length": round(self.profile.truncated_share(self.max_length), 4),
                "tokens_per_example_at_max_length": self.profile.mean_tokens_at(self.max_length)}


def round_up(n: int, step: int = ROUND_TO) -> int:
    return max(step, -(-n // step) * step)


def sized_by_data(profile: DatasetProfile, fields: Mapping[str, Any], *, allow_hub: bool = True) -> DataSizing:
    """Memory, cheapest flavor, time and cost with max length at the data's p95, p99 and max (each rounded up
    to a multiple of 64), the run's tokens per example from the real, truncated lengths."""
    from core.calc.plan import DEFAULT_FIELDS, FormErrors, calculate

    values = {**DEFAULT_FIELDS, **fields}
    try:
        current = int(str(values.get("max_length") or "2048").replace(",", "").replace("_", ""))
    except ValueError:
        current = 2048
    options: list[SizedOption] = []
    for label, length in (("p95", profile.percentile(0.95)), ("p99", profile.percentile(0.99)),
                          ("max", max(profile.lengths))):
        max_length = round_up(length)
        tokens = profile.mean_tokens_at(max_length)
        try:
            result = calculate({**values, "mode": "training", "max_length": str(max_length),
                                "tokens_per_example": str(tokens), "gpus": ""}, allow_hub=allow_hub)
        except FormErrors as exc:
            options.append(SizedOption(label, max_length, profile.truncated_share(max_length), tokens, None, None,
                                       None, None, None, error=exc.message))
            continue
        best = result.best
        options.append(SizedOption(label, max_length, profile.truncated_share(max_length), tokens,
                                   result.estimate.total_bytes, best.flavor.name if best else None,
                                   best.strategy if best else None, best.hours if best else None,
                                   best.cost if best else None))
    p99 = round_up(profile.percentile(0.99))
    return DataSizing(profile, tuple(options), p99,
                      f"covers {1 - profile.truncated_share(p99):.1%} of conversations untruncated (p99, rounded up "
                      f"to a multiple of {ROUND_TO})", current)


__all__ = ["CANDIDATE_LENGTHS", "ChatTokenizer", "DataSizing", "DatasetProfile", "SizedOption", "load_tokenizer",
           "profile_dataset", "round_up", "sized_by_data"]
