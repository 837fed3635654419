"""Turn the tools' own output into progress events, and their failures into one line plus a fix.

Formats and regexes are those of the vendored llama.cpp (reference gguf-conversion.md §1.2, §3.3, §9):
the converter logs `LEVEL:logger:message` to stderr and draws a tqdm `Writing:` bar with `\r`;
`llama-quantize` prints `[ i/ n] name - [shape], type = ..., size = ...` per tensor; CMake prints
`[ NN%] Building ...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.convert.events import Event, LogLine, Progress

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CONV_TENSOR = re.compile(
    r"^INFO:hf-to-gguf:(?P<name>\S+),\s+(?P<src>\S+) --> (?P<dst>\w+), shape = \{(?P<shape>[\d, ]*)\}\s*$")
TQDM = re.compile(
    r"^(?P<desc>Writing|Shard \(\d+/\d+\)):\s*(?P<pct>\d+)%\|.*?\|\s*(?P<done>[\d.]+)(?P<du>[kMGTP]?)"
    r"/(?P<total>[\d.]+)(?P<tu>[kMGTP]?)\s")
CONV_DONE = re.compile(r"Model successfully exported to (?P<path>.+)$")
Q_TENSOR = re.compile(
    r"^\[\s*(?P<i>\d+)/\s*(?P<n>\d+)\]\s+(?P<name>\S+)\s+- \[(?P<shape>[\d,\s]+)\], type =\s*(?P<src>\w+), "
    r"(?:converting to (?P<dst>\w+) \.\. )?(?:size =\s*(?P<a>[\d.]+) Mi?B(?:\s*->\s*(?P<b>[\d.]+) Mi?B)?)?")
Q_SUM = re.compile(
    r"^\S+: (?P<kind>model|quant) size\s+=\s+(?P<mib>[\d.]+) (?P<unit>MiB|MB)(?: \((?P<bpw>[\d.]+) BPW\))?")
Q_FALLBACK = re.compile(r"WARNING: (?P<n>\d+) of (?P<total>\d+) tensor\(s\) required fallback quantization")
Q_TIME = re.compile(r"^(?:main|llama_quantize):\s+(?P<kind>quantize|total) time =\s+(?P<ms>[\d.]+) ms")
SRV_READY = re.compile(r"(?:server is )?listening on (?P<url>(?:https?|unix)://\S+)")
CMAKE_PCT = re.compile(r"^\[\s*(?P<pct>\d+)%\]\s+(?P<what>.*)$")
PIP_PROGRESS = re.compile(r"(?P<done>[\d.]+)/(?P<total>[\d.]+) (?P<unit>[kMG]?B)")

_SCALE = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def level_of(text: str) -> str:
    head = text.lstrip()
    if head.startswith(("ERROR:", "error:", "CRITICAL:", "Traceback")) or _PY_ERROR.match(head):
        return "error"
    if head.startswith(("WARNING:", "warning:", "CMake Warning")) or "WARNING" in head[:40]:
        return "warning"
    return "info"


_PY_ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(: |$)")


class LineParser:
    """Base parser: every line becomes a LogLine; subclasses add progress events and keep details."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.details: dict[str, object] = {}

    def feed(self, text: str, *, partial: bool = False) -> list[Event]:
        """`partial` is True for a `\\r`-terminated redraw (a progress bar): no LogLine for those."""
        events: list[Event] = list(self.progress(text))
        if not partial:
            events.insert(0, LogLine(self.step, text, level_of(text)))
        return events

    def progress(self, text: str) -> list[Event]:
        return []


class ConvertParser(LineParser):
    """`convert_hf_to_gguf.py` / `convert_lora_to_gguf.py`: per-tensor lines, then the Writing bar."""

    def __init__(self, step: str, tensor_hint: int | None = None) -> None:
        super().__init__(step)
        self.tensor_hint = tensor_hint
        self.tensors = 0
        self.exported: str | None = None
        self.chat_template_set = False

    def progress(self, text: str) -> list[Event]:
        if m := CONV_TENSOR.match(text):
            self.tensors += 1
            # The hint (safetensors weight_map size) is approximate: never let done exceed it.
            total = max(self.tensor_hint, self.tensors) if self.tensor_hint else None
            return [Progress(self.step, self.tensors, total, "tensors", f"{m['name']} → {m['dst']}")]
        if m := TQDM.match(text):
            done = float(m["done"]) * _SCALE[m["du"]]
            total = float(m["total"]) * _SCALE[m["tu"]]
            return [Progress(self.step, done, total, "B", m["desc"])]
        if m := CONV_DONE.search(text):
            self.exported = m["path"].strip()
        if "Setting chat_template to" in text:
            self.chat_template_set = True
        return []


class QuantizeParser(LineParser):
    """`llama-quantize`: `[ i/ n]` per tensor, then size and BPW summary lines, timing on stdout."""

    def feed(self, text: str, *, partial: bool = False) -> list[Event]:
        events = super().feed(text, partial=partial)
        # Per-tensor fallback notes are expected for odd widths (summarised at the end): not warnings.
        if events and isinstance(events[0], LogLine) and "-> falling back to" in text:
            events[0] = LogLine(self.step, text, "info")
        return events

    def progress(self, text: str) -> list[Event]:
        if m := Q_TENSOR.match(text.strip()):
            label = m["name"] + (f" → {m['dst']}" if m["dst"] else "")
            return [Progress(self.step, int(m["i"]), int(m["n"]), "tensors", label)]
        if m := Q_SUM.match(text.strip()):
            self.details[f"{m['kind']}_size_mib"] = float(m["mib"])
            if m["bpw"]:
                self.details[f"{m['kind']}_bpw"] = float(m["bpw"])
        elif m := Q_FALLBACK.search(text):
            self.details["fallback_tensors"] = int(m["n"])
        elif m := Q_TIME.match(text.strip()):
            self.details[f"{m['kind']}_time_ms"] = float(m["ms"])
        return []


