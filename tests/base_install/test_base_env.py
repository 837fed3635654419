"""The base install holds no ML stack, and every module of the base install imports without one."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec

from core.extras import has_extra, missing_modules
from tests.base_install.conftest import HEAVY_MODULES, ROOT, base_install_only
from tests.support.import_declarations import loaded_at_startup_of_base, scan


@base_install_only
def test_the_heavy_stack_is_not_installed() -> None:
    present = [m for m in HEAVY_MODULES if find_spec(m) is not None]
    assert not present, f"the base install pulled in {present}"
    assert not has_extra("train") and not has_extra("convert")
    assert "torch" in missing_modules("train") and "gguf" in missing_modules("convert")


def test_every_base_module_imports_without_the_ml_stack() -> None:
    # Everything the base install runs, imported in a fresh interpreter: a module-level import of an
    # undeclared or extra-only package fails here in the base venv; and in any venv, none of them may
    # pull torch & co. at import time (start-up speed; the CLI's promise).
    modules = scan(ROOT / "src")
    base = sorted(m for m in loaded_at_startup_of_base(modules) if not m.endswith("__main__"))
    assert "tui_tuner.app" in base and "core.eval.openai_client" in base
    code = ("import importlib, json, sys\n"
            f"for name in {base!r}:\n    importlib.import_module(name)\n"
            f"print(json.dumps(sorted(m for m in {list(HEAVY_MODULES)!r} if m in sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
