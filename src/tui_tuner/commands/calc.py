"""`tui-tuner calc`: peak GPU memory, which HF Jobs flavors fit, and what the run costs.

    tui-tuner calc --model gemma-3-12b --method qlora --max-length 16384 [--json]
    tui-tuner calc --model Qwen/Qwen3-8B --inference --max-length 32768 --quant nf4
    tui-tuner calc --model llama-3.1-8b --method full --strategy fsdp --gpus 4
    tui-tuner calc --model qwen3-8b --dataset chats.jsonl      # max length, memory and cost from real tokens
    tui-tuner calc --guide            # the training guide's logits and GPU-selection tables, computed
    tui-tuner calc --list-models
"""

from __future__ import annotations

import argparse
from typing import Any

from core.errors import TunerError


def register(subparsers: Any, parent: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("calc", parents=[parent], help="GPU memory, fitting flavors and cost of a fine-tune",
                              description="Estimate the peak GPU memory of a training step (or of inference), "
                                          "the HF Jobs flavors it fits on, and the run's time and cost.")
    p.add_argument("--model", "-m", help="catalog key (gemma-3-12b), Hub id (google/gemma-3-12b-it), "
                                         "config.json path or model directory")
    p.add_argument("--method", default="qlora", help="full, lora or qlora (default qlora)")
    p.add_argument("--max-length", default="2048", help="tokens per sequence (padded length); default 2048")
    p.add_argument("--batch-size", default="1", help="per-device micro-batch (default 1)")
    p.add_argument("--grad-accum", "--gradient-accumulation", dest="grad_accum", default="8",
                   help="gradient accumulation steps (default 8)")
    p.add_argument("--lora-r", default="64", help="LoRA rank (default 64)")
    p.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj",
                   help="comma-separated modules or all-linear (default q,k,v,o)")
    p.add_argument("--modules-to-save", default=None,
                   help="LoRA: vocabulary matrices trained in full beside the adapter (PEFT modules_to_save), e.g. "
                        "embed_tokens,lm_head or Qwen-1's wte,lm_head (changes: modules_to_save copies, gradients, "
                        "optimizer states)")
    p.add_argument("--peft-method", default="lora",
                   help="the adapter on the frozen base: lora (default), lora-fa (A frozen), ia3 (scaling vectors on "
                        "--lora-targets; down_proj scales its input), ln-tuning (every norm), prompt-tuning "
                        "(--virtual-tokens), prefix-tuning (trained keys and values per layer, --virtual-tokens) (changes: adapters, gradients, optimizer states, activations)")
    p.add_argument("--virtual-tokens", default="20",
                   help="prompt and prefix tuning: trained virtual tokens per sequence (default 20) (changes: "
                        "adapters, activations, logits, cross-entropy)")
    p.add_argument("--prefix-projection", default="", metavar="HIDDEN",
                   help="prefix tuning through PEFT's two-layer MLP (prefix_projection=True) of this hidden size; "
                        "default off (changes: adapters, gradients, optimizer states)")
    p.add_argument("--dora", action="store_true",
                   help="DoRA (PEFT use_dora): magnitude vectors, and the base and LoRA outputs kept per wrapped "
                        "module (changes: adapters, gradients, optimizer states, activations)")
    p.add_argument("--lora-dropout", default="0.05", help="LoRA dropout (default 0.05; 0 saves activations)")
    p.add_argument("--optimizer", default="adamw_8bit",
                   help="HF optim names: adamw_torch, adamw_torch_fused, adamw_8bit, paged_adamw_8bit, "
                        "paged_adamw_32bit, adamw_torch_8bit / adamw_torch_4bit (torchao), lion_32bit, lion_8bit, "
                        "paged_lion_32bit, paged_lion_8bit, adafactor, adagrad, rmsprop, sgd, sgd_momentum, "
                        "galore_adamw, galore_adamw_8bit, galore_adafactor (± _layerwise; --galore-rank) "
                        "(changes: optimizer states, optimizer step temps)")
    p.add_argument("--galore-rank", default="128",
                   help="GaLore projection rank for the galore_adamw / galore_adamw_8bit / galore_adafactor "
                        "(± _layerwise) optimizers, full fine-tuning only (default 128) (changes: optimizer "
                        "states, optimizer step temps)")
    p.add_argument("--optimizer-in-backward", action="store_true",
                   help="step and free each gradient during backward (torchtune optimizer_in_bwd; needs "
                        "--grad-accum 1) (changes: gradients, optimizer step temps)")
    p.add_argument("--no-gradient-checkpointing", dest="gradient_checkpointing", action="store_false",
                   help="turn gradient checkpointing off (it is on by default) (changes: activations)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (torchtune compile, HF torch_compile): pointwise "
                        "intermediates are recomputed in backward (changes: activations, layer recompute; with "
                        "--loss chunked-outputs, cross-entropy)")
    p.add_argument("--unsloth", action="store_true",
                   help="Unsloth's LoRA/QLoRA path: offloaded gradient checkpointing, Cut Cross-Entropy, and its "
                        "fused LoRA MLP that keeps X, gate and up only (dropout 0, LoRA on gate/up/down) (changes: "
                        "activations, layer recompute, logits, cross-entropy)")
    p.add_argument("--activation-offloading", action="store_true",
                   help="saved activations go to CPU RAM (torchtune / Unsloth offloading) (changes: activations)")
    p.add_argument("--dtype", default="bf16", help="bf16, fp16 or fp32 (fp32 = AMP with fp32 master weights); "
                                                   "inference: the weights' dtype unless --quant/--weights")
    p.add_argument("--quant", default=None,
                   help="base weight format: nf4-dq (QLoRA default), nf4, fp4-dq, fp4 (bitsandbytes), int8 "
                        "(LLM.int8), gptq-int4, gptq-int8, awq-int4, fp8; with --method lora it trains the adapter "
                        "on that base; with --inference it is the weight format (changes: weights, dequant)")
    p.add_argument("--loss", dest="loss_impl", default="hf",
                   help="hf (transformers loss under Trainer/TRL, default), hf-outputs-kept, fp32-logits "
                        "(transformers ≤4.45, torchtune), bf16-logits (LitGPT), chunked (TRL fused head), "
                        "chunked-outputs (torchtune CEWithChunkedOutputLoss), liger (Liger FLCE), cce (Cut "
                        "Cross-Entropy) "
                        "(changes: logits, cross-entropy)")
    p.add_argument("--attention", default="sdpa",
                   help="sdpa (default), flash-attention-2 (alias flash; Ampere+ GPUs) or eager "
                        "(changes: activations; inference: prefill scores)")
    p.add_argument("--adapter-dtype", default="fp32",
                   help="fp32 (PEFT default) or bf16/fp16 (autocast_adapter_dtype=False) (changes: adapters, "
                        "gradients, optimizer states)")
    p.add_argument("--quantize-lora-targets-only", action="store_true",
                   help="only the LoRA-wrapped Linears are stored quantised, the others stay bf16 (torchtune's "
                        "QLoRA) (changes: weights, dequant buffers)")
    p.add_argument("--upcast-non-quantized", action="store_true",
                   help="QLoRA: count prepare_model_for_kbit_training's fp32 embeddings/head/norms (changes: weights)")
    p.add_argument("--old-bitsandbytes", action="store_true",
                   help="QLoRA with bitsandbytes < 0.43.2, whose 4-bit matmuls keep their inputs for backward "
                        "(changes: activations)")
    p.add_argument("--strategy", default="auto",
                   help="multi-GPU: ddp, fsdp, fsdp-offload (FSDP CPU offload), fsdp-hybrid, zero2, zero2-offload, zero3, zero3-offload, "
                        "device-map; auto (default) picks the fastest that fits each flavor (changes: weights, "
                        "gradients, optimizer states, communication buffers, CPU RAM)")
    p.add_argument("--gpus", default=None, help="show the per-GPU breakdown for this many GPUs (default: the "
                                                 "recommended flavor's)")
    p.add_argument("--shard-size", default=None,
                   help="fsdp-hybrid: GPUs per shard group (full shard inside, replicated across; default all)")
    p.add_argument("--text-only", action="store_true", help="do not count a multimodal checkpoint's vision tower")
    p.add_argument("--count-from", default="auto", choices=("auto", "model", "config"),
                   help="count parameters on the model built on the meta device (needs transformers; no download) "
                        "or from config formulas; auto: the model for config.json paths and Hub ids")
    p.add_argument("--inference", action="store_true", help="estimate generation (weights + KV cache) instead")
    p.add_argument("--weights", default=None,
                   help="inference weight format (overrides --quant / --dtype): bf16, fp16, fp32, fp8, int8, "
                        "gptq-int8, gptq-int4, awq-int4, nf4, nf4-dq, fp4, fp4-dq")
    p.add_argument("--kv-dtype", default="bf16", help="inference KV-cache dtype (bf16, fp8, q8_0, q4_0)")
    p.add_argument("--dataset", default=None,
                   help="profile a local JSONL (or a Hub dataset id) with the model's own tokenizer and chat "
                        "template: token-length percentiles, truncation per max length, and memory, flavor, "
                        "time and cost at p95 / p99 / max")
    p.add_argument("--dataset-split", default="train", help="Hub dataset split (default train)")
    p.add_argument("--sample", default=None, help="profile at most this many conversations (a uniform sample)")
    p.add_argument("--tokenizer", default=None, help="tokenizer directory or Hub id (default: the model's)")
    p.add_argument("--examples", default="1000", help="training examples (default 1000)")
    p.add_argument("--epochs", default="3", help="epochs (default 3)")
    p.add_argument("--tokens-per-example", default=None,
                   help="average tokens per example (default: min(max length, 2048))")
    p.add_argument("--mfu", default=None,
                   help="model FLOPs utilisation, 0-1 or a percentage (default 0.12 QLoRA, 0.25 otherwise)")
    p.add_argument("--tokens-per-second", default=None, help="throughput override for every GPU")
    p.add_argument("--flavor", default=None, help="also show the verdict for this flavor first")
    p.add_argument("--guide", action="store_true", help="print the guide's logits and GPU-selection tables")
    p.add_argument("--list-models", action="store_true", help="list the built-in model catalog")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from tui_tuner.output import emit_json

    if args.list_models:
        return _list_models(args)
    if args.guide:
        return _guide(args)
    if not args.model:
        raise TunerError("--model is required", field="model", hint="e.g. --model gemma-3-12b, or --list-models")
    result = compute(args)
    if args.json:
        emit_json(result)
    else:
        print(render_text(result))
    return 0


