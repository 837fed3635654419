"""Every third-party import of `core` and `tui_tuner` is declared in the install that reaches it.

The checker (tests/support/import_declarations.py) walks every import, module-level and inside functions,
maps it to its distribution and each of our modules to its install (base, or the extra of its feature),
and names the module, the import and the missing declaration. The synthetic cases prove it catches an
undeclared import such as the `httpx` that the base install once lacked.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from core.extras import EXTRA_MODULES
from tests.support import import_declarations as decl

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def test_every_import_is_declared_for_its_install() -> None:
    violations = decl.check(SRC, PYPROJECT)
    assert not violations, "undeclared imports:\n" + "\n".join(v.line_text() for v in violations)


def test_the_check_catches_todays_httpx_when_the_base_does_not_declare_it() -> None:
    without_httpx = re.sub(r'\n\s*"httpx[^"\n]*",[^\n]*', "", PYPROJECT)
    assert "httpx" not in decl.declared_distributions(without_httpx)[decl.BASE]
    violations = decl.check(SRC, without_httpx)
    found = {(v.module, v.statement, v.distribution, v.needed_in) for v in violations}
    assert ("core.eval.openai_client", "import httpx", "httpx", decl.BASE) in found
    assert ("core.eval.server", "import httpx", "httpx", decl.BASE) in found
    line = next(v.line_text() for v in violations if v.module == "core.eval.openai_client")
    assert line.startswith("core.eval.openai_client:") and "needs 'httpx' in the base dependencies" in line


def test_the_extras_pulling_httpx_in_do_not_hide_it() -> None:
    # CI once installed .[train,convert,dev]: trackio brought httpx, so a base module's import worked there.
    # Declaring it only in an extra is still a violation for a base module.
    moved = re.sub(r'\n\s*"httpx[^"\n]*",[^\n]*', "", PYPROJECT).replace(
        'trackio = ["trackio"]', 'trackio = ["trackio", "httpx"]')
    assert "httpx" in decl.declared_distributions(moved)["trackio"]
    assert {v.module for v in decl.check(SRC, moved)} >= {"core.eval.openai_client", "core.eval.server"}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return src


SYNTHETIC_PYPROJECT = """
[project]
name = "demo-app"
dependencies = ["rich>=13"]

[project.optional-dependencies]
train = ["trl", "torch"]
convert = ["gguf"]
all = ["demo-app[train,convert]"]
"""

SYNTHETIC_DISTRIBUTIONS = {"httpx": ("httpx",), "rich": ("rich",), "trl": ("trl",), "torch": ("torch",),
                           "gguf": ("gguf",), "orjson": ("orjson",)}


def test_the_check_on_a_synthetic_package(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "app/__init__.py": "",
        "app/client.py": """\
            import json
            import httpx                     # base module, undeclared: caught
            from rich.text import Text       # declared in the base
            """,
        "app/train.py": """\
            from app.extras import require_extra

            def run():
                require_extra("train", feature="training")
                import trl                   # declared in [train]: fine
                import torch

            def preview():
                import torch                 # no require_extra, base module: caught
            """,
        "app/convert/__init__.py": "",
        "app/convert/verify.py": """\
            def read():
                import gguf                  # the module is mapped to [convert]: fine
            """,
        "app/fast.py": """\
            try:
                from orjson import loads     # optional, with a fallback: fine
            except ImportError:
                from json import loads
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import trl                   # never runs: fine
            """,
        "app/extras.py": "def require_extra(extra, *, feature): ...\n",
    })
    violations = decl.check(src, SYNTHETIC_PYPROJECT, packages=("app",), table={"app.convert": "convert"},
                            explicit=SYNTHETIC_DISTRIBUTIONS)
    found = sorted((v.module, v.statement, v.distribution, v.needed_in) for v in violations)
    assert found == [("app.client", "import httpx", "httpx", "base"),
                     ("app.train", "import torch", "torch", "base")]
    assert {v.module: v.line for v in violations} == {"app.client": 2, "app.train": 9}
    text = "\n".join(v.line_text() for v in violations)
    assert "app.client:2: `import httpx` needs 'httpx' in the base dependencies of pyproject.toml" in text
    assert "inside a function" in text


def test_a_module_of_an_extra_loaded_at_base_start_up_needs_base_imports(tmp_path: Path) -> None:
    # The extra's module is mapped to [convert], but a base screen imports it at module level: its own
    # module-level import then runs in the base install.
    src = _tree(tmp_path, {
        "app/__init__.py": "",
        "app/screen.py": "from app.pipeline import run\n",
        "app/pipeline.py": "import gguf\n\ndef run():\n    import gguf\n",
    })
    violations = decl.check(src, SYNTHETIC_PYPROJECT, packages=("app",), table={"app.pipeline": "convert"},
                            explicit=SYNTHETIC_DISTRIBUTIONS)
    assert [(v.module, v.line, v.needed_in) for v in violations] == [("app.pipeline", 1, "base")]
    assert "loads at start-up of the base module app.screen" in violations[0].line_text()


def test_an_import_nobody_can_name_is_reported(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"app/__init__.py": "import surely_not_installed_anywhere\n"})
    (violation,) = decl.check(src, SYNTHETIC_PYPROJECT, packages=("app",), table={}, explicit={})
    assert violation.distribution == "surely_not_installed_anywhere"
    assert "IMPORT_DISTRIBUTIONS" in violation.reason


def test_declared_distributions_resolve_self_references() -> None:
    declared = decl.declared_distributions(SYNTHETIC_PYPROJECT)
    assert declared["all"] == {"trl", "torch", "gguf"} and declared[decl.BASE] == {"rich"}
    real = decl.declared_distributions(PYPROJECT)
    assert {"httpx", "huggingface-hub", "textual"} <= real[decl.BASE]
    assert "torch" not in real[decl.BASE]  # the base install never pulls torch


@pytest.mark.parametrize("extra", sorted(EXTRA_MODULES))
def test_require_extra_checks_only_modules_its_extra_declares(extra: str) -> None:
    declared = decl.declared_distributions(PYPROJECT)
    assert extra in declared, f"core.extras knows [{extra}], pyproject does not"
    for module in EXTRA_MODULES[extra]:
        distributions = decl.distributions_of(module)
        assert distributions & (declared[extra] | declared[decl.BASE]), (
            f"require_extra({extra!r}) checks {module}, which [{extra}] does not declare")


def test_the_module_table_names_real_modules_and_extras() -> None:
    modules = decl.scan(SRC)
    declared = decl.declared_distributions(PYPROJECT)
    for prefix, install in decl.MODULE_INSTALLS.items():
        assert any(m == prefix or m.startswith(prefix + ".") for m in modules), f"{prefix}: no such module"
        assert install in declared, f"{prefix}: no [{install}] extra in pyproject.toml"
