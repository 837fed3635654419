"""Where tui-tuner keeps its files (XDG on Linux, the platform's equivalents elsewhere).

One function per location so tests can isolate all of them by setting TUI_TUNER_HOME or the XDG
variables.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

APP_NAME = "tui-tuner"


def _override(sub: str) -> Path | None:
    # TUI_TUNER_HOME puts every location under one folder (tests, portable installs).
    home = os.environ.get("TUI_TUNER_HOME")
    return Path(home) / sub if home else None


def config_dir() -> Path:
    return _override("config") or platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    return _override("data") or platformdirs.user_data_path(APP_NAME)


def cache_dir() -> Path:
    # Heavy, rebuildable artefacts (the llama.cpp build, converted test models) may live apart from
    # TUI_TUNER_HOME so isolated test runs still reuse them.
    explicit = os.environ.get("TUI_TUNER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return _override("cache") or platformdirs.user_cache_path(APP_NAME)


def config_file() -> Path:
    return config_dir() / "config.toml"


def store_file() -> Path:
    return data_dir() / "tui-tuner.sqlite3"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def logs_dir() -> Path:
    return data_dir() / "logs"


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_name(text: str, default: str = "model") -> str:
    """A file or folder name from free text: each run of characters other than word characters, '.'
    and '-' becomes one '-'; `default` when nothing is left."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-.") or default
