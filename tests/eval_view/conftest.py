"""Fixtures for the eval-view tests: results directories built with the runner's own writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.eval_view.fixtures import make_results


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """3 models × 9 personas × 3 conversations, finished; ft-a clearly better, ft-b slightly, with a violation."""
    return make_results(tmp_path / "run1")


@pytest.fixture
def two_model_dir(tmp_path: Path) -> Path:
    return make_results(tmp_path / "run2", models=("baseline", "ft"), violations=())