def form_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI flags as the calculator form's fields (one parser for both front ends)."""
    fields = {"model": args.model, "method": args.method, "max_length": args.max_length,
              "batch_size": args.batch_size, "grad_accum": args.grad_accum, "lora_r": args.lora_r,
              "lora_targets": args.lora_targets, "lora_dropout": args.lora_dropout, "optimizer": args.optimizer,
              "gradient_checkpointing": args.gradient_checkpointing, "dtype": args.dtype, "loss_impl": args.loss_impl,
              "examples": args.examples, "epochs": args.epochs, "tokens_per_example": args.tokens_per_example or "",
              "mfu": args.mfu or "", "old_bitsandbytes": args.old_bitsandbytes, "quant": args.quant or "auto",
              "attention": args.attention, "adapter_dtype": args.adapter_dtype,
              "optimizer_in_backward": args.optimizer_in_backward,
              "activation_offloading": args.activation_offloading, "compile": args.compile,
              "dora": args.dora, "galore_rank": args.galore_rank,
              "quantize_lora_targets_only": args.quantize_lora_targets_only,
              "peft_method": args.peft_method, "virtual_tokens": args.virtual_tokens,
              "prefix_projection": args.prefix_projection, "unsloth": args.unsloth,
              "upcast_non_quantized": args.upcast_non_quantized, "text_only": args.text_only,
              "strategy": args.strategy, "gpus": args.gpus or "", "shard_size": args.shard_size or "",
              "kv_dtype": args.kv_dtype, "modules_to_save": args.modules_to_save or "",
              "tokens_per_second": args.tokens_per_second or "", "count_from": args.count_from}
    if getattr(args, "inference", False):
        fields["mode"] = "inference"
        # --weights, else --quant, else --dtype: what the user typed decides the weight format.
        fields["weights"] = args.weights or args.quant or args.dtype
    return fields


