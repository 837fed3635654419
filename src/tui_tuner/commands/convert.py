"""`tui-tuner convert`: the guide's convert_to_gguf.py as a resumable, streamed pipeline.

Same options as the guide's script (`--adapter-repo/--adapter-path`, `--base-model`, `--output-dir`,
`--quant-type` (several allowed), `--skip-download`, `--skip-merge`, `--upload`, `--gguf-repo`, `--cpu`)
plus the merge method, the no-merge LoRA path, and `--json` event lines.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui_tuner.commands.llama_cpp import drive
from tui_tuner.output import emit_json, emit_json_line


def _list_types(args: argparse.Namespace) -> int:
    from core.convert.quant_types import QUANT_TYPES

    if args.json:
        emit_json([{"name": q.name, "ftype": q.ftype, "bpw": q.bpw, "description": q.description,
                    "needs_imatrix": q.needs_imatrix, "recommended": q.recommended} for q in QUANT_TYPES])
        return 0
    print(f"{'TYPE':9} {'BPW':>5}  NOTES")
    for q in QUANT_TYPES:
        flags = " [needs imatrix]" if q.needs_imatrix else (" *" if q.recommended else "")
        print(f"{q.name:9} {q.bpw:5.2f}  {q.description}{flags}")
    print("* recommended; BPW measured on Llama-3.1-8B (k-quants are mixes)")
    return 0


def _history(args: argparse.Namespace) -> int:
    import time

    from core.convert.records import list_records, resume_command
    from core.store import Store

    records = list_records(Store(), limit=args.limit)  # stale "running" rows come back "interrupted"
    if args.json:
        emit_json([{**r.__dict__, "resume_command": resume_command(r)} if r.status != "completed" else r.__dict__
                   for r in records])
        return 0
    if not records:
        print("no conversions yet")
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at))
        print(f"{r.id}  {when}  {r.status:11}  {r.output_dir}")
        if r.status == "interrupted":
            print(f"    {r.extra.get('interrupted', {}).get('reason', 'interrupted')}; resume: {resume_command(r)}")
    return 0


def spec_from_args(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from core.convert.pipeline import ConvertSpec
    from core.errors import TunerError

    if not args.output_dir:
        raise TunerError("--output-dir is required")
    from core.hub_ids import is_explicit_path, validate_repo_id

    if args.adapter_repo:  # a Hub id and never a path: `--adapter-repo ../../etc` is not the folder /etc
        validate_repo_id(args.adapter_repo, field="adapter", what="adapter repo id")
    adapter = args.adapter_repo or args.adapter_path
    if args.adapter_path and not is_explicit_path(args.adapter_path):
        adapter = f"./{args.adapter_path}"  # a path and never a Hub id, even when it does not exist (yet)
    # Paths are made absolute here, once: the tools run inside the output folder, not the user's.
    return ConvertSpec(
        output_dir=Path(args.output_dir),
        base_model=args.base_model or "",
        adapter=adapter,
        quant_types=tuple(args.quant_type or ["Q4_K_M"]),
        outtype=args.outtype,
        merge_method=args.merge_method,
        mode="lora" if args.no_merge else "merge",
        skip_download=args.skip_download,
        skip_merge=args.skip_merge,
        smoke_test=not args.no_smoke_test,
        upload=args.upload,
        gguf_repo=args.gguf_repo,
        private=args.private,
        model_name=args.model_name,
        cpu=not args.gpu,
        threads=args.threads,
        imatrix=args.imatrix,
    ).resolved()


def _convert(args: argparse.Namespace) -> int:
    if args.list_types:
        return _list_types(args)
    if args.history:
        return _history(args)
    from core.extras import require_extra

    require_extra("convert", feature="conversion")
    from core.convert.pipeline import ConversionRun
    from core.process_tree import Interrupted, quiet_output, run_until_signal

    spec = spec_from_args(args)
    spec.validate()  # bad options fail before anything starts, as one line
    run = ConversionRun(spec)
    try:
        # SIGINT, SIGTERM and SIGHUP (a dropped SSH session) all cancel the pipeline the same way.
        status = run_until_signal(lambda: drive(run.events(), args))
    except Interrupted as stop:
        # The pipeline was cancelled: the tool's process group is gone, partial files deleted.
        if stop.name == "SIGHUP":
            quiet_output()  # the terminal has gone: nobody reads the summary, and writing it could fail
        if args.json:
            emit_json_line({"event": "PipelineFinished", "status": "canceled", "kept": run.kept,
                            "run_id": run.run_id, "message": run.cancel_summary(), "signal": stop.name})
        else:
            print(f"\n{run.cancel_summary()} ({stop.name})", file=sys.stderr)
            print("rerun the same command to resume", file=sys.stderr)
        return stop.exit_code
    # 2: something the user must fix (bad input, as everywhere in the CLI); 1: a tool failed.
    return 0 if status == "completed" else 2 if run.input_error else 1


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "convert", parents=[parent],
        help="merge a LoRA adapter, convert to GGUF, quantize, smoke test, upload (resumable)",
        description="Download → merge (bf16) → GGUF → quantize → verify (GGUFReader + llama-server) → upload. "
                    "Rerun the same command to resume from the last finished step.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--adapter-repo", help="adapter on the Hub (user/name)")
    src.add_argument("--adapter-path", help="adapter folder (adapter_config.json + adapter_model.safetensors)")
    p.add_argument("--base-model", help="base model: Hub id or folder (default: adapter_config's base)")
    p.add_argument("--output-dir", help="where merged/ and the .gguf files go")
    p.add_argument("--quant-type", action="append", metavar="TYPE",
                   help="llama-quantize type, repeatable or comma-separated (default Q4_K_M; see --list-types)")
    p.add_argument("--outtype", default="bf16", choices=["bf16", "f16", "f32", "q8_0", "auto"],
                   help="converter output type (default bf16: no overflow risk, quantize from it)")
    p.add_argument("--merge-method", default="auto", choices=["auto", "peft", "low-ram"],
                   help="peft: whole model in RAM (guide); low-ram: one shard at a time; auto: by free RAM")
    p.add_argument("--no-merge", action="store_true",
                   help="keep the adapter separate: base GGUF + adapter GGUF LoRA for llama-server --lora")
    p.add_argument("--skip-download", action="store_true", help="use the adapter/base already downloaded")
    p.add_argument("--skip-merge", action="store_true", help="use the existing merged/ in the output dir")
    p.add_argument("--no-smoke-test", action="store_true", help="do not start llama-server to check the result")
    p.add_argument("--upload", action="store_true", help="upload the GGUF files to the Hub")
    p.add_argument("--gguf-repo", help="Hub repo for the upload (default <you>/<model>-GGUF)")
    p.add_argument("--private", action="store_true", help="create the upload repo as private")
    p.add_argument("--model-name", help="file name stem: <model>-<QUANT>.gguf (default from the adapter)")
    p.add_argument("--imatrix", help="importance matrix for IQ1/IQ2 types (llama-imatrix output)")
    p.add_argument("--threads", type=int, help="llama-quantize threads (default: all cores)")
    dev = p.add_mutually_exclusive_group()
    dev.add_argument("--cpu", action="store_true", help="merge on CPU in bfloat16 (the default)")
    dev.add_argument("--gpu", action="store_true", help="merge on the GPU and offload the smoke test (-ngl 99)")
    p.add_argument("--verbose", "-v", action="store_true", help="print every tool line")
    p.add_argument("--list-types", action="store_true", help="list quantization types with bits per weight")
    p.add_argument("--history", action="store_true", help="list recorded conversions")
    p.add_argument("--limit", type=int, default=20, help=argparse.SUPPRESS)
    p.set_defaults(func=_convert)