class CMakeParser(LineParser):
    """`cmake --build`: `[ NN%] Building CXX object ...` lines give the percentage."""

    def progress(self, text: str) -> list[Event]:
        if m := CMAKE_PCT.match(text.strip()):
            return [Progress(self.step, int(m["pct"]), 100, "%", m["what"][:80])]
        return []


class ServerParser(LineParser):
    def __init__(self, step: str) -> None:
        super().__init__(step)
        self.url: str | None = None

    def progress(self, text: str) -> list[Event]:
        if (m := SRV_READY.search(text)) and self.url is None:
            self.url = m["url"]
        return []


def tool_error_line(lines: list[str]) -> str | None:
    """The tool's own error line from the tail of its output (the last one that looks like an error)."""
    cleaned = [ln.strip() for ln in lines if ln.strip()]
    for pattern in (_PY_ERROR, re.compile(r"^(ERROR:|error:|.*\berror loading model\b|.*failed to)", re.I)):
        found = [i for i, ln in enumerate(cleaned) if pattern.match(ln)]
        if found:
            i = found[-1]
            line = cleaned[i]
            # A Python message may go on over a few lines ("... from one of:" + a list): keep them.
            for extra in cleaned[i + 1:i + 5]:
                if not line.endswith((":", ",")) or extra.startswith(("File ", "Traceback")):
                    break
                line += " " + extra
            return line[:400]
    return None


@dataclass(frozen=True)
class _Fix:
    pattern: re.Pattern[str]
    hint: str


_FIXES: list[_Fix] = [
    _Fix(re.compile(r"MistralTokenizerType|LazyChunkedTensor|has no attribute 'MODEL_ARCH|gguf\.vocab"),
         "the converter ran with a different gguf package than its own gguf-py (Homebrew/copied script): "
         "use the managed tree (`tui-tuner llama-cpp install`) and never set NO_LOCAL_GGUF"),
    _Fix(re.compile(r"Model \S+ is not supported|Failed to detect model architecture"),
         "this llama.cpp does not know the architecture in config.json `architectures`: check it is a "
         "causal LM checkpoint, or update llama.cpp (`tui-tuner llama-cpp install --source git`)"),
    _Fix(re.compile(r"BPE pre-tokenizer was not recognized"),
         "the tokenizer is newer than this llama.cpp: update llama.cpp (`tui-tuner llama-cpp install --source git`)"),
    _Fix(re.compile(r"tokenizer\.(model|json)|AutoTokenizer|[Tt]okenizer.*(not found|No such file)|"
                    r"Can't load tokenizer|backend tokenizer"),
         "the model folder has no tokenizer: copy tokenizer.json, tokenizer_config.json (and chat_template.jinja) "
         "from the adapter or base model into it, then rerun"),
    # adapter_config.json first: "config.json" alone is a substring of it, and a damaged adapter config is no
    # reason to point --base-model anywhere.
    _Fix(re.compile(r"adapter_config\.json"),
         "adapter_config.json is damaged or missing: copy or download the adapter folder again (PEFT writes "
         "adapter_config.json with adapter_model.safetensors)"),
    _Fix(re.compile(r"(?<![\w-])config\.json"),
         "the folder is not a Hugging Face model (no config.json): point --base-model at the model folder"),
    _Fix(re.compile(r"Can not map tensor"),
         "the checkpoint has tensors this converter cannot map (e.g. a fused lm_head on tied embeddings): merge "
         "with the same model class the adapter was trained on, or update llama.cpp"),
    _Fix(re.compile(r"HeaderTooLarge|Error while deserializing header|SafetensorError|incomplete metadata|"
                    r"invalid load key|unexpected EOF|file is not a zip|MetadataIncompleteBuffer", re.I),
         "the adapter weights are corrupt or truncated: delete the adapter folder and download it again"),
    _Fix(re.compile(r"not a LoRA|lora_A or lora_B"),
         "the adapter folder must hold adapter_config.json and adapter_model.safetensors from a PEFT LoRA run"),
    _Fix(re.compile(r"size mismatch|has wrong shape|incorrect shape"),
         "the adapter was trained on another base model (or with added tokens): use the base it was trained on"),
    _Fix(re.compile(r"requires an importance matrix|Missing importance matrix"),
         "IQ1/IQ2 (and Q2_K_S) types need an imatrix: pick Q4_K_M/Q5_K_M/Q6_K/Q8_0 or provide --imatrix"),
    _Fix(re.compile(r"requantizing from type"),
         "the input is already quantized: convert to bf16 first and quantize from that"),
    _Fix(re.compile(r"couldn't bind|Address already in use"),
         "the port is in use: pick another one"),
    _Fix(re.compile(r"error loading model|failed to load model"),
         "llama-server could not load the GGUF: check the conversion log; a newer llama.cpp may be needed"),
    _Fix(re.compile(r"No space left on device"),
         "the disk is full: free space or choose another --output-dir"),
    _Fix(re.compile(r"Killed|exit -9|MemoryError|out of memory", re.I),
         "the process ran out of memory: use --merge-method low-ram, close other programs, or add swap"),
]


def hint_for(error_line: str) -> str:
    for fix in _FIXES:
        if fix.pattern.search(error_line):
            return fix.hint
    return ""


@dataclass
class Tail:
    """The last lines of a tool's output, for the error report and the store."""

    size: int = 80
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) > self.size:
            del self.lines[: len(self.lines) - self.size]
