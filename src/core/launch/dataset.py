"""Check a conversational dataset before any GPU time is spent on it.

The training script expects rows with a `messages` list of `{"role", "content"}` turns and at least
one assistant turn (the loss is computed on assistant turns only). A local JSONL file is counted in
full and validated on a sample; a Hub dataset is validated on its first data file when that file is
small enough to fetch (JSONL or Parquet), otherwise only its existence is checked.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import safe_json
from core.errors import TunerError

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
SAMPLE_ROWS = 200
MAX_HUB_FILE_BYTES = 64 * 1024 * 1024
CHARS_PER_TOKEN = 3.8
"""Rough English average for modern BPE vocabularies: the time estimate's fallback when the dataset cannot be
counted with the model's own tokenizer (core.launch.data_profile)."""


@dataclass
class DatasetReport:
    source: str
    """"local" or "hub"."""
    num_examples: int | None = None
    checked_rows: int = 0
    avg_chars: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def avg_tokens(self) -> float | None:
        return None if self.avg_chars is None else self.avg_chars / CHARS_PER_TOKEN


def check_row(row: Any, where: str) -> int:
    """Validate one example; return its number of characters. Raises a one-line TunerError."""
    if not isinstance(row, dict):
        raise TunerError(f"{where}: each line must be a JSON object", field="dataset",
                         hint='expected {"messages": [{"role": "user", "content": "..."}, ...]}')
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        keys = ", ".join(sorted(row)) or "none"
        raise TunerError(f"{where}: no `messages` list (keys: {keys})", field="dataset",
                         hint='each row needs "messages": [{"role": ..., "content": ...}]')
    chars = 0
    assistant = 0
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise TunerError(f"{where}: message {i} is not an object", field="dataset")
        role, content = message.get("role"), message.get("content")
        if not isinstance(role, str) or role not in ROLES:
            raise TunerError(f"{where}: message {i} has role {repr(role)[:60]}", field="dataset",
                             hint="roles are system, user, assistant, tool")
        if not isinstance(content, str):
            raise TunerError(f"{where}: message {i} has no text `content`", field="dataset")
        assistant += role == "assistant"
        chars += len(content)
    if not assistant:
        raise TunerError(f"{where}: no assistant turn, so nothing to learn", field="dataset",
                         hint="every conversation needs at least one assistant message")
    return chars


def check_local_jsonl(path: str | Path, *, sample: int = SAMPLE_ROWS) -> DatasetReport:
    """Count a JSONL file, validate its first `sample` rows, and parse its last row (a file cut off by an
    interrupted copy fails here, not hours later in the job). Lines are read with a length cap."""
    file = Path(path).expanduser()
    if not file.is_file():
        if file.exists() or file.is_symlink():
            raise TunerError(f"{path} is not a regular file", field="dataset", hint="give a .jsonl file")
        raise TunerError(f"no such file {path}", field="dataset", hint="give an existing .jsonl file")
    report = DatasetReport(source="local", num_examples=0)
    total_chars = 0
    last: tuple[int, bytes] | None = None
    try:
        with file.open("rb") as handle:
            lineno = 0
            while raw := handle.readline(safe_json.MAX_LINE_BYTES + 1):
                lineno += 1
                if len(raw) > safe_json.MAX_LINE_BYTES:
                    raise TunerError(f"{file.name} line {lineno}: longer than "
                                     f"{safe_json.MAX_LINE_BYTES // (1024 * 1024)} MiB", field="dataset",
                                     hint="one conversation per line (JSONL)")
                if not raw.strip():
                    continue
                report.num_examples = (report.num_examples or 0) + 1
                if report.checked_rows >= sample:
                    last = (lineno, raw)
                    continue
                total_chars += check_row(_parse_line(file, lineno, raw), f"{file.name} line {lineno}")
                report.checked_rows += 1
    except OSError as exc:
        raise TunerError(f"{file.name}: cannot be read ({exc.strerror or exc})", field="dataset") from None
    if last is not None:
        _parse_line(file, *last)
    if not report.num_examples:
        raise TunerError(f"{file.name} is empty", field="dataset", hint="one conversation per line")
    report.avg_chars = total_chars / max(1, report.checked_rows)
    return report


def _parse_line(file: Path, lineno: int, raw: bytes) -> Any:
    try:
        return safe_json.loads(raw, source=f"{file.name} line {lineno}")
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, field="dataset", hint="one JSON object per line (JSONL), UTF-8") from None


