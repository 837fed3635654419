"""The guide's troubleshooting tree as rules over a job's log (and its command line).

Each rule watches the log as it streams and fires once, with the line that triggered it and the fix
the guide gives. Rules that need context (a KeyError *during login*) look at a short window of the
lines before. Shown as a banner over the log; `tui-tuner jobs inspect --json` lists them too.
"""

from __future__ import annotations

import math
import re
import shlex
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.flavors import FLAVORS, get_flavor


@dataclass(frozen=True)
class Diagnosis:
    rule: str
    title: str
    fix: str
    line_index: int | None = None
    """Position of the triggering line in the full log (None for rules over the job's command)."""
    line: str = ""
    severity: str = "error"

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "title": self.title, "fix": self.fix, "line_index": self.line_index,
                "line": self.line, "severity": self.severity}


_OOM = re.compile(r"CUDA out of memory|torch\.(cuda\.)?OutOfMemoryError|OutOfMemoryError: CUDA|"
                  r"CUBLAS_STATUS_ALLOC_FAILED|RuntimeError: CUDA error: out of memory")
_FORBIDDEN = re.compile(r"\b403\b.*Forbidden|403 Client Error|GatedRepoError|Cannot access gated repo|"
                        r"Access to model .* is restricted|awaiting a review from the repo authors")
_UNEXPECTED = re.compile(r"TypeError: .*(unexpected keyword argument|unexpected argument)\s*'?(\w+)?'?")
_KEYERROR = re.compile(r"^\s*KeyError: ?'?([^']*)'?")
_LOGIN = re.compile(r"\blogin\(|huggingface_hub[./]_login|notebook_login|interpreter_login")
_NO_MODULE = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'|ImportError: No module named ([\w.]+)")
_UNRECOGNIZED = re.compile(r"error: unrecognized arguments: (.*)")
_FLASH_ATTN = re.compile(r"flash[-_]attn.*(build|wheel|compil|torch).*(fail|error)|Failed to build .*flash[-_]attn",
                         re.IGNORECASE)
_HF_FLAGS = {"--flavor", "--timeout", "--secrets", "--secret", "--env", "-e", "-s", "--with", "--python",
             "--image", "--detach", "-d", "--namespace", "--label", "-l", "--volume", "-v", "--name"}

# Import name → PyPI distribution, for the common cases where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python",
                  "bitsandbytes": "bitsandbytes", "flash_attn": "flash-attn", "google.protobuf": "protobuf"}

GPU_TABLE = ("Context ≤2048: A10G 24 GB (a10g-large ~$1.50/h) for Gemma 3, Qwen3, Llama; "
             "≤8192: A100 80 GB (a100-large) for Gemma 3 (262K vocab), A10G for Qwen3/Llama; "
             "≤16384: A100 80 GB for all")


def _bigger_flavors(current: str | None) -> str:
    now = get_flavor(current) if current else None
    floor = now.gpu_memory_gb if now else 0
    bigger = sorted({f.gpu_memory_gb: f for f in sorted(FLAVORS, key=lambda f: -f.price_per_hour)
                     if f.is_gpu and f.gpu_count == 1 and f.gpu_memory_gb > floor}.values(),
                    key=lambda f: f.gpu_memory_gb)
    return ", ".join(f"{f.name} ({f.gpu_memory_gb:g} GB, ${f.price_per_hour:.2f}/h)" for f in bigger[:3])


