"""The conversion pipeline as one async iterator of events, resumable step by step.

Steps (merge mode): preflight → download → merge → convert → quantize:<TYPE>… → verify → upload.
No-merge mode (`mode="lora"`): the base goes to GGUF and is quantized, the adapter becomes a GGUF LoRA
(`convert_lora_to_gguf.py`), and the smoke test runs `llama-server -m base --lora adapter`.

Every output is written under a temp name (`.part`) and renamed when complete; a state file in the
output folder records finished steps with a fingerprint of their inputs' contents and a signature of
their outputs (`core.convert.fingerprint`), so a rerun skips a step only while its inputs are unchanged
and its outputs are still whole, and resumes from the first step that is not. Cancelling the consumer
kills the running tool's process group, deletes partial files, and records what was kept.

One run per output folder (`core.folder_lock`); the tools' process groups are recorded in the folder
(`core.process_tree`), and a run first ends any group an earlier, killed run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import process_tree
from core.convert.events import (
    Event,
    LogLine,
    PipelineFinished,
    Progress,
    StepFailed,
    StepFinished,
    StepStarted,
)
from core.convert.fingerprint import adapter_sig, file_sig, folder_sig, output_problem, output_sig
from core.convert.logparse import ConvertParser, LineParser, QuantizeParser, hint_for
from core.convert.process import ProcessOutcome, shell_line, stream_process
from core.convert.quant_types import QuantType, parse_quant_types
from core.errors import TunerError
from core.extras import require_extra
from core.folder_lock import FolderLock
from core.hub_ids import is_explicit_path, validate_repo_id
from core.paths import safe_name
from core.redact import redact

STATE_FILE = ".tui-tuner-convert.json"
STATE_VERSION = 2
"""2: fingerprints of input contents and output signatures (version 1 fingerprinted names only)."""
GB = 1e9
PEFT_OVERHEAD = 0.6 * GB  # python + torch + transformers + peft resident before the model (measured ~0.45 GB)
LOWRAM_OVERHEAD = 0.3 * GB  # python + torch + safetensors (measured ~0.23 GB)

STEP_TITLES = {
    "preflight": "Preflight: llama.cpp, disk, RAM",
    "download": "Download base model and adapter",
    "merge": "Merge the adapter (bfloat16)",
    "convert": "Convert to GGUF",
    "lora": "Adapter → GGUF LoRA",
    "verify": "Verify: GGUFReader + llama-server",
    "upload": "Upload to the Hub",
}


def step_title(step: str) -> str:
    if step.startswith("quantize:"):
        return f"Quantize → {step.split(':', 1)[1]}"
    return STEP_TITLES.get(step, step)


@dataclass
class ConvertSpec:
    output_dir: Path
    base_model: str = ""
    """Hub repo id or local folder."""
    adapter: str | None = None
    """Hub repo id (`--adapter-repo`) or local folder (`--adapter-path`)."""
    quant_types: tuple[str, ...] = ("Q4_K_M",)
    outtype: str = "bf16"
    merge_method: str = "auto"
    """auto | peft | low-ram"""
    mode: str = "merge"
    """merge | lora (no merge: the adapter becomes a GGUF LoRA for `llama-server --lora`)"""
    skip_download: bool = False
    skip_merge: bool = False
    smoke_test: bool = True
    upload: bool = False
    gguf_repo: str | None = None
    private: bool = False
    model_name: str | None = None
    cpu: bool = True
    threads: int | None = None
    imatrix: str | None = None
    python: str = field(default_factory=lambda: sys.executable)

    def quants(self) -> tuple[QuantType, ...]:
        return tuple(q for q in parse_quant_types(self.quant_types) if q.name not in {self.outtype.upper()})

    @property
    def name(self) -> str:
        if self.model_name:
            return safe_name(self.model_name)
        source = Path((self.adapter or self.base_model or str(self.output_dir)).rstrip("/"))
        # A local adapter folder is usually called `adapter`, `final` or `checkpoint-500`: name the model
        # after the folder that holds it (`models/qwen3-therapeutic/adapter` -> qwen3-therapeutic).
        while source.name.lower() in _GENERIC_NAMES or source.name.startswith("checkpoint-"):
            if source.parent == source or not source.parent.name:
                break
            source = source.parent
        return safe_name(source.name)

    def validate(self) -> None:
        if self.mode not in {"merge", "lora"}:
            raise TunerError(f"unknown mode {self.mode!r}", field="mode", hint="merge or lora")
        if self.merge_method not in {"auto", "peft", "low-ram"}:
            raise TunerError(f"unknown merge method {self.merge_method!r}", field="merge_method",
                             hint="auto, peft or low-ram")
        if self.outtype not in {"bf16", "f16", "f32", "q8_0", "auto"}:
            raise TunerError(f"unknown outtype {self.outtype!r}", field="outtype", hint="bf16 (default), f16, f32, q8_0")
        if not str(self.output_dir):
            raise TunerError("an output folder is required", field="output_dir")
        needs_inputs = self.mode == "lora" or not self.skip_merge
        if needs_inputs and not self.adapter:
            raise TunerError("an adapter is required", field="adapter",
                             hint="--adapter-repo user/name or --adapter-path folder (or --skip-merge)")
        quants = self.quants()
        if self.outtype == "q8_0" and quants:
            raise TunerError("quantizing from a q8_0 GGUF is refused by llama-quantize", field="outtype",
                             hint="convert to bf16 and quantize from that")
        needing = [q.name for q in quants if q.needs_imatrix]
        if needing and not self.imatrix:
            raise TunerError(f"{', '.join(needing)} need an importance matrix", field="quant_type",
                             hint="add --imatrix FILE (llama-imatrix) or pick Q4_K_M/Q5_K_M/Q6_K/Q8_0")
        if self.upload and self.gguf_repo:
            validate_repo_id(self.gguf_repo, field="gguf_repo", what="repo id", need_namespace=True)
        # A reference that is not a local path must be a Hub id by the Hub's rules (no `..`, no `--`): it
        # becomes a download URL, and `Qwen/Q--x..y` would fail only after the work before it.
        for name, ref in (("adapter", self.adapter), ("base_model", self.base_model)):
            if ref and not _is_local(ref):
                validate_repo_id(ref, field=name, what="repo id")

    def plan(self) -> list[str]:
        steps = ["preflight", "download"]
        steps += ["merge", "convert"] if self.mode == "merge" else ["convert", "lora"]
        steps += [f"quantize:{q.name}" for q in self.quants()]
        steps.append("verify")
        if self.upload:
            steps.append("upload")
        if self.mode == "merge" and self.skip_merge:
            steps.remove("download")  # the merged model is already in the output folder
        return steps

    def resolved(self, cwd: Path | None = None) -> ConvertSpec:
        """This spec with every local path made absolute against `cwd` (default: the current folder).

        The tools run with the output folder as their working directory, so a path the user typed
        relative to their own folder must be made absolute once, where it enters (CLI, TUI form).
        """
        import dataclasses

        base = Path(cwd) if cwd is not None else Path.cwd()

        def absolute(value: str) -> str:
            path = Path(value).expanduser()
            return str(path if path.is_absolute() else Path(os.path.normpath(base / path)))

        return dataclasses.replace(
            self,
            output_dir=Path(absolute(str(self.output_dir))) if str(self.output_dir) else self.output_dir,
            adapter=absolute(self.adapter) if self.adapter and _is_local(self.adapter, base) else self.adapter,
            base_model=(absolute(self.base_model) if self.base_model and _is_local(self.base_model, base)
                        else self.base_model),
            imatrix=absolute(self.imatrix) if self.imatrix else self.imatrix,
        )

    def command_line(self) -> str:
        """The `tui-tuner convert` command that runs (or resumes) this spec."""
        import shlex

        adapter_flag = "--adapter-path" if self.adapter and _is_local(self.adapter) else "--adapter-repo"
        args: list[str] = ["tui-tuner", "convert", "--output-dir", str(self.output_dir)]
        if self.adapter:
            args += [adapter_flag, self.adapter]
        if self.base_model:
            args += ["--base-model", self.base_model]
        quants = [q.name for q in parse_quant_types(self.quant_types)]
        if quants:
            args += ["--quant-type", ",".join(quants)]
        defaults = ConvertSpec(output_dir=self.output_dir)
        for flag, name in (("--outtype", "outtype"), ("--merge-method", "merge_method"),
                           ("--gguf-repo", "gguf_repo"), ("--model-name", "model_name"), ("--imatrix", "imatrix"),
                           ("--threads", "threads")):
            value = getattr(self, name)
            if value is not None and value != getattr(defaults, name):
                args += [flag, str(value)]
        for flag, on in (("--no-merge", self.mode == "lora"), ("--skip-download", self.skip_download),
                         ("--skip-merge", self.skip_merge), ("--no-smoke-test", not self.smoke_test),
                         ("--upload", self.upload), ("--private", self.private), ("--gpu", not self.cpu)):
            if on:
                args.append(flag)
        return " ".join(shlex.quote(a) for a in args)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        data["quant_types"] = [q.name for q in parse_quant_types(self.quant_types)]
        data.pop("python", None)
        return data


_GENERIC_NAMES = {"adapter", "adapters", "final", "output", "outputs", "lora", "model", "merged", "checkpoints"}


def _is_local(ref: str, cwd: Path | None = None) -> bool:
    """A local folder or file: an explicit path (`/`, `./`, `../`, `~`) or one that exists (core.hub_ids)."""
    if is_explicit_path(ref):
        return True
    path = Path(ref).expanduser()
    return (path if cwd is None or path.is_absolute() else Path(cwd) / path).exists()


class _Failed(Exception):
    def __init__(self, error: str, hint: str = "", code: int | None = None) -> None:
        super().__init__(error)
        self.error, self.hint, self.code = error, hint, code


class JsonWorkerParser(LineParser):
    """Our own workers (merge, hub transfers) print JSON lines: progress and a final result."""

    def __init__(self, step: str, unit: str = "") -> None:
        super().__init__(step)
        self.unit = unit
        self.result: dict[str, Any] = {}

    def feed(self, text: str, *, partial: bool = False) -> list[Event]:
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if isinstance(data, dict):
                if data.get("kind") == "progress":
                    label = str(data.get("label", ""))
                    events: list[Event] = [Progress(self.step, float(data["done"]), float(data["total"]) or None,
                                                    self.unit, label)]
                    if label:
                        events.insert(0, LogLine(self.step, f"{label} ({_fmt_progress(data, self.unit)})"))
                    return events
                if data.get("kind") == "result":
                    self.result = data
                    return [LogLine(self.step, "result: " + json.dumps({k: v for k, v in data.items() if k != "kind"}))]
        return super().feed(text, partial=partial)


def _fmt_progress(data: dict[str, Any], unit: str) -> str:
    if unit == "B":
        return f"{data['done'] / 1e6:.0f}/{data['total'] / 1e6:.0f} MB"
    return f"{data['done']}/{data['total']}"


class ConversionRun:
    """One run of the pipeline over `spec`; iterate `events()` once."""

    def __init__(self, spec: ConvertSpec, *, llama: Any = None, store: Any = None, run_id: str | None = None) -> None:
        from core.convert.records import new_run_id

        # The tools run inside the output folder: every path handed to them must be absolute.
        spec.output_dir = Path(os.path.abspath(Path(spec.output_dir).expanduser()))
        self.spec = spec
        self.run_id = run_id or new_run_id()
        self.input_error = False
        """True when the run failed on something the user must fix (a TunerError), not a tool's failure."""
        self._llama = llama
        self._store = store
        self.state_path = spec.output_dir / STATE_FILE
        self.state: dict[str, Any] = {"version": STATE_VERSION, "steps": {}}
        self.pid_dir = process_tree.children_dir(spec.output_dir)
        self.reaped: list[process_tree.GroupRecord] = []
        self._lock: FolderLock | None = None
        self._why_redo: dict[str, str] = {}
        self._checked: dict[str, str | None] = {}
        self.status = "pending"
        self.kept: list[str] = []
        self.current: str | None = None
        self.step_log: dict[str, Any] = {}
        self._part_files: set[Path] = set()
        self._probe: asyncio.Task[str | None] | None = None
        self.base_dir: Path | None = None
        self.adapter_dir: Path | None = None
        self.smoke: Any = None
        self.gguf_infos: list[Any] = []

    # paths -----------------------------------------------------------------------------------------------------
    @property
    def out(self) -> Path:
        return self.spec.output_dir

    @property
    def merged_dir(self) -> Path:
        return self.out / "merged"

    def gguf_path(self, kind: str) -> Path:
        return self.out / f"{self.spec.name}-{kind}.gguf"

    @property
    def full_gguf(self) -> Path:
        return self.gguf_path(self.spec.outtype.upper())

    @property
    def lora_gguf(self) -> Path:
        return self.gguf_path("LoRA-F16")

    # state -----------------------------------------------------------------------------------------------------
    def _load_state(self) -> None:
        from core import safe_json

        try:  # a damaged state file (or a FIFO, never waited on) means: start over, it is rewritten
            data = safe_json.load_file(self.state_path, max_bytes=64 * 1024 * 1024)
            if isinstance(data, dict) and isinstance(data.get("steps"), dict):
                self.state = data
        except ValueError:
            pass

    def _save_state(self) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            tmp.write_text(redact(json.dumps(self.state, indent=2, sort_keys=True, default=str)), encoding="utf-8")
            tmp.replace(self.state_path)
        except OSError as exc:  # e.g. a folder where the state file goes
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise TunerError(f"{self.state_path}: cannot save the conversion state ({exc.strerror or exc})",
                             hint="remove what is in the way, or choose another --output-dir") from None

    def _fingerprint(self, step: str) -> str:
        """A digest of what `step` reads: the options that shape its output and its input files' contents."""
        s = self.spec
        hashes = self.state.setdefault("hashes", {})
        parts: list[Any] = [STATE_VERSION, step]
        if step == "download":
            parts += [s.base_model, s.adapter, s.mode]
        elif step == "merge":
            parts += [folder_sig(self.base_dir), adapter_sig(self.adapter_dir, hashes)]
        elif step == "convert":
            source = self.merged_dir if s.mode == "merge" else self.base_dir
            parts += [s.mode, folder_sig(source), s.outtype, s.name]
        elif step == "lora":
            parts += [folder_sig(self.base_dir), adapter_sig(self.adapter_dir, hashes), s.name]
        elif step.startswith("quantize:"):
            parts += [file_sig(self.full_gguf), file_sig(s.imatrix)]
        elif step == "verify":
            parts += [[file_sig(p) for p in sorted(self._gguf_outputs())], s.smoke_test]
        elif step == "upload":
            parts += [s.gguf_repo, [file_sig(p) for p in sorted(self._upload_files())]]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]

    def _rel(self, path: str) -> str:
        """Outputs inside the output folder are recorded relative to it, so a moved folder still resumes."""
        p = Path(path)
        try:
            return "./" + str(p.relative_to(self.out))
        except ValueError:
            return str(p)

    def _abs(self, path: str) -> str:
        return str(self.out / path[2:]) if path.startswith("./") else path

    def _done(self, step: str) -> dict[str, Any] | None:
        """The state entry of `step` when a rerun may skip it: same inputs, outputs still as written."""
        entry = self.state["steps"].get(step)
        if not entry or entry.get("status") != "done":
            return None
        if entry.get("fingerprint") != self._fingerprint(step):
            self._why_redo[step] = "its inputs changed since it ran"
            return None
        outputs = [self._abs(p) for p in entry.get("outputs", [])]
        sigs = entry.get("output_sigs") or {}
        tensors = entry.get("output_tensors") or {}
        for rel, path in zip(entry.get("outputs", []), outputs, strict=True):
            problem = self._output_problem(Path(path), sigs.get(rel), tensors.get(rel))
            if problem:
                self._why_redo[step] = problem
                return None
        self._why_redo.pop(step, None)
        return {**entry, "outputs": outputs}

    def _output_problem(self, path: Path, recorded: list[Any] | None, expect_tensors: int | None) -> str | None:
        key = json.dumps([str(path), output_sig(path), recorded, expect_tensors])
        if key not in self._checked:  # preflight asks about each step several times: read each header once
            self._checked[key] = output_problem(path, recorded, expect_tensors)
        return self._checked[key]

    def _output_record(self, outputs: list[str]) -> dict[str, Any]:
        """What `_done` will compare against next time: each output's signature and GGUF tensor count."""
        from core.convert.gguf_header import GGUFFormatError, read_header

        sigs: dict[str, Any] = {}
        tensors: dict[str, int] = {}
        for path in outputs:
            p, rel = Path(path), self._rel(path)
            sigs[rel] = output_sig(p)
            if p.suffix == ".gguf" and p.is_file():
                with contextlib.suppress(GGUFFormatError, OSError):
                    tensors[rel] = len(read_header(p).tensors)
        return {"output_sigs": sigs, "output_tensors": tensors}

    def _gguf_outputs(self) -> list[str]:
        files = [self.full_gguf] + [self.gguf_path(q.name) for q in self.spec.quants()]
        if self.spec.mode == "lora":
            files.append(self.lora_gguf)
        return [str(f) for f in files]

    def _upload_files(self) -> list[str]:
        files = [self.gguf_path(q.name) for q in self.spec.quants()] or [self.full_gguf]
        if self.spec.mode == "lora":
            files.append(self.lora_gguf)
        return [str(f) for f in files]

    def llama(self) -> Any:
        if self._llama is None:
            from core.llama_cpp import locate_llama_cpp

            self._llama = locate_llama_cpp()
        return self._llama

    # the run ---------------------------------------------------------------------------------------------------
    async def events(self) -> AsyncIterator[Event]:
        self.spec.validate()
        require_extra("convert", feature="conversion")  # the merge and the GGUF read-back run in this Python
        self.out.mkdir(parents=True, exist_ok=True)
        # One conversion per folder; a second one fails here with who holds it (FolderBusy, exit 2).
        self._lock = FolderLock(self.out, "convert").acquire()
        try:
            # Holding the lock, any group recorded here belongs to a run that is gone (kill -9, power loss).
            self.reaped = await asyncio.to_thread(process_tree.reap_stale, self.pid_dir)
            self._load_state()
            self._restore_inputs()
        except BaseException:
            self._lock.release()
            raise
        failed = False
        try:
            self.status = "running"
            self._record_start()
            for step in self.spec.plan():
                async for event in self._run_step(step):
                    yield event
                    if isinstance(event, StepFailed):
                        failed = True
                if failed:
                    break
            self.status = "failed" if failed else "completed"
            self._collect_kept()
            self._record_update(final=True)
            message = (f"{self.current} failed; a rerun resumes from there" if failed
                       else f"all steps done in {self.out}")
            yield PipelineFinished(self.status, tuple(self.kept), self.run_id, message)
        except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
            self.status = "canceled"
            self._cleanup_parts()
            self._collect_kept()
            self._record_update(final=True)
            raise
        finally:
            try:
                if self.status == "running":  # an unexpected error: keep the record honest
                    self.status = "failed"
                    self._cleanup_parts()
                    self._collect_kept()
                    self._record_update(final=True)
            finally:
                self._lock.release()  # whatever failed above, the folder is free again

    def _restore_inputs(self) -> None:
        """Where a finished download step put the base and the adapter, so later steps can fingerprint them."""
        entry = self.state["steps"].get("download")
        if entry and entry.get("status") == "done" and entry.get("fingerprint") == self._fingerprint("download"):
            self._restore("download", entry)

    def cancel_summary(self) -> str:
        kept = ", ".join(Path(p).name for p in self.kept) or "nothing"
        return f"canceled during {self.current or 'start'}; kept: {kept}"

    async def _run_step(self, step: str) -> AsyncIterator[Event]:
        self.current = step
        title = step_title(step)
        entry = self._done(step) if step != "preflight" else None
        redo = self._why_redo.get(step) if entry is None else None
        if entry is not None:
            yield StepStarted(step, title)
            self._restore(step, entry)
            self.step_log[step] = {"status": "skipped", "summary": entry.get("summary", "")}
            yield StepFinished(step, "already done: " + entry.get("summary", ""), tuple(entry.get("outputs", [])),
                               entry.get("details", {}), skipped=True)
            return
        body = getattr(self, "_step_" + step.split(":")[0])
        result: dict[str, Any] = {"summary": "", "outputs": [], "details": {}, "command": ""}
        started = time.monotonic()
        yield StepStarted(step, title)
        if redo:
            yield LogLine(step, f"done before, running again: {redo}", "warning")
        try:
            async for event in body(step, result):
                yield event
        except _Failed as exc:
            self._cleanup_parts()
            self._mark_failed(step, exc.error)
            yield StepFailed(step, redact(exc.error), exc.hint or hint_for(exc.error), exc.code)
            return
        except TunerError as exc:
            self._cleanup_parts()
            self.input_error = True
            text = f"{exc.field}: {exc.message}" if exc.field else exc.message
            self._mark_failed(step, text)
            yield StepFailed(step, redact(text), exc.hint or hint_for(text))
            return
        seconds = time.monotonic() - started
        if step != "preflight":
            self.state["steps"][step] = {"status": "done", "fingerprint": self._fingerprint(step),
                                         "outputs": [self._rel(p) for p in result["outputs"]],
                                         **self._output_record(result["outputs"]),
                                         "details": result["details"],
                                         "summary": result["summary"], "seconds": round(seconds, 2),
                                         "finished_at": time.time()}
            self._save_state()
        self.step_log[step] = {"status": "done", "summary": result["summary"], "seconds": round(seconds, 2),
                               "details": result["details"]}
        self._record_update()
        yield StepFinished(step, result["summary"], tuple(result["outputs"]), result["details"], seconds)

    def _mark_failed(self, step: str, error: str) -> None:
        self.state["steps"][step] = {"status": "failed", "error": error, "finished_at": time.time()}
        self._save_state()
        self.step_log[step] = {"status": "failed", "error": error}
        self._record_update()

    def _restore(self, step: str, entry: dict[str, Any]) -> None:
        details = entry.get("details", {})
        if step == "download":
            self.base_dir = Path(self._abs(details["base_dir"])) if details.get("base_dir") else None
            self.adapter_dir = Path(self._abs(details["adapter_dir"])) if details.get("adapter_dir") else None

    def _collect_kept(self) -> None:
        kept: list[str] = []
        for entry in self.state["steps"].values():
            if entry.get("status") == "done":
                outputs = [self._abs(p) for p in entry.get("outputs", [])]
                kept += [p for p in outputs if p.startswith(str(self.out)) and Path(p).exists()]
        self.kept = list(dict.fromkeys(kept))

    def _cleanup_parts(self) -> None:
        for path in list(self._part_files):
            if path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
            self._part_files.discard(path)

    # store -----------------------------------------------------------------------------------------------------
    def _store_or_none(self) -> Any:
        if self._store is None:
            from core.store import Store

            try:
                self._store = Store()
            except Exception:  # the store is a record, never a reason to fail a conversion
                self._store = False
        return self._store or None

    def _record_start(self) -> None:
        store = self._store_or_none()
        if store is None:
            return
        from core.convert.records import start_record

        start_record(store, self.run_id, str(self.out), self.spec.to_dict(), {"plan": self.spec.plan(), **self._owner()})

    def _owner(self) -> dict[str, Any]:
        """Who runs this conversion (so a record left "running" by a killed process can be recognised) and
        the command that resumes it."""
        import socket

        return {"owner": {"pid": os.getpid(), "start": process_tree.start_time(os.getpid()),
                          "host": socket.gethostname()},
                "resume_command": self.spec.command_line()}

    def _record_update(self, final: bool = False) -> None:
        store = self._store_or_none()
        if store is None:
            return
        from core.convert.records import update_record

        extra: dict[str, Any] = {"plan": self.spec.plan(), "current": self.current, **self._owner()}
        llama = self._llama
        if llama is not None:
            extra["llama_cpp"] = {"root": str(llama.root) if llama.root else None, "commit": llama.commit}
        if final:
            extra["kept"] = self.kept
            if self.smoke is not None:
                extra["smoke_test"] = asdict(self.smoke)
            extra["ggufs"] = [asdict(i) for i in self.gguf_infos]
        update_record(store, self.run_id, status=self.status, steps=self.step_log, extra=extra)

    # tools -----------------------------------------------------------------------------------------------------
    async def _tool(self, step: str, argv: list[Any], parser: LineParser, *, env: dict[str, str] | None = None,
                    env_shown: dict[str, str] | None = None, cwd: Path | None = None) -> AsyncIterator[Event]:
        yield LogLine(step, "$ " + shell_line(argv, env_shown))
        outcome = ProcessOutcome()
        async for event in stream_process(argv, parser, outcome, env=env, cwd=cwd, pid_dir=self.pid_dir):
            yield event
        if outcome.returncode != 0:
            line = outcome.error_line
            if outcome.returncode is not None and outcome.returncode < 0:
                line = line or f"killed by signal {-outcome.returncode}"
                if outcome.returncode == -9:
                    line += " (exit -9: out of memory?)"
            raise _Failed(line or (outcome.tail.lines[-1] if outcome.tail.lines else f"exit {outcome.returncode}"),
                          code=outcome.returncode)

    def _worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])  # so `python -m core...` works from any cwd
        env["PYTHONPATH"] = os.pathsep.join([src, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        return env

    # steps -----------------------------------------------------------------------------------------------------
    async def _step_preflight(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        from core.llama_cpp.probe_cache import probe_and_remember, probe_passed_before

        for group in self.reaped:
            yield LogLine(step, f"ended process group {group.pgid} left running by an earlier, killed run: "
                                f"{group.command}", "warning")
        inst = self.llama()
        yield LogLine(step, f"llama.cpp: {inst.root or 'not found'} (commit {(inst.commit or 'unknown')[:12]})")
        plan = self.spec.plan()
        needed: list[str] = []
        if "convert" in plan and not self._done("convert") and not inst.can_convert:
            needed.append("convert_hf_to_gguf.py with its gguf-py")
        if "lora" in plan and not self._done("lora") and inst.convert_lora_script is None:
            needed.append("convert_lora_to_gguf.py")
        if any(s.startswith("quantize:") and not self._done(s) for s in plan) and inst.quantize_bin is None:
            needed.append("llama-quantize")
        if self.spec.smoke_test and inst.server_bin is None:
            needed.append("llama-server")
        if needed:
            detail = "; ".join(p for p in inst.problems) or ", ".join(needed)
            raise _Failed(f"llama.cpp is missing {', '.join(needed)} ({detail})",
                          "run `tui-tuner llama-cpp install` (or set TUI_TUNER_LLAMA_CPP to a built clone)")
        if ("convert" in plan and not self._done("convert")) or ("lora" in plan and not self._done("lora")):
            # `convert_hf_to_gguf.py --help` catches gguf-py skew (MistralTokenizerType) before any real work;
            # it takes a few seconds (torch import), so it runs beside download/merge and is awaited by convert.
            if probe_passed_before(inst, self.spec.python):
                yield LogLine(step, "converter starts with its own gguf-py (checked before for this tree)")
            else:
                self._probe = asyncio.create_task(asyncio.to_thread(probe_and_remember, inst, self.spec.python))
                yield LogLine(step, "checking that the converter starts with its own gguf-py (in the background)")
        need, free, lines = self._disk_estimate()
        for line in lines:
            yield LogLine(step, line)
        if need > free:
            raise _Failed(f"not enough disk space in {self.out}: need ≈ {need / GB:.1f} GB, {free / GB:.1f} GB free",
                          "free space or choose another --output-dir")
        result["summary"] = f"llama.cpp ok, disk ok ({free / GB:.0f} GB free, ≈ {need / GB:.1f} GB needed)"
        result["details"] = {"disk_needed_bytes": need, "disk_free_bytes": free,
                             "llama_cpp_commit": inst.commit}

    def _base_bytes(self) -> int | None:
        from core.convert.merge import weights_bytes

        candidates = [self.merged_dir] if self.spec.skip_merge and self.spec.mode == "merge" else []
        if self.base_dir is not None:
            candidates.append(self.base_dir)
        elif self.spec.base_model and _is_local(self.spec.base_model):
            candidates.append(Path(self.spec.base_model).expanduser())
        for path in candidates:
            with contextlib.suppress(TunerError, OSError):
                return weights_bytes(path)
        return None

    def _disk_estimate(self) -> tuple[int, int, list[str]]:
        size = self._base_bytes()
        free = shutil.disk_usage(self.out).free
        if size is None:
            return 0, free, ["model size unknown until download (the download checks its own space)"]
        need = 0
        lines = [f"model weights: {size / GB:.2f} GB"]
        if self.spec.mode == "merge" and not self.spec.skip_merge and not self._done("merge"):
            need += size
        if not self._done("convert"):
            need += size
        for q in self.spec.quants():
            if not self._done(f"quantize:{q.name}"):
                need += int(size * q.bpw / 16)
        lines.append(f"disk: ≈ {need / GB:.2f} GB needed for the remaining outputs, {free / GB:.1f} GB free")
        return int(need * 1.05), free, lines

    async def _step_download(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        s = self.spec
        details: dict[str, Any] = {}
        for kind in ("adapter", "base"):
            ref = s.base_model if kind == "base" else s.adapter
            if kind == "base" and not ref:
                ref = self._base_from_adapter(Path(self._abs(details["adapter_dir"])))
                yield LogLine(step, f"base model from adapter_config.json: {ref}")
            if not ref:
                continue
            if _is_local(ref):
                path = Path(ref).expanduser().resolve()
                marker = "config.json" if kind == "base" else "adapter_config.json"
                if not (path / marker).is_file():
                    raise TunerError(f"{path}: no {marker}", field="base_model" if kind == "base" else "adapter",
                                     hint="point at a Hugging Face model folder" if kind == "base"
                                     else "point at a PEFT adapter folder")
                yield LogLine(step, f"{kind}: local folder {path}")
            else:
                local_dir = self.out / "adapter" if kind == "adapter" else None
                if s.skip_download:
                    path = self._cached(ref, kind, local_dir)
                    yield LogLine(step, f"{kind}: --skip-download, using {path}")
                else:
                    argv = [s.python, "-m", "core.convert.hub_worker", "download", "--repo", ref, "--kind", kind]
                    if local_dir is not None:
                        argv += ["--local-dir", str(local_dir)]
                    parser = JsonWorkerParser(step, "B")
                    async for event in self._tool(step, argv, parser, env=self._worker_env()):
                        yield event
                    path = Path(parser.result["path"])
            details[f"{kind}_dir"] = self._rel(str(path))
        self.base_dir = Path(self._abs(details["base_dir"])) if "base_dir" in details else None
        self.adapter_dir = Path(self._abs(details["adapter_dir"])) if "adapter_dir" in details else None
        result["details"] = details
        result["outputs"] = [self._abs(v) for v in details.values()]
        result["summary"] = ", ".join(f"{k.removesuffix('_dir')}: {Path(v).name}" for k, v in details.items())

    def _base_from_adapter(self, adapter_dir: Path) -> str:
        from core.convert.merge import read_adapter_config

        ref = read_adapter_config(adapter_dir).get("base_model_name_or_path")  # damaged: its own one line
        if not ref or not isinstance(ref, str):
            raise TunerError("no base model given and adapter_config.json names none", field="base_model",
                             hint="pass --base-model")
        self.spec.base_model = str(ref)
        return str(ref)

    def _cached(self, ref: str, kind: str, local_dir: Path | None) -> Path:
        if local_dir is not None and (local_dir / "adapter_config.json").is_file():
            return local_dir
        from huggingface_hub import snapshot_download

        from core.hub import hub_endpoint

        try:
            return Path(snapshot_download(ref, local_files_only=True, endpoint=hub_endpoint()))
        except Exception:
            raise TunerError(f"--skip-download: {ref} is not downloaded yet", field=kind,
                             hint="run once without --skip-download") from None

    def _merge_plan(self) -> tuple[str, list[str]]:
        """Pick the merge method from the RAM it needs (guide: bf16 ≈ 2 bytes/param) and what is free."""
        import psutil

        from core.convert.merge import read_adapter, shard_files, weights_bytes

        assert self.base_dir is not None and self.adapter_dir is not None
        from core.convert.safetensors_stream import read_header

        size = weights_bytes(self.base_dir)
        largest = max(e.end - e.start for p in shard_files(self.base_dir) for e in read_header(p)[0])
        available = psutil.virtual_memory().available
        peft_need = int(size * 1.1 + PEFT_OVERHEAD)
        # tensor read + fp32 delta + merged copy of the largest tensor (fp32 delta is 2x a bf16 tensor)
        low_need = int(4 * largest + LOWRAM_OVERHEAD)
        params_b = size / 2 / 1e9
        lines = [
            f"base weights {size / GB:.2f} GB in {len(shard_files(self.base_dir))} shard(s) ≈ {params_b:.2f}B params "
            f"in bf16 (guide: ~2 GB RAM per billion parameters, e.g. ~16 GB for Llama 3 8B)",
            f"RAM: peft merge needs ≈ {peft_need / GB:.1f} GB, low-RAM merge ≈ {low_need / GB:.1f} GB, "
            f"{available / GB:.1f} GB available",
        ]
        method = self.spec.merge_method
        info = read_adapter(self.adapter_dir)
        if method == "auto":
            lowram_ok = not info.unsupported
            if lowram_ok:
                # The tensor names from the header: `safe_open(framework="pt")` would import torch into this
                # process (seconds) only to list them; the merge worker imports it where it is needed.
                lowram_ok = not any("lora_embedding" in e.name for e in read_header(info.weights_file)[0])
            method = "peft" if (peft_need <= available or not lowram_ok) else "low-ram"
            lines.append(f"merge method: {method} (auto)")
        need = peft_need if method == "peft" else low_need
        if need > available:
            hint = ("use --merge-method low-ram" if method == "peft" and not info.unsupported
                    else "free memory, add swap or use a bigger machine")
            raise _Failed(f"the {method} merge needs ≈ {need / GB:.1f} GB RAM, {available / GB:.1f} GB available", hint)
        return method, lines

    async def _step_merge(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        if self.spec.skip_merge:
            if not (self.merged_dir / "config.json").is_file() or not list(self.merged_dir.glob("*.safetensors")):
                raise TunerError(f"--skip-merge: no merged model in {self.merged_dir}", field="skip_merge",
                                 hint="run without --skip-merge first")
            result.update(summary="--skip-merge: using the existing merged model", outputs=[str(self.merged_dir)])
            return
        if self.base_dir is None or self.adapter_dir is None:
            raise _Failed("download step did not record the base and adapter folders", "rerun the download step")
        method, lines = self._merge_plan()
        for line in lines:
            yield LogLine(step, line)
        part = self.out / "merged.part"
        device = "cpu" if self.spec.cpu else "auto"
        argv = [self.spec.python, "-m", "core.convert.merge_worker", "--base", str(self.base_dir),
                "--adapter", str(self.adapter_dir), "--out", str(part), "--method", method, "--device", device]
        parser = JsonWorkerParser(step, "shards" if method == "low-ram" else "stages")
        async for event in self._tool(step, argv, parser, env=self._worker_env()):
            yield event
        if self.merged_dir.exists():
            shutil.rmtree(self.merged_dir)
        part.rename(self.merged_dir)
        has_tokenizer = any((self.merged_dir / n).is_file() for n in ("tokenizer.json", "tokenizer.model"))
        if not has_tokenizer:
            yield LogLine(step, "warning: no tokenizer in the base or adapter folder; the GGUF conversion needs one",
                          "warning")
        peak = parser.result.get("peak_rss_bytes")
        result["details"] = {"method": method, "peak_rss_bytes": peak,
                             **{k: v for k, v in parser.result.items() if k in {"shards", "merged_modules"}}}
        result["outputs"] = [str(self.merged_dir)]
        result["summary"] = f"{method} merge → merged/ (peak RSS {peak / GB:.2f} GB)" if peak else f"{method} merge"

    async def _converter_checked(self, step: str) -> AsyncIterator[Event]:
        if self._probe is None:
            return
        problem = await self._probe
        self._probe = None
        if problem:
            raise _Failed(f"the converter does not start: {problem}")
        yield LogLine(step, "converter starts with its own gguf-py")

    async def _step_convert(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        inst = self.llama()
        async for event in self._converter_checked(step):
            yield event
        source = self.merged_dir if self.spec.mode == "merge" else self.base_dir
        if source is None:
            raise _Failed("no model folder to convert", "rerun the download step")
        final = self.full_gguf
        part = final.with_name(final.name + ".part")
        self._part_files.add(part)
        argv = [self.spec.python, inst.convert_script, "--outtype", self.spec.outtype, "--outfile", part,
                "--model-name", self.spec.name, source]
        parser = ConvertParser(step, _tensor_count_hint(source))
        async for event in self._tool(step, argv, parser, env=inst.converter_env(),
                                      env_shown={"PYTHONPATH": str(inst.gguf_py)}, cwd=self.out):
            yield event
        if parser.exported is None or not part.is_file():
            raise _Failed("the converter exited 0 without `Model successfully exported`")
        part.replace(final)
        self._part_files.discard(part)
        if not parser.chat_template_set:
            yield LogLine(step, "warning: no chat template was written (no chat_template.jinja / tokenizer_config "
                                "template in the model folder): llama-server will fall back to a generic one",
                          "warning")
        result["outputs"] = [str(final)]
        result["details"] = {"tensors": parser.tensors, "chat_template": parser.chat_template_set,
                             "bytes": final.stat().st_size}
        result["summary"] = f"{final.name} ({final.stat().st_size / 1e6:.0f} MB, {parser.tensors} tensors)"

    async def _step_lora(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        inst = self.llama()
        async for event in self._converter_checked(step):
            yield event
        if self.adapter_dir is None or self.base_dir is None:
            raise _Failed("no adapter/base folder", "rerun the download step")
        final = self.lora_gguf
        part = final.with_name(final.name + ".part")
        self._part_files.add(part)
        argv = [self.spec.python, inst.convert_lora_script, "--outtype", "f16", "--outfile", part,
                "--base", self.base_dir, self.adapter_dir]
        parser = ConvertParser(step)
        async for event in self._tool(step, argv, parser, env=inst.converter_env(),
                                      env_shown={"PYTHONPATH": str(inst.gguf_py)}, cwd=self.out):
            yield event
        if not part.is_file():
            raise _Failed("convert_lora_to_gguf.py exited 0 without writing the file")
        part.replace(final)
        self._part_files.discard(part)
        result["outputs"] = [str(final)]
        result["details"] = {"tensors": parser.tensors, "bytes": final.stat().st_size}
        result["summary"] = f"{final.name} ({final.stat().st_size / 1e6:.1f} MB, use with llama-server --lora)"

    async def _step_quantize(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        inst = self.llama()
        qname = step.split(":", 1)[1]
        final = self.gguf_path(qname)
        part = final.with_name(final.name + ".part")
        self._part_files.add(part)
        argv: list[Any] = [inst.quantize_bin]
        if self.spec.imatrix:
            argv += ["--imatrix", self.spec.imatrix]
        argv += [self.full_gguf, part, qname, str(self.spec.threads or os.cpu_count() or 2)]
        parser = QuantizeParser(step)
        async for event in self._tool(step, argv, parser, cwd=self.out):
            yield event
        if not part.is_file():
            raise _Failed("llama-quantize exited 0 without writing the file")
        part.replace(final)
        self._part_files.discard(part)
        d = parser.details
        result["outputs"] = [str(final)]
        result["details"] = dict(d)
        bpw = f", {d['quant_bpw']} BPW" if "quant_bpw" in d else ""
        fallback = f", {d['fallback_tensors']} tensors fell back" if d.get("fallback_tensors") else ""
        result["summary"] = f"{final.name} ({final.stat().st_size / 1e6:.0f} MB{bpw}{fallback})"

    async def _step_verify(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        from core.convert.verify import SmokeResult, read_gguf, smoke_test

        # The files a user takes away: the quants (the bf16 intermediate too when it is the only output).
        checks: list[tuple[Path, str | None, bool]] = [(self.gguf_path(q.name), q.name, False)
                                                       for q in self.spec.quants()]
        if not checks:
            checks.append((self.full_gguf, self.spec.outtype, False))
        if self.spec.mode == "lora":
            checks.append((self.lora_gguf, None, True))
        # GGUFReader runs in a thread while llama-server loads (it mostly waits): both checks, one wait.
        reads = asyncio.create_task(asyncio.to_thread(lambda: [read_gguf(p, e, a) for p, e, a in checks]))
        smoke = SmokeResult()
        if self.spec.smoke_test:
            target = self._smoke_target()
            self.smoke = smoke
            lora = self.lora_gguf if self.spec.mode == "lora" else None
            try:
                async for event in smoke_test(self.llama().server_bin, target, smoke, step=step, lora=lora,
                                              gpu_layers=0 if self.spec.cpu else 99, pid_dir=self.pid_dir):
                    yield event
            except BaseException:
                reads.cancel()
                raise
        try:
            self.gguf_infos = await reads
        except TunerError as exc:
            raise _Failed(exc.message, exc.hint or "") from None
        fatal: list[str] = []
        for (path, _, _), info in zip(checks, self.gguf_infos, strict=True):
            kinds = ", ".join(f"{k}:{v}" for k, v in sorted(info.tensor_types.items()))
            yield LogLine(step, f"{path.name}: arch {info.architecture}, {info.file_type or info.general_type}, "
                                f"{info.tensor_count} tensors ({kinds}), chat template "
                                f"{'present' if info.has_chat_template else 'MISSING'}")
            for problem in info.problems:
                level = "warning" if problem == "no tokenizer.chat_template" else "error"
                yield LogLine(step, f"{path.name}: {problem}", level)
                if level == "error":
                    fatal.append(f"{path.name}: {problem}")
        if fatal:
            raise _Failed(fatal[0], "rerun the conversion; the file is not what llama.cpp expects")
        details: dict[str, Any] = {"ggufs": [asdict(i) for i in self.gguf_infos]}
        summary = f"{len(checks)} GGUF file(s) read"
        if self.spec.smoke_test:
            if not smoke.ok:
                raise _Failed(smoke.error or "llama-server smoke test failed", smoke.hint)
            details["smoke_test"] = asdict(smoke)
            tps = f", {smoke.tokens_per_second:.0f} tok/s" if smoke.tokens_per_second else ""
            summary += f"; llama-server answered ({Path(self._smoke_target()).name}{tps})"
        result["details"] = details
        result["outputs"] = [str(p) for p, _, _ in checks]
        result["summary"] = summary

    def _smoke_target(self) -> Path:
        return self.gguf_path(self.spec.quants()[0].name) if self.spec.quants() else self.full_gguf

    async def _step_upload(self, step: str, result: dict[str, Any]) -> AsyncIterator[Event]:
        from core.hub import whoami_name

        repo = self.spec.gguf_repo or f"{await asyncio.to_thread(whoami_name)}/{self.spec.name}-GGUF"
        files = self._upload_files()
        readme = self.out / "README.gguf.md"
        readme.write_text(self._model_card(repo), encoding="utf-8")
        argv = [self.spec.python, "-m", "core.convert.hub_worker", "upload", "--repo", repo,
                "--readme-file", str(readme), *(["--private"] if self.spec.private else []), *files]
        parser = JsonWorkerParser(step, "B")
        async for event in self._tool(step, argv, parser, env=self._worker_env()):
            yield event
        result["details"] = {"repo": repo, "files": [Path(f).name for f in files]}
        result["outputs"] = []
        result["summary"] = f"uploaded {len(files)} file(s) to {repo}"

    def _model_card(self, repo: str) -> str:
        s = self.spec
        base = s.base_model if s.base_model and not _is_local(s.base_model) else None
        quants = [q.name for q in s.quants()]
        lines = ["---"]
        if base:
            lines.append(f"base_model: {base}")
        lines += ["tags:", "- gguf", "- llama-cpp", "- tui-tuner", "---", "", f"# {s.name} GGUF", ""]
        if s.adapter and not _is_local(s.adapter):
            lines.append(f"LoRA adapter `{s.adapter}` " + ("merged into" if s.mode == "merge" else "for")
                         + (f" `{base}`." if base else " its base model."))
        commit = self.llama().commit
        lines += ["", f"Converted with llama.cpp {commit[:12] if commit else ''} by tui-tuner.", "", "## Use", ""]
        for q in quants[:3] or [s.outtype.upper()]:
            lines.append(f"    llama-server -hf {repo}:{q}")
        lines.append("")
        return "\n".join(lines)


def _tensor_count_hint(model_dir: Path) -> int | None:
    index = model_dir / "model.safetensors.index.json"
    try:
        if index.is_file():
            return len(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}))
        from safetensors import safe_open

        with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as f:
            return len(list(f.keys()))
    except Exception:
        return None
