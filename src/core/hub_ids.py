"""Hugging Face Hub names, checked offline with the Hub's own rules, and where a local path ends.

One validator for every place that takes a repo id (a base model, a dataset, an adapter, an output repo,
a Trackio Space), a namespace (user or organisation) or an HF Jobs job id, so that `Qwen/Q--x..y` or
`../../etc` is refused as one line before anything is downloaded, uploaded or requested. The repo-id
rules are those of `huggingface_hub.utils.validate_repo_id` (a test compares the two), restated here
because the CLI must start without importing huggingface_hub:

- `name` or `namespace/name`; each part 1-96 characters of ASCII letters, digits, `-`, `_`, `.`;
- a part neither starts nor ends with `-` or `.`; `--` and `..` appear nowhere; no `.git` at the end.

A reference that may be either (`--base-model`, `calc --model`) is a local path only when it says so:
it starts with `/`, `./`, `../` or `~` — or it names a folder that exists, which is also how
transformers and PEFT resolve the same string when the training script or the merge loads it. A
`--*-repo` option takes a Hub id and never a path; a `--*-path` option takes a path and never an id.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import TunerError

_PART = r"(?=[A-Za-z0-9_])[A-Za-z0-9_.-]{1,96}(?<=[A-Za-z0-9_])"
_REPO_ID = re.compile(rf"(?:{_PART}/)?{_PART}", re.ASCII)
_NAMESPACE = re.compile(_PART, re.ASCII)
_JOB_ID = re.compile(r"[0-9a-f]{24}")
_PATH_PREFIXES = ("/", "./", "../", "~")


def repo_id_problem(text: str) -> str | None:
    """Why `text` is not a valid Hub repo id, or None when it is one."""
    if not isinstance(text, str) or not text:
        return "empty"
    if text.count("/") > 1:
        return "use namespace/name: one '/' at most"
    if not _REPO_ID.fullmatch(text):
        return ("use letters, digits, '-', '_' or '.', at most 96 per part, not starting or ending with "
                "'-' or '.'")
    if "--" in text or ".." in text:
        return "the Hub forbids '--' and '..' in repo ids"
    if text.endswith(".git"):
        return "a repo id cannot end in '.git'"
    return None


def is_repo_id(text: str) -> bool:
    return repo_id_problem(text) is None


def validate_repo_id(text: str, *, field: str | None = None, what: str = "repo id",
                     need_namespace: bool = False) -> str:
    """`text` when it is a Hub repo id (`namespace/name` if `need_namespace`), else one-line TunerError."""
    value = str(text).strip()
    problem = repo_id_problem(value)
    if problem is None and need_namespace and "/" not in value:
        problem = "use namespace/name, e.g. Qwen/Qwen3-8B"
    if problem is not None:
        raise TunerError(f"{_shown(value)} is not a valid Hub {what} ({problem})", field=field)
    return value


def namespace_problem(text: str) -> str | None:
    """Why `text` is not a Hub user or organisation name, or None."""
    if not isinstance(text, str) or not text:
        return "empty"
    if not _NAMESPACE.fullmatch(text):
        return "use letters, digits, '-', '_' or '.', not starting or ending with '-' or '.'"
    if "--" in text or ".." in text:
        return "the Hub forbids '--' and '..' in names"
    return None


def validate_namespace(text: str, *, field: str | None = "namespace") -> str:
    value = str(text).strip()
    problem = namespace_problem(value)
    if problem is not None:
        raise TunerError(f"{_shown(value)} is not a Hub user or organisation name ({problem})", field=field)
    return value


def is_job_id(text: str) -> bool:
    return isinstance(text, str) and bool(_JOB_ID.fullmatch(text))


def validate_job_id(text: str) -> str:
    """An HF Jobs job id: 24 lowercase hexadecimal characters (what `hf jobs ps` shows)."""
    value = str(text).strip()
    if not is_job_id(value):
        raise TunerError(f"{_shown(value)} is not an HF Jobs job id",
                         hint="a job id is 24 hexadecimal characters, e.g. 68a1b2c3d4e5f60718293a4b; "
                              "`tui-tuner jobs ps` lists them")
    return value


def is_explicit_path(text: str) -> bool:
    """`text` says it is a path: it starts with '/', './', '../' or '~' (or is '.' or '..')."""
    return text in (".", "..") or text.startswith(_PATH_PREFIXES)


def is_local_ref(text: str) -> bool:
    """A model/adapter reference that means a local folder or file (see the module docstring)."""
    text = text.strip()
    if not text:
        return False
    if is_explicit_path(text):
        return True
    try:
        return Path(text).expanduser().is_dir()
    except OSError:
        return False


def _shown(value: str) -> str:
    return repr(value if len(value) <= 120 else value[:117] + "...")


__all__ = ["is_explicit_path", "is_job_id", "is_local_ref", "is_repo_id", "namespace_problem", "repo_id_problem",
           "validate_job_id", "validate_namespace", "validate_repo_id"]
