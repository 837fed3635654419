"""The tools' own lines (copied from real runs of the vendored llama.cpp) parse into progress and errors."""

from __future__ import annotations

from core.convert.events import LogLine, Progress
from core.convert.logparse import (
    CMakeParser,
    ConvertParser,
    QuantizeParser,
    ServerParser,
    hint_for,
    strip_ansi,
    tool_error_line,
)


def test_converter_tensor_lines_and_writing_bar() -> None:
    parser = ConvertParser("convert", tensor_hint=272)
    events = parser.feed("INFO:hf-to-gguf:blk.0.ffn_down.weight,       torch.bfloat16 --> BF16, shape = {1536, 576}")
    assert isinstance(events[0], LogLine) and events[0].level == "info"
    progress = events[1]
    assert isinstance(progress, Progress)
    assert progress.done == 1 and progress.total == 272 and progress.label == "blk.0.ffn_down.weight → BF16"
    bar = parser.feed("Writing:  59%|█████▊    | 158M/269M [00:01<00:01, 79.4Mbyte/s]", partial=True)
    assert len(bar) == 1 and isinstance(bar[0], Progress)  # a \r redraw: progress, no log line
    assert bar[0].done == 158e6 and bar[0].total == 269e6 and bar[0].label == "Writing"
    parser.feed("INFO:gguf.vocab:Setting chat_template to {% for m in messages %}")
    parser.feed("INFO:hf-to-gguf:Model successfully exported to out/merged-bf16.gguf")
    assert parser.exported == "out/merged-bf16.gguf" and parser.chat_template_set


def test_quantize_lines_summary_and_timing() -> None:
    parser = QuantizeParser("quantize")
    events = parser.feed("[ 269/ 272] blk.29.ffn_down.weight               - [  1536,    576,      1,      1], "
                         "type =   bf16, converting to q6_K .. size =     1.69 MiB ->     0.69 MiB")
    progress = next(e for e in events if isinstance(e, Progress))
    assert (progress.done, progress.total, progress.label) == (269, 272, "blk.29.ffn_down.weight → q6_K")
    copied = parser.feed("[ 271/ 272] blk.29.ffn_norm.weight               - [   576,      1,      1,      1], "
                         "type =    f32, size =    0.002 MiB")
    assert next(e for e in copied if isinstance(e, Progress)).label == "blk.29.ffn_norm.weight"
    parser.feed("llama_model_quantize_impl: model size  =   256.63 MiB (16.00 BPW)")
    parser.feed("llama_model_quantize_impl: quant size  =    98.87 MiB (6.17 BPW)")
    parser.feed("llama_model_quantize_impl: WARNING: 180 of 272 tensor(s) required fallback quantization")
    parser.feed("llama_quantize: quantize time =  1404.78 ms")
    fallback = parser.feed("warning: blk.0.attn_k.weight - ncols    576 not divisible by 256 (required for type "
                           "   q4_K) -> falling back to    q5_0")
    assert parser.details == {"model_size_mib": 256.63, "model_bpw": 16.0, "quant_size_mib": 98.87,
                              "quant_bpw": 6.17, "fallback_tensors": 180, "quantize_time_ms": 1404.78}
    assert fallback[0].level == "info"  # summarised, not a warning per tensor


def test_cmake_and_server_lines() -> None:
    cmake = CMakeParser("build").feed("[ 45%] Building CXX object common/CMakeFiles/common.dir/arg.cpp.o")
    assert isinstance(cmake[1], Progress) and cmake[1].done == 45 and cmake[1].total == 100
    server = ServerParser("verify")
    server.feed("srv  llama_server: listening on http://127.0.0.1:8080")
    assert server.url == "http://127.0.0.1:8080"
    old = ServerParser("verify")
    old.feed("main: server is listening on http://127.0.0.1:8081 - starting the main loop")
    assert old.url == "http://127.0.0.1:8081"


def test_ansi_is_stripped() -> None:
    assert strip_ansi("\x1b[AWriting: 100%|\x1b[32m██\x1b[0m| 1k/1k [00:00<00:00]") == \
        "Writing: 100%|██| 1k/1k [00:00<00:00]"


def test_tool_error_line_and_fix_for_known_failures() -> None:
    traceback = [
        "INFO:hf-to-gguf:Loading model: merged",
        "Traceback (most recent call last):",
        '  File "convert_hf_to_gguf.py", line 12, in <module>',
        "ImportError: cannot import name 'MistralTokenizerType' from 'gguf.vocab' (/usr/lib/gguf/vocab.py)",
    ]
    line = tool_error_line(traceback)
    assert line is not None and line.startswith("ImportError: cannot import name 'MistralTokenizerType'")
    assert "gguf-py" in hint_for(line)
    arch = tool_error_line(["INFO:hf-to-gguf:Model architecture: FooBarForCausalLM",
                            "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported"])
    assert arch == "ERROR:hf-to-gguf:Model FooBarForCausalLM is not supported"
    assert "llama-cpp install" in hint_for(arch)
    tok = "OSError: Can't load tokenizer for '/out/merged'."
    assert "tokenizer.json" in hint_for(tok)
    assert "imatrix" in hint_for("ERROR: this quantization requires an importance matrix!")
    assert "corrupt" in hint_for("safetensors_rust.SafetensorError: Error while deserializing header: "
                                 "HeaderTooLarge")
    assert hint_for("something nobody has seen") == ""
