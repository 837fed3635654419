"""Headless core of tui-tuner.

Everything here is plain Python: dataclasses in, dataclasses or async event iterators out.
It must never import Textual (an import-linter contract and tests/test_headless_core.py enforce it),
so the same logic serves the TUI, the `tui-tuner` CLI and scripts.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
