"""The launch's dataset in real tokens: the calculator's dataset profile (core.calc.dataset_profile), taken once
per dataset and tokenizer and reused while the form is edited.

    outcome = profile_for_launch(config, online=False)   # LaunchProfile or ProfileUnavailable, never raises

The preflight uses it for tokens per example (steps → time → cost), the share truncated at the chosen max
length, and memory at p95/p99/max. The tokenizer comes from a local model folder, the huggingface_hub cache, or
(online only) the Hub; a Hub dataset is read only online, then served from this cache. When any of that fails
the preflight falls back to characters ÷ 3.8 and says why in one line.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import TunerError

PROFILE_SAMPLE = 5_000
"""Conversations tokenized per dataset (a uniform sample, seed 0, beyond that): p99 rests on ≥ 50 of them."""
TRUNCATION_WARN = 0.01
"""Share of conversations cut at max_length above which the preflight warns (the p99 suggestion fixes it)."""
CACHE_SIZE = 16
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


@dataclass(frozen=True)
class LaunchProfile:
    profile: Any
    """core.calc.dataset_profile.DatasetProfile"""

    def tokens_per_example(self, max_length: int) -> int:
        """Mean tokens the GPU computes per example: conversations longer than max_length count max_length."""
        return int(self.profile.mean_tokens_at(max_length))

    def to_dict(self, max_length: int) -> dict[str, Any]:
        from core.calc.dataset_profile import ROUND_TO, round_up

        p99 = round_up(self.profile.percentile(0.99), ROUND_TO)
        return {**self.profile.to_dict([max_length]), "max_length": max_length,
                "truncated_at_max_length": round(self.profile.truncated_share(max_length), 4),
                "tokens_per_example_at_max_length": self.tokens_per_example(max_length),
                "suggested_max_length": p99, "sample_size": PROFILE_SAMPLE}


@dataclass(frozen=True)
class ProfileUnavailable:
    reason: str
    """One line: why the dataset could not be counted in real tokens."""


_cache: OrderedDict[tuple[Any, ...], LaunchProfile | ProfileUnavailable] = OrderedDict()
_running: dict[tuple[Any, ...], threading.Event] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def profile_for_launch(config: Any, *, online: bool) -> LaunchProfile | ProfileUnavailable:
    """The dataset of `config` (a LaunchConfig) profiled with its base model's tokenizer and chat template.

    Cached per (dataset fingerprint, tokenizer fingerprint, split); one profile per key at a time, so the
    preflights started as the user types wait for the running one instead of tokenizing again."""
    try:
        dataset_key = _dataset_fingerprint(config, online)
        tokenizer_key, tokenizer_ref, hub_repo = _tokenizer_ref(config.base_model, online)
    except TunerError as exc:
        return ProfileUnavailable(exc.message)
    key = (dataset_key, tokenizer_key, config.dataset_split or "train", PROFILE_SAMPLE)
    while True:
        with _lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
            waiting = _running.get(key)
            if waiting is None:
                _running[key] = threading.Event()
                break
        waiting.wait()
    try:
        outcome = _profile(config, tokenizer_ref, hub_repo)
        # A failure that involved the Hub (a dropped connection) is tried again next time; a local one is not.
        keep = isinstance(outcome, LaunchProfile) or (dataset_key[0] == "file" and hub_repo is None)
        with _lock:
            if keep:
                _cache[key] = outcome
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return outcome
    finally:
        with _lock:
            _running.pop(key).set()


def _profile(config: Any, tokenizer_ref: str, hub_repo: str | None) -> LaunchProfile | ProfileUnavailable:
    from core.calc.dataset_profile import _hub_tokenizer_files, load_tokenizer, profile_dataset

    try:
        if hub_repo and tokenizer_ref == hub_repo:  # online, not cached yet: this repo's own tokenizer files
            found = _hub_tokenizer_files(hub_repo).get("tokenizer.json")
            if found is None:
                raise TunerError(f"{hub_repo} has no tokenizer.json (the fast tokenizer the profile needs)")
            tokenizer_ref = str(found.parent)
        tokenizer = load_tokenizer(tokenizer_ref)
        if hub_repo:  # a cache snapshot folder is named by its commit: name the repo instead
            tokenizer.name = hub_repo
        profile = profile_dataset(str(Path(config.dataset).expanduser()) if config.dataset_is_local else config.dataset,
                                  model=tokenizer_ref, split=config.dataset_split or "train",
                                  sample=PROFILE_SAMPLE, tokenizer=tokenizer)
    except TunerError as exc:
        return ProfileUnavailable(exc.message)
    except Exception as exc:  # a tokenizer or template library failing on odd input: fall back, never an error
        return ProfileUnavailable(f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}")
    return LaunchProfile(profile)


def _dataset_fingerprint(config: Any, online: bool) -> tuple[Any, ...]:
    if config.dataset_is_local:
        path = Path(config.dataset).expanduser()
        try:
            stat = path.resolve().stat()
        except OSError as exc:
            raise TunerError(f"{path.name} cannot be read ({exc.strerror or exc})") from None
        return ("file", str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    key = ("hub", config.dataset.strip())
    if not online:
        with _lock:  # profiled by an earlier online check: reuse it; never read the Hub offline
            if not any(k[0] == key for k in _cache):
                raise TunerError("the Hub dataset is read only when the Hub checks run (ctrl+t / Launch)")
    return key


def _tokenizer_ref(model: str, online: bool) -> tuple[str, str, str | None]:
    """(cache key, what load_tokenizer gets, the Hub repo if any): a local folder, the snapshot folder of the
    huggingface_hub cache, or (online) the Hub id itself."""
    from core.calc.catalog import find_entry

    name = (model or "").strip()
    folder = Path(name).expanduser()
    if folder.is_file() and folder.name == "config.json":
        folder = folder.parent
    if folder.is_dir():
        tok = folder / "tokenizer.json"
        if not tok.is_file():
            raise TunerError(f"{folder.name} has no tokenizer.json")
        return f"{folder.resolve()}@{tok.stat().st_mtime_ns}", str(folder), None
    entry = None if "/" in name else find_entry(name)  # a catalog key: its instruct (last) Hub id
    repo = entry.hub_ids[-1] if entry is not None else name
    if "/" not in repo:
        raise TunerError(f"no tokenizer for {name!r}")
    cached = _cached_snapshot(repo)
    if cached is not None:
        return repo, str(cached), repo
    if not online:
        raise TunerError(f"{repo}'s tokenizer is not in the Hugging Face cache (fetched when the Hub checks run)")
    return repo, repo, repo


def _cached_snapshot(repo: str) -> Path | None:
    """The cache folder holding `repo`'s tokenizer.json, when huggingface_hub already has it (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is in the base install
        return None
    try:
        found = try_to_load_from_cache(repo, "tokenizer.json")
    except Exception:  # a malformed repo id
        return None
    return Path(found).parent if isinstance(found, str) else None


__all__ = ["PROFILE_SAMPLE", "TRUNCATION_WARN", "LaunchProfile", "ProfileUnavailable", "clear_cache",
           "profile_for_launch"]
