"""Core events are a typed union that the app and the CLI handle with `match` on the type (ARCHITECTURE.md,
"Events"), not with `isinstance` chains: a `match` keeps every printer and screen in one shape, and a type
checker can tell when a case is missing. This walks the app and the CLI for `isinstance(..., <an event>)`.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import core.convert.events
import core.demo.events
import core.eval.runner
import core.jobs.events
import tui_tuner

UNIONS = {
    "core.convert.events": core.convert.events.ConvertEvent,
    "core.demo.events": core.demo.events.DemoEvent,
    "core.eval.runner": core.eval.runner.EvalEvent,
    "core.jobs.events": core.jobs.events.FollowEvent,
}
APP = Path(tui_tuner.__file__).parent


def _members(union: object) -> set[str]:
    names: set[str] = set()
    for arg in typing.get_args(union):
        names |= _members(arg) if typing.get_args(arg) else {arg.__name__}
    return names


EVENTS = {module: _members(union) for module, union in UNIONS.items()}


def _event_names(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """The event classes a module imported (`from core.eval.runner import RunFinished`) and the event modules
    it imported by name (`from core.eval import runner`: {"runner": "core.eval.runner"})."""
    classes: set[str] = set()
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in EVENTS:
            classes |= {alias.asname or alias.name for alias in node.names if alias.name in EVENTS[node.module]}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in EVENTS:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return classes, modules


def isinstance_on_events(source: str, where: str) -> list[str]:
    """`where:line: isinstance(...)` for each isinstance test against a core event class in `source`."""
    tree = ast.parse(source)
    classes, modules = _event_names(tree)

    def is_event(kind: ast.expr) -> bool:
        if isinstance(kind, ast.Name):
            return kind.id in classes
        return (isinstance(kind, ast.Attribute) and isinstance(kind.value, ast.Name) and kind.value.id in modules
                and kind.attr in EVENTS[modules[kind.value.id]])

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            if any(is_event(kind) for kind in kinds):
                found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_unions_are_read() -> None:
    assert {"RunFinished", "ConversationFailed"} <= EVENTS["core.eval.runner"]
    assert {"StreamFinished", "LogLine"} <= EVENTS["core.jobs.events"]  # a nested union's members too


def test_the_check_finds_isinstance_dispatch_and_nothing_else() -> None:
    source = (
        "from core.eval.runner import RunFinished\n"
        "from core.convert import events\n"
        "from rich.progress import Progress\n"
        "def f(event, bar):\n"
        "    a = isinstance(event, RunFinished)\n"
        "    b = isinstance(event, (str, events.StepFailed))\n"
        "    return a, b, isinstance(bar, Progress), isinstance(event, str)\n"
    )
    assert isinstance_on_events(source, "sample.py") == [
        "sample.py:5: isinstance(event, RunFinished)", "sample.py:6: isinstance(event, (str, events.StepFailed))"]


def test_app_and_cli_match_on_event_types() -> None:
    found = [line for path in sorted(APP.rglob("*.py"))
             for line in isinstance_on_events(path.read_text(encoding="utf-8"), str(path.relative_to(APP.parent)))]
    assert found == [], "dispatch on core events with `match event: case ...()`, not isinstance:\n" + "\n".join(found)
