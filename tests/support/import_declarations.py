"""Does every third-party import of `core` and `tui_tuner` come with the install that reaches it?

Each of our modules runs in one install: the base (`pip install tui-tuner`) or the extra whose feature
needs it (`MODULE_INSTALLS`; inside a function that calls `require_extra("X", ...)` the install is X).
Every import it makes, at module level or inside a function, must name a distribution that pyproject
declares for the base or for that extra. Two more rules:

- a module that a base module imports at start-up (module level, transitively) runs in the base install,
  so its module-level imports must be base dependencies whatever `MODULE_INSTALLS` says;
- an import inside `try: ... except ImportError` is optional (the code has a fallback) and an import
  under `if TYPE_CHECKING:` never runs: neither needs a declaration.

Used by tests/test_declared_imports.py (the whole tree, and synthetic trees that prove the checker
catches an undeclared import) and tests/base_install (which imports every base module for real).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

BASE = "base"
OUR_PACKAGES = ("core", "tui_tuner")

MODULE_INSTALLS: dict[str, str] = {
    # The conversion pipeline: merge (torch, peft, transformers, safetensors), the GGUF read-back (gguf).
    "core.convert.merge": "convert",
    "core.convert.merge_worker": "convert",
    "core.convert.safetensors_stream": "convert",
    "core.convert.verify": "convert",
    "core.convert.pipeline": "convert",
    # MLX training writes its train/valid files from a Hub dataset through `datasets`.
    "core.launch.backends.mlx": "mlx",
    # `tui-tuner demo` trains and converts on this machine (the demo extra: train + convert).
    "core.demo": "demo",
}
"""Our modules that run only in an extra's feature (a dotted prefix covers the modules under it)."""

IMPORT_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    # Installed only on macOS (the mlx extra's marker), so this machine's metadata cannot say.
    "mlx_lm": ("mlx-lm",),
    "mlx": ("mlx",),
}
"""Top-level import names whose distribution the installed metadata cannot tell."""


def normalize(name: str) -> str:
    """PEP 503: `Foo_Bar.baz` and `foo-bar-baz` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class ImportUse:
    module: str
    """Our module that imports (dotted)."""
    top: str
    """The imported top-level name (`huggingface_hub` for `from huggingface_hub.utils import x`)."""
    statement: str
    line: int
    module_level: bool
    install: str
    """The install that runs this import: BASE or an extra's name."""


@dataclass
class ModuleInfo:
    name: str
    path: Path
    uses: list[ImportUse] = field(default_factory=list)
    startup_edges: set[str] = field(default_factory=set)
    """Our modules this one imports at module level (so they load when it loads)."""


@dataclass(frozen=True)
class Violation:
    module: str
    statement: str
    line: int
    distribution: str
    needed_in: str
    reason: str

    def line_text(self) -> str:
        return (f"{self.module}:{self.line}: `{self.statement}` needs {self.distribution!r} in the "
                f"{'base dependencies' if self.needed_in == BASE else f'[{self.needed_in}] extra'} "
                f"of pyproject.toml ({self.reason})")


# --- pyproject ----------------------------------------------------------------------------------------------

def declared_distributions(pyproject_text: str) -> dict[str, set[str]]:
    """{install: normalized distribution names} for BASE and every extra, self-references resolved
    (`all = ["tui-tuner[train,convert]"]` holds what those extras hold)."""
    project = tomllib.loads(pyproject_text)["project"]
    own = normalize(project["name"])
    raw: dict[str, list[str]] = {BASE: list(project.get("dependencies", []))}
    raw.update(project.get("optional-dependencies", {}))

    def names(install: str, seen: frozenset[str]) -> set[str]:
        out: set[str] = set()
        for requirement in raw.get(install, []):
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
            if not match:
                continue
            name = normalize(match.group(1))
            if name == own:
                for extra in (match.group(2) or "").split(","):
                    extra = extra.strip()
                    if extra and extra not in seen:
                        out |= names(extra, seen | {extra})
            else:
                out.add(name)
        return out

    return {install: names(install, frozenset({install})) for install in raw}


# --- walking our sources ------------------------------------------------------------------------------------