def compute(args: argparse.Namespace) -> dict[str, Any]:
    """Everything `calc` shows, as one JSON-able dict (shared by text and --json output)."""
    from core.calc.formats import INPUT_TERMS
    from core.calc.guide import logits_gb
    from core.calc.plan import calculate
    from core.flavors import get_flavor

    chosen = get_flavor(args.flavor) if args.flavor else None
    if args.flavor and chosen is None:
        raise TunerError(f"unknown flavor {args.flavor!r}", field="flavor")
    fields = form_fields(args)
    profile = None
    if args.dataset:
        profile = _profile(args)
        if not str(args.tokens_per_example or "").strip() and str(args.max_length).strip().isdigit():
            # Run time and cost from the real tokens per example after truncation, not a chars/token guess.
            fields["tokens_per_example"] = str(profile.mean_tokens_at(int(str(args.max_length).strip())))
    result_obj = calculate(fields)
    est = result_obj.estimate
    arch = result_obj.arch
    inputs = result_obj.inputs
    result: dict[str, Any] = {"estimate": est.to_dict(),
                              "logits_fp32_gb": round(logits_gb(arch.vocab_size, inputs.max_length), 2),
                              "input_terms": {k: list(v) for k, v in INPUT_TERMS.items()}}
    if est.kind == "training":
        plan = result_obj.plan
        rows, best = result_obj.runs, result_obj.best
        result["run"] = {"examples": plan.examples, "epochs": plan.epochs,
                         "tokens_per_example": plan.tokens_per_example, "mfu": plan.mfu,
                         "tokens_per_second": plan.tokens_per_second}
        result["flavors"] = [r.to_dict() for r in rows]
        result["recommended"] = best.to_dict() if best else None
    else:
        result["flavors"] = [{"flavor": f.name, "gpu": f.gpu_name, "gpu_memory_gb": f.gpu_memory_gb,
                              "price_per_hour": f.price_per_hour, "fits": True,
                              "headroom_gb": round(est.headroom_bytes(f) / 1e9, 2)} for f in est.fitting_flavors]
        cheapest = est.cheapest_flavor
        result["recommended"] = ({"flavor": cheapest.name, "price_per_hour": cheapest.price_per_hour}
                                 if cheapest else None)
    if chosen is not None:
        row = next((r for r in result.get("flavors", []) if r.get("flavor") == chosen.name and "strategy" in r), None)
        if row is not None:
            result["flavor"] = {"flavor": chosen.name, "fits": row["fits"], "problem": row["problem"],
                                "headroom_gb": row["headroom_gb"], "strategy": row["strategy"]}
        else:
            result["flavor"] = {"flavor": chosen.name, "fits": est.usable(chosen), "problem": est.unsupported(chosen),
                                "headroom_gb": round(est.headroom_bytes(chosen) / 1e9, 2)}
    if profile is not None:
        from core.calc.dataset_profile import sized_by_data

        result["dataset"] = sized_by_data(profile, fields).to_dict()
    return result