class Diagnoser:
    """Feed it log lines as they arrive; it returns the diagnoses that fire (each rule fires once)."""

    CONTEXT_LINES = 25

    def __init__(self, *, flavor: str | None = None) -> None:
        self.flavor = flavor
        self.found: list[Diagnosis] = []
        self._fired: set[str] = set()
        self._recent: deque[str] = deque(maxlen=self.CONTEXT_LINES)

    def feed(self, lines: Iterable[tuple[int, str]]) -> list[Diagnosis]:
        new: list[Diagnosis] = []
        for index, text in lines:
            hit = self._match(index, text)
            self._recent.append(text)
            if hit and hit.rule not in self._fired:
                self._fired.add(hit.rule)
                self.found.append(hit)
                new.append(hit)
        return new

    def _match(self, index: int, text: str) -> Diagnosis | None:
        # Cheap pre-filter: almost every training log line is progress output that matches nothing.
        if not any(k in text for k in ("rror", "emory", "403", "KeyError", "odule", "arguments", "flash", "ated")):
            return None
        if _OOM.search(text):
            bigger = _bigger_flavors(self.flavor)
            return Diagnosis("cuda-oom", "CUDA out of memory",
                             f"Use a larger GPU ({bigger or 'a100-large / h200'}) or reduce max_length. {GPU_TABLE}.",
                             index, text)
        if _FORBIDDEN.search(text):
            return Diagnosis("forbidden-403", "403 Forbidden: no access to a model or dataset",
                             "Accept the gated model's license on its Hub page, and check that the token passed with "
                             "--secrets HF_TOKEN has read access to gated repos (and write access to the output repo).",
                             index, text)
        if m := _UNEXPECTED.search(text):
            arg = m.group(2) or "an argument"
            return Diagnosis("unexpected-argument", f"TypeError: unexpected argument {arg!r}",
                             "model_init_kwargs (quantization, device_map, dtype) goes in SFTConfig(model_init_kwargs=…), "
                             "not SFTTrainer; pass the model id string as model=.", index, text)
        if (m := _KEYERROR.search(text)) and (
            m.group(1) in {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} or any(_LOGIN.search(r) for r in self._recent)
        ):
            return Diagnosis("login-keyerror", "KeyError during login()",
                             "Remove the login() call: huggingface_hub reads HF_TOKEN from the environment "
                             "(pass it with --secrets HF_TOKEN).", index, text)
        if m := _NO_MODULE.search(text):
            module = (m.group(1) or m.group(2) or "").split(".")[0]
            if module == "flash_attn":
                fix = "Don't use flash-attn on HF Jobs (it needs torch at build time); standard attention works."
            else:
                dist = _DISTRIBUTIONS.get(module, module)
                fix = f'Add "{dist}" to the dependencies of the script\'s PEP 723 header (# /// script … # ///).'
            return Diagnosis("missing-module", f"No module named {module!r}", fix, index, text)
        if m := _UNRECOGNIZED.search(text):
            args = m.group(1)
            if any(flag in args.split() for flag in _HF_FLAGS):
                return Diagnosis("flags-ignored", "hf jobs flags reached the script",
                                 "Flags must come BEFORE the script path: hf jobs uv run --flavor … --secrets HF_TOKEN "
                                 "train.py (and --secrets is plural).", index, text)
        if _FLASH_ATTN.search(text):
            return Diagnosis("flash-attn", "flash-attn build failure",
                             "Don't use flash-attn with HF Jobs / uv; standard attention works on A10G/A100.", index, text)
        return None


def diagnose_command(command: str) -> list[Diagnosis]:
    """Rules over the job's command line: hf flags placed after the script are passed to the script."""
    try:
        parts = shlex.split(command)
    except ValueError:
        parts = command.split()
    script_at = next((i for i, p in enumerate(parts) if p.endswith(".py") or p.startswith(("http://", "https://"))),
                     None)
    if script_at is None:
        return []
    after = [p.split("=", 1)[0] for p in parts[script_at + 1:]]
    misplaced = [p for p in after if p in _HF_FLAGS - {"-e", "-s", "-d", "-l", "-v", "--name", "--with"}]
    if not misplaced:
        return []
    return [Diagnosis("flags-ignored", f"{', '.join(dict.fromkeys(misplaced))} after the script path was ignored",
                      "Flags must come BEFORE the script path: hf jobs uv run --flavor … --timeout … --secrets HF_TOKEN "
                      "train.py", None, command, "warning")]


def diagnose_status(stage: str, message: str | None, timeout_s: float | None = None) -> list[Diagnosis]:
    """Rules over the job's final status (the 30-minute default timeout catches long trainings)."""
    if stage.upper() == "ERROR" and message and "timeout" in message.lower():
        limit = f" (limit {int(timeout_s) // 60} min)" if timeout_s else " (default 30 min)"
        return [Diagnosis("timeout", f"Job timeout{limit}",
                          "Increase --timeout (e.g. --timeout 6h); if training had finished, check the adapter repo "
                          "for the final checkpoint.", None, message, "warning")]
    return []


def diagnose_log(lines: Iterable[str], *, flavor: str | None = None) -> list[Diagnosis]:
    diagnoser = Diagnoser(flavor=flavor)
    diagnoser.feed(enumerate(lines))
    return diagnoser.found


def diagnose_loss(points: list[tuple[float, float]], *, expected_steps: int | None = None) -> list[Diagnosis]:
    """The guide's "Training loss doesn't decrease?" branch, over the loss curve (Trackio or log dicts).

    NaN/inf loss is an error at once; a flat or rising loss is flagged once enough of the run is seen
    (a fifth of the expected steps, else ten logged points), comparing the mean of the first and last
    three values so one noisy step does not trigger it.
    """
    finite = [(x, y) for x, y in points if math.isfinite(y)]
    if len(finite) < len(points):
        bad = next(x for x, y in points if not math.isfinite(y))
        return [Diagnosis("loss-nan", f"loss is NaN/inf at step {bad:g}",
                          "Lower the learning rate (try 1e-4 or 5e-5), keep bf16 (not fp16), check the data for "
                          "empty or broken examples.", None, "", "error")]
    if len(finite) < 6:
        return []
    seen_enough = (finite[-1][0] >= 0.2 * expected_steps) if expected_steps else len(finite) >= 10
    if not seen_enough:
        return []
    head = sum(y for _, y in finite[:3]) / 3
    tail = sum(y for _, y in finite[-3:]) / 3
    if tail >= head * 0.98:
        return [Diagnosis("loss-flat", f"training loss is not decreasing ({head:.3g} → {tail:.3g})",
                          "Learning rate too high? Try 1e-4 or 5e-5. Check data quality (assessment pass rate) and "
                          "that the model loads as intended (model_init_kwargs).", None, "", "warning")]
    return []
