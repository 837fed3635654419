"""Every verb of the `tui-tuner` command answers `--help` (exit 0, usage on stdout, nothing on stderr)."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.base_install.conftest import run_cli
from tui_tuner.cli import build_parser


def verb_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) in seen:
                    continue  # an alias (`jobs ls`, `monitor`): the same parser under another name
                seen.add(id(sub))
                paths.append((*prefix, name))
                paths += verb_paths(sub, (*prefix, name))
    return paths


def test_every_verb_answers_help(tmp_path: Path) -> None:
    verbs = verb_paths(build_parser())
    names = {" ".join(v) for v in verbs}
    assert {"calc", "launch", "jobs", "jobs ps", "convert", "llama-cpp", "eval", "eval run", "eval view",
            "tui", "locate"} <= names
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda v: (v, run_cli(*v, "--help", cwd=tmp_path)), [(), *verbs]))
    failed = [f"tui-tuner {' '.join(v)} --help: exit {r.returncode}; {r.stderr.strip()[-500:]}"
              for v, r in results if r.returncode != 0 or r.stderr.strip()]
    assert not failed, "\n".join(failed)
    for verb, result in results:
        assert result.stdout.startswith(f"usage: tui-tuner {' '.join(verb)}".rstrip()), (verb, result.stdout[:200])