def _profile(args: argparse.Namespace) -> Any:
    from core.calc.dataset_profile import profile_dataset

    sample = None
    if args.sample:
        try:
            sample = int(str(args.sample).replace(",", "").replace("_", ""))
        except ValueError:
            raise TunerError(f"must be a whole number (got {args.sample!r})", field="sample") from None
    return profile_dataset(args.dataset, model=args.tokenizer or args.model, split=args.dataset_split,
                           sample=sample)


def render_text(result: dict[str, Any]) -> str:
    est = result["estimate"]
    model = est["model"]
    parallel = est.get("parallel") or {}
    where = f", per GPU: {parallel['label']}" if parallel.get("world_size", 1) > 1 else ""
    lines = [f"{model['name']} — {model['total_params'] / 1e9:.2f}B params ({model['counted_by']}), "
             f"vocab {model['vocab_size']:,}, {est['kind']}{where}, peak at {est['peak_phase']}"]
    width = max(len(t["name"]) for t in est["terms"])
    for t in est["terms"]:
        mark = "" if t["at_peak"] else ("  (host RAM)" if t.get("device") == "cpu" else "  (not at the peak)")
        shard = " ÷" if t.get("sharded") else "  "
        lines.append(f"  {t['name']:<{width}}  {t['gb']:8.2f} GB{shard} {t['note']}{mark}")
    lines.append(f"  {'total (must fit on one GPU)':<{width}}  {est['total_gb']:8.2f} GB")
    if est["kind"] == "training":
        lines.append(f"  logits alone (vocab × length × 4 B): {result['logits_fp32_gb']:.1f} GB")
    for note in est["notes"]:
        lines.append(f"  note: {note}")
    if "flavor" in result:
        f = result["flavor"]
        lines.append(f"{f['flavor']}: {'fits' if f['fits'] else 'does NOT fit'} (headroom {f['headroom_gb']:+.1f} GB)")
    rec = result.get("recommended")
    if rec:
        extra = f", est. {rec['hours']:.1f} h, ${rec['cost_usd']:.2f}" if "hours" in rec else ""
        how = f", {rec['strategy']}" if rec.get("strategy") not in (None, "single") else ""
        lines.append(f"recommended: {rec['flavor']} (${rec['price_per_hour']:.2f}/h{how}{extra})")
    else:
        lines.append("recommended: no flavor fits — shorten max length, use QLoRA, a chunked loss or more GPUs")
    if "run" in result:
        run = result["run"]
        lines.append(f"run: {run['examples']:,} examples × {run['epochs']:g} epochs × ~{run['tokens_per_example']:,} "
                     "tokens/example")
        lines.append(f"  {'flavor':<16}{'GPU':>12}{'$/h':>8}{'strategy':>15}{'fits':>6}{'hours':>8}{'cost':>10}")
        for row in result["flavors"]:
            lines.append(f"  {row['flavor']:<16}{row['gpu_memory_gb']:>10g}GB{row['price_per_hour']:>8.2f}"
                         f"{row.get('strategy', 'single'):>15}{'yes' if row['fits'] else 'no':>6}"
                         f"{row['hours']:>8.1f}{row['cost_usd']:>10.2f}")
    if "dataset" in result:
        lines.extend(render_dataset(result["dataset"]))
    return "\n".join(lines)


