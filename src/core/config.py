"""User configuration: one TOML file under the XDG config dir.

Each area owns one table (`[calc]`, `[launch]`, `[jobs]`, `[convert]`, `[eval]`, `[ui]`,
`[keymap]`, `[hub]`) and reads it with its own defaults through `Config.section`, so adding a setting
never touches this module. A broken file is reported as one line and the defaults are used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from core import paths
from core.errors import TunerError

LEGACY_TABLES = {"jobs": "monitor"}
"""Tables an area was called before it had one name everywhere (read, never written)."""


@dataclass
class Config:
    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    problem: str | None = None
    """Why the file could not be read, when it could not (the app shows it once and uses defaults)."""

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        value = value if isinstance(value, dict) else {}
        legacy = LEGACY_TABLES.get(name)
        if legacy and isinstance(self.data.get(legacy), dict):
            # A config written before the area had one name keeps working; the new table wins.
            return {**self.data[legacy], **value}
        return value

    def get(self, section: str, key: str, default: Any = None) -> Any:
        return self.section(section).get(key, default)


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    if not path.exists():
        return Config(path=path)
    try:
        return Config(tomllib.loads(path.read_text(encoding="utf-8")), path=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        return Config(path=path, problem=f"{path}: {' '.join(str(exc).split())}; using defaults")


def save_config(config: Config) -> Path:
    path = config.path or paths.config_file()
    paths.ensure(path.parent)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(config.data), encoding="utf-8")
    tmp.replace(path)
    return path


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file given by the user (presets, rubrics), failing with one clear line."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TunerError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TunerError(f"{path}: not valid TOML ({exc})") from None