def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def install_of(module: str, table: Mapping[str, str]) -> str:
    best = ""
    for prefix in table:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return table[best] if best else BASE


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in {"ImportError", "ModuleNotFoundError"} for k in kinds)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _required_extra(function: ast.AST) -> str | None:
    """The extra a function asks for with `require_extra("X", ...)` (any spelling of the call)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            callee = node.func
            called = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", "")
            if called == "require_extra" and isinstance(node.args[0].value, str):
                return node.args[0].value
    return None


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, node.module] if node.module else base)


def _walk_imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, str | None]]:
    """(import node, module level?, extra required by an enclosing function), skipping optional and
    TYPE_CHECKING imports."""

    def visit(node: ast.AST, in_function: bool, extra: str | None) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, str | None]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, not in_function, extra
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from visit(child, in_function, extra)
            return
        if isinstance(node, ast.Try | ast.TryStar) and any(_catches_import_error(h) for h in node.handlers):
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from visit(child, in_function, extra)
            return  # the try body's imports are optional
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            extra = _required_extra(node) or extra
            in_function = True
        for child in ast.iter_child_nodes(node):
            yield from visit(child, in_function, extra)

    yield from visit(tree, False, None)


def scan(src: Path, packages: Iterable[str] = OUR_PACKAGES,
         table: Mapping[str, str] = MODULE_INSTALLS) -> dict[str, ModuleInfo]:
    """Every module under src/<package> with the imports it makes."""
    packages = tuple(packages)
    files = sorted(p for pkg in packages for p in (src / pkg).rglob("*.py"))
    modules: dict[str, ModuleInfo] = {}
    for path in files:
        name = module_name(src, path)
        info = ModuleInfo(name, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, module_level, extra in _walk_imports(tree):
            install = extra or install_of(name, table)
            if isinstance(node, ast.Import):
                targets = [(alias.name, f"import {alias.name}") for alias in node.names]
            else:
                target = _resolve_from(name, path.name == "__init__.py", node)
                shown = "." * node.level + (node.module or "")
                targets = [(target, f"from {shown} import {', '.join(a.name for a in node.names)}")]
                # `from core.convert import pipeline` loads the submodule too
                targets += [(f"{target}.{a.name}", "") for a in node.names]
            for dotted, statement in targets:
                top = dotted.split(".")[0]
                if not top or top == "__future__":
                    continue
                if top in packages:
                    if module_level:
                        parts = dotted.split(".")
                        info.startup_edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
                    continue
                if statement and top not in sys.stdlib_module_names:
                    info.uses.append(ImportUse(name, top, statement, node.lineno, module_level, install))
        modules[name] = info
    for info in modules.values():  # keep only edges to modules that exist (`from x import function`)
        info.startup_edges = {m for m in info.startup_edges if m in modules and m != info.name}
    return modules


def loaded_at_startup_of_base(modules: Mapping[str, ModuleInfo],
                              table: Mapping[str, str] = MODULE_INSTALLS) -> dict[str, str]:
    """{module: a base module that loads it at import time} for every module a base module reaches."""
    reached: dict[str, str] = {}
    stack = [(m, m) for m in modules if install_of(m, table) == BASE]
    while stack:
        name, via = stack.pop()
        if name in reached:
            continue
        reached[name] = via
        stack += [(edge, via) for edge in modules[name].startup_edges]
    return reached


# --- import name -> distribution ----------------------------------------------------------------------------

@cache
def _installed_distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def distributions_of(top: str, explicit: Mapping[str, tuple[str, ...]] = IMPORT_DISTRIBUTIONS) -> set[str]:
    if top in explicit:
        return {normalize(d) for d in explicit[top]}
    return {normalize(d) for d in _installed_distributions().get(top, [])}


# --- the check ----------------------------------------------------------------------------------------------

def check(src: Path, pyproject_text: str, *, packages: Iterable[str] = OUR_PACKAGES,
          table: Mapping[str, str] = MODULE_INSTALLS,
          explicit: Mapping[str, tuple[str, ...]] = IMPORT_DISTRIBUTIONS) -> list[Violation]:
    declared = declared_distributions(pyproject_text)
    modules = scan(src, packages, table)
    at_startup = loaded_at_startup_of_base(modules, table)
    violations: list[Violation] = []
    for info in modules.values():
        for use in info.uses:
            candidates = distributions_of(use.top, explicit)
            shown = " or ".join(sorted(candidates)) if candidates else use.top
            if use.install not in declared:
                violations.append(Violation(use.module, use.statement, use.line, shown, use.install,
                                            f"pyproject has no [{use.install}] extra"))
                continue
            if not candidates:
                violations.append(Violation(use.module, use.statement, use.line, use.top, use.install,
                                            "no installed distribution provides it: install it, or name its "
                                            "distribution in IMPORT_DISTRIBUTIONS"))
                continue
            if use.module_level and info.name in at_startup and use.install != BASE:
                needed, reason = BASE, (f"module level, and {info.name} loads at start-up of the base "
                                        f"module {at_startup[info.name]}")
            else:
                needed = use.install
                where = "module level" if use.module_level else "inside a function"
                reason = f"{where} of a module of the {needed} install"
            allowed = declared[BASE] | (declared[needed] if needed != BASE else set())
            if not candidates & allowed:
                violations.append(Violation(use.module, use.statement, use.line, shown, needed, reason))
    return violations
