"""User configuration: one TOML file under the XDG config dir.

Each area owns one table (`[calc]`, `[launch]`, `[jobs]`, `[convert]`, `[eval]`, `[ui]`,
`[keymap]`, `[hub]`) and reads it with its own defaults through `Config.section`, so adding a setting
never touches this module. A broken file is reported as one line and the defaults are used.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from core import paths, safe_json
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
    if not os.path.lexists(path):  # lexists: a dangling link or a loop is a problem to report, not "no file"
        return Config(path=path)
    try:
        return Config(read_toml(path), path=path)
    except TunerError as exc:
        return Config(path=path, problem=f"{exc.one_line()}; using defaults")


def save_config(config: Config) -> Path:
    path = config.path or paths.config_file()
    paths.ensure(path.parent)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(config.data), encoding="utf-8")
    tmp.replace(path)
    return path


MAX_TOML_BYTES = 16 * 1024 * 1024
"""Largest TOML file read (config, presets, rubrics, themes are a few KB)."""


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file (the config, presets, rubrics, themes), failing with one clear line: a missing
    file, a directory or FIFO (never waited on), bytes that are not UTF-8, bad syntax, or nesting so deep
    that the parser would exceed the recursion limit."""
    try:
        text = safe_json.read_text(path, max_bytes=MAX_TOML_BYTES)
    except safe_json.JsonInputError as exc:
        raise TunerError(exc.message, hint=exc.hint) from None
    return parse_toml(text, str(path))


def parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TunerError(f"{source}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise TunerError(f"{source}: nested too deeply to be read") from None
    except ValueError as exc:  # e.g. an integer over the int-digits limit
        raise TunerError(f"{source}: not valid TOML ({exc})") from None