def check_rows(rows: list[dict[str, Any]], where: str) -> tuple[int, float]:
    total = 0
    for i, row in enumerate(rows, 1):
        total += check_row(row, f"{where} row {i}")
    return len(rows), total / max(1, len(rows))


def check_hub_dataset(repo_id: str, split: str = "train") -> DatasetReport:
    """Existence (raises TunerError/OfflineError) and, when a small data file exists, format and size."""
    from core.hub import call_with_retries, hf_api, hub_endpoint, hub_error

    try:
        info = call_with_retries(lambda: hf_api().dataset_info(repo_id, files_metadata=True),
                                 what=f"dataset {repo_id}")
    except Exception as exc:
        raise hub_error(exc, f"dataset {repo_id}") from None
    report = DatasetReport(source="hub")
    report.num_examples = _num_examples_from_card(info, split)
    files = [(s.rfilename, s.size or 0) for s in (info.siblings or [])]
    data_files = [f for f in files if f[0].endswith((".jsonl", ".json", ".parquet")) and not f[0].startswith(".")]
    preferred = [f for f in data_files if split in Path(f[0]).name or f"/{split}" in f"/{f[0]}"] or data_files
    if not preferred:
        report.notes.append("no JSONL/Parquet data file found to check the format")
        return report
    name, size = sorted(preferred)[0]
    if size > MAX_HUB_FILE_BYTES:
        report.notes.append(f"{name} is {size / 1e6:.0f} MB: format not checked before launch")
        return report
    try:
        data = call_with_retries(lambda: _fetch_file(repo_id, name, hub_endpoint()), what=f"dataset {repo_id}")
    except Exception as exc:
        raise hub_error(exc, f"dataset {repo_id} file {name}") from None
    with tempfile.TemporaryDirectory(prefix="tui-tuner-ds-") as tmp:
        local = Path(tmp) / Path(name).name
        local.write_bytes(data)
        return _check_fetched(report, local, name, repo_id, len(preferred))


def _check_fetched(report: DatasetReport, local: Path, name: str, repo_id: str, n_files: int) -> DatasetReport:
    if name.endswith(".parquet"):
        try:
            rows, count = _parquet_rows(Path(local))
        except TunerError:
            raise
        except Exception as exc:  # pyarrow's own errors for a damaged file
            raise TunerError(f"{repo_id}/{name}: not a readable Parquet file ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]})", field="dataset") from None
        checked, avg = check_rows(rows, f"{repo_id}/{name}")
        report.num_examples = report.num_examples or count
        report.checked_rows, report.avg_chars = checked, avg
    else:
        local_report = check_local_jsonl(local)
        report.num_examples = report.num_examples or local_report.num_examples
        report.checked_rows, report.avg_chars = local_report.checked_rows, local_report.avg_chars
    if n_files > 1:
        report.notes.append(f"checked {name} of {n_files} data files; the count may cover only that file")
    return report


def _fetch_file(repo_id: str, name: str, endpoint: str) -> bytes:
    """GET one small file through huggingface_hub's session and auth headers.

    The URL is built from the endpoint read now (hf_hub_download derives it from a template fixed
    when huggingface_hub was imported), so a changed HF_ENDPOINT is honoured.
    """
    from urllib.parse import quote

    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = f"{endpoint}/datasets/{repo_id}/resolve/main/{quote(name)}"
    response = get_session().get(url, headers=build_hf_headers(), follow_redirects=True, timeout=30)
    hf_raise_for_status(response)
    return response.content


def _parquet_rows(path: Path) -> tuple[list[dict[str, Any]], int]:
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow ships with datasets
        raise TunerError("cannot read Parquet here (pyarrow missing)", field="dataset") from None
    table = pq.ParquetFile(path)
    count = table.metadata.num_rows
    first = table.read_row_group(0).slice(0, SAMPLE_ROWS).to_pylist() if table.num_row_groups else []
    return first, count


def _num_examples_from_card(info: Any, split: str) -> int | None:
    card = getattr(info, "card_data", None)
    infos = card.get("dataset_info") if card is not None and hasattr(card, "get") else None
    for entry in infos if isinstance(infos, list) else [infos] if isinstance(infos, dict) else []:
        for s in entry.get("splits", []) or []:
            if s.get("name") == split and isinstance(s.get("num_examples"), int):
                return int(s["num_examples"])
    return None
