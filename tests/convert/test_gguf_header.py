"""The metadata-only GGUF reader agrees with `gguf.GGUFReader`, catches truncation, and stays fast."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from core.convert.gguf_header import FILE_TYPES, GGML_TYPES, GGUFFormatError, read_header
from core.convert.verify import read_gguf
from core.errors import TunerError


def test_type_tables_match_the_gguf_package() -> None:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

    for qtype, (block, size) in GGML_QUANT_SIZES.items():
        assert GGML_TYPES[int(qtype)] == (qtype.name, block, size), qtype
    assert set(GGML_TYPES) == {int(q) for q in GGMLQuantizationType}
    for ft in LlamaFileType:
        if ft.name != "GUESSED":
            assert FILE_TYPES[int(ft)] == ft.name, ft
    from core.convert.quant_types import QUANT_TYPES

    for q in QUANT_TYPES:  # every type a user can pick has a name the verify step can compare
        assert FILE_TYPES[q.ftype].endswith(q.name), q


def test_header_matches_gguf_reader_on_a_real_file(smollm2_gguf: Path) -> None:
    from gguf import GGUFReader

    header = read_header(smollm2_gguf)
    reader = GGUFReader(str(smollm2_gguf))
    assert len(header.tensors) == len(reader.tensors)
    for mine, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert mine.name == theirs.name
        assert mine.type_name == theirs.tensor_type.name
        assert mine.nbytes == int(theirs.n_bytes)
        assert header.data_start + mine.offset == int(theirs.data_offset)
    assert header.get("general.architecture") == reader.get_field("general.architecture").contents()
    assert header.get("tokenizer.chat_template") == reader.get_field("tokenizer.chat_template").contents()
    assert header.metadata["tokenizer.ggml.tokens"][2] == len(reader.get_field("tokenizer.ggml.tokens").data)
    assert header.data_end == smollm2_gguf.stat().st_size and header.problems == []
    info = read_gguf(smollm2_gguf)
    assert info.architecture == "llama" and info.tensor_count == len(reader.tensors) and info.has_chat_template


def test_reading_the_header_is_fast(smollm2_gguf: Path) -> None:
    # Not a benchmark: a guard against falling back to reading tensor data or one object per vocab entry.
    started = time.perf_counter()
    for _ in range(5):
        read_header(smollm2_gguf)
    assert (time.perf_counter() - started) / 5 < 0.5


def test_truncated_and_corrupt_files_are_reported(smollm2_gguf: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    with open(smollm2_gguf, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(read_header(smollm2_gguf).data_start + 1_000_000))  # whole header, 1 MB of data
    header = read_header(cut)
    assert header.problems and header.problems[0].startswith("truncated: the tensor data ends at byte")
    info = read_gguf(cut)
    assert any(p.startswith("truncated") for p in info.problems)

    tiny = tmp_path / "tiny.gguf"
    shutil.copyfile(smollm2_gguf, tiny)
    with open(tiny, "r+b") as f:
        f.truncate(100_000)  # inside the vocabulary: the header itself ends early
    with pytest.raises(GGUFFormatError, match="header ends early"):
        read_header(tiny)
    with pytest.raises(TunerError, match="not a readable GGUF"):
        read_gguf(tiny)

    (tmp_path / "text.gguf").write_text("not a gguf at all, just text")
    with pytest.raises(GGUFFormatError, match="no GGUF magic"):
        read_header(tmp_path / "text.gguf")