def render_dataset(data: dict[str, Any]) -> list[str]:
    prof = data["profile"]
    lines = [f"dataset: {prof['source']} — {prof['profiled']:,} of {prof['total']:,} conversations"
             + (f" (a sample of {prof['profiled']:,})" if prof["sampled"] else "")
             + f", tokenized with {prof['tokenizer']}" + (" + chat template" if prof["chat_template"] else "")
             + (f"; {prof['skipped']:,} rows skipped (not a conversation)" if prof["skipped"] else "")]
    pct = prof["percentiles"]
    lines.append(f"  tokens per conversation: p50 {pct['p50']:,}  p95 {pct['p95']:,}  p99 {pct['p99']:,}  "
                 f"max {pct['max']:,}  (mean {prof['mean']:,.0f})")
    lines.append("  truncated at max length: " + ", ".join(
        f"{row['max_length']:,}: {row['truncated_share']:.1%}" for row in prof["truncation"]))
    lines.append(f"  suggested max length: {data['suggested_max_length']:,} ({data['suggested_reason']})")
    lines.append(f"  {'at':<5}{'max length':>11}{'truncated':>11}{'peak GB':>9}  {'flavor':<16}{'hours':>7}{'cost':>9}")
    for row in data["options"]:
        lines.append(f"  {row['at']:<5}{row['max_length']:>11,}{row['truncated_share']:>10.1%} {row['peak_gb']:>9.1f}  "
                     f"{(row['flavor'] or '—'):<16}{(row['hours'] or 0):>7.1f}{(row['cost_usd'] or 0):>9.2f}")
    return lines


def _list_models(args: argparse.Namespace) -> int:
    from core.calc.catalog import CATALOG
    from core.calc.resolve import resolve_architecture
    from tui_tuner.output import emit_json

    rows = []
    for entry in CATALOG:
        arch = resolve_architecture(entry.key)
        rows.append({"key": entry.key, "family": entry.family, "name": entry.display,
                     "params": arch.total_params, "vocab_size": arch.vocab_size, "hub_ids": list(entry.hub_ids),
                     "dev_set": entry.dev_set})
    if args.json:
        emit_json(rows)
    else:
        for r in rows:
            print(f"{r['key']:<18}{r['params'] / 1e9:>7.2f}B  V={r['vocab_size']:>7,}  {', '.join(r['hub_ids'])}")
    return 0


def _guide(args: argparse.Namespace) -> int:
    from core.calc.guide import GUIDE_CONTEXTS, guide_gpu_selection, guide_logits_table
    from tui_tuner.output import emit_json

    logits = guide_logits_table()
    cells = guide_gpu_selection()
    if args.json:
        emit_json({"contexts": list(GUIDE_CONTEXTS),
                   "logits_gb": [{"model": r.model, "vocab": r.vocab_label, "gb": list(r.gb)} for r in logits],
                   "gpu_selection": [{"context": c.context, "column": c.column, "gpu": c.label,
                                      "flavor": c.flavor.name if c.flavor else None, "worst_model": c.worst_model,
                                      "worst_total_gb": round(c.worst_total_gb, 1)} for c in cells]})
        return 0
    print("Logits (vocab × length × 4 bytes, GB)")
    print(f"  {'model':<10}{'vocab':>7}" + "".join(f"{f'@{n // 1024}k':>9}" for n in GUIDE_CONTEXTS))
    for r in logits:
        print(f"  {r.model:<10}{r.vocab_label:>7}" + "".join(f"{gb:>6.1f} GB" for gb in r.gb))
    print("GPU selection (the guide's QLoRA script, cheapest of A10G / A100 that fits)")
    for context in GUIDE_CONTEXTS:
        row = [c for c in cells if c.context == context]
        print(f"  ≤{context:<6} " + " | ".join(f"{c.column}: {c.label} (worst {c.worst_model} "
                                               f"{c.worst_total_gb:.1f} GB)" for c in row))
    return 0
