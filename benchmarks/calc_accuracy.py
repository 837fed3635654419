"""Score the memory estimator against the development set; the same rows with accelerate's method.

    .venv/bin/python benchmarks/calc_accuracy.py            # print the report
    .venv/bin/python benchmarks/calc_accuracy.py --write    # also update docs/benchmarks/calc.md
    .venv/bin/python benchmarks/calc_accuracy.py --rows     # every row with its error

Relative error = (predicted − measured) / measured. Groups: training, inference, component (one term
measured on its own). Only rows of quality high/medium are scored; the rest are listed with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.calc_devset import Mapped, mapped_rows  # noqa: E402

DOC = ROOT / "docs" / "benchmarks" / "calc.md"
START, END = "<!-- calc-accuracy:start -->", "<!-- calc-accuracy:end -->"


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def score(rows: list[Mapped]) -> list[dict[str, object]]:
    out = []
    for row in rows:
        ours = row.predict()
        try:
            accel = row.accelerate()
        except Exception as exc:  # accelerate's path needs transformers; report instead of failing
            accel = None
            print(f"accelerate method failed on {row.row_id}: {exc}", file=sys.stderr)
        out.append({"id": row.row_id, "group": row.group, "measured": row.measured_bytes, "ours": ours,
                    "ours_err": (ours - row.measured_bytes) / row.measured_bytes,
                    "accel": accel,
                    "accel_err": None if accel is None else (accel - row.measured_bytes) / row.measured_bytes,
                    "assumption": row.assumption, "metric": row.metric})
    return out


def summary(scored: list[dict[str, object]]) -> list[tuple[str, int, float, float, int, float, float, float]]:
    lines = []
    for group in ("training", "inference", "multi-gpu", "capacity", "component"):
        rows = [r for r in scored if r["group"] == group]
        ours = [abs(float(r["ours_err"])) for r in rows]  # type: ignore[arg-type]
        signed = [float(r["ours_err"]) for r in rows]  # type: ignore[arg-type]
        accel = [abs(float(r["accel_err"])) for r in rows if r["accel_err"] is not None]  # type: ignore[arg-type]
        lines.append((group, len(rows), statistics.median(ours) if ours else float("nan"), percentile(ours, 0.9),
                      len(accel), statistics.median(accel) if accel else float("nan"), percentile(accel, 0.9),
                      statistics.median(signed) if signed else float("nan")))
    return lines


def by_source(scored: list[dict[str, object]]) -> dict[tuple[str, str], list[float]]:
    """|error| per (source, group): the rows' own `source` column (LitGPT hub split into LoRA / QLoRA)."""
    from benchmarks.calc_devset import load_rows

    sources = {row["id"]: row["source"] for row in load_rows()}
    groups: dict[tuple[str, str], list[float]] = {}
    for r in scored:
        rid = str(r["id"])
        source = sources.get(rid, rid)
        if source == "LitGPT config hub":
            source += " (QLoRA)" if rid.endswith("qlora") else " (LoRA)"
        groups.setdefault((source, str(r["group"])), []).append(abs(float(r["ours_err"])))  # type: ignore[arg-type]
    return groups


def markdown(scored: list[dict[str, object]], unmapped: list, *, with_rows: bool = True) -> str:
    out = ["| group | rows | ours: median \\|err\\| | ours: p90 \\|err\\| | ours: median signed err | "
           "accelerate rows | accelerate: median \\|err\\| | accelerate: p90 \\|err\\| |",
           "|---|---|---|---|---|---|---|---|"]
    for group, n, med, p90, n_acc, a_med, a_p90, signed in summary(scored):
        out.append(f"| {group} | {n} | {med:.1%} | {p90:.1%} | {signed:+.1%} | {n_acc} | "
                   + (f"{a_med:.1%} | {a_p90:.1%} |" if n_acc else "n/a | n/a |"))
    if with_rows:
        out += ["", "By source (|err| of our estimate):", "",
                "| source | group | rows | median \\|err\\| | p90 \\|err\\| | max \\|err\\| |", "|---|---|---|---|---|---|"]
        for (source, group), errs in sorted(by_source(scored).items(), key=lambda kv: (kv[0][1], kv[0][0])):
            out.append(f"| {source} | {group} | {len(errs)} | {statistics.median(errs):.1%} | "
                       f"{percentile(errs, 0.9):.1%} | {max(errs):.1%} |")
        out += ["", "| row | group | measured | ours | err | accelerate | err | assumption |", "|---|---|---|---|---|---|---|---|"]
        for r in scored:
            acc = r["accel"]
            acc_s = "N/A" if acc is None else f"{float(acc) / 2**30:.2f}"  # type: ignore[arg-type]
            acc_e = "" if r["accel_err"] is None else f"{float(r['accel_err']):+.1%}"  # type: ignore[arg-type]
            out.append(f"| {r['id']} | {r['group']} | {float(r['measured']) / 2**30:.2f} | "  # type: ignore[arg-type]
                       f"{float(r['ours']) / 2**30:.2f} | {float(r['ours_err']):+.1%} | {acc_s} | {acc_e} | "  # type: ignore[arg-type]
                       f"{r['assumption']} |")
        out += ["", "Values in GiB. Rows not scored:", "", "| row | why |", "|---|---|"]
        out += [f"| {u.row_id} | {u.reason} |" for u in unmapped]
    return "\n".join(out)


def fit(mapped: list[Mapped]) -> tuple[float, float, float, float]:
    """Grid-fit FRAGMENTATION and ACTIVATION_SCALE on every scored training row (min median, then p90)."""
    from core.calc import constants as C

    rows = [m for m in mapped if m.group == "training"]
    saved = (C.FRAGMENTATION, C.ACTIVATION_SCALE)
    best: tuple[float, float, float, float] | None = None
    try:
        for frag_i in range(0, 31):
            for scale_i in range(80, 201, 2):
                C.FRAGMENTATION, C.ACTIVATION_SCALE = frag_i / 100, scale_i / 100
                errs = [abs(m.predict() - m.measured_bytes) / m.measured_bytes for m in rows]
                key = (statistics.median(errs), percentile(errs, 0.9))
                if best is None or key < best[2:]:
                    best = (C.FRAGMENTATION, C.ACTIVATION_SCALE, *key)
    finally:
        C.FRAGMENTATION, C.ACTIVATION_SCALE = saved
    assert best is not None
    return best


def max_context(budget_bytes: float, **overrides: object) -> int:
    """Longest sequence whose estimate (device total) fits `budget_bytes`: Llama-3.1-8B QLoRA as in the rows."""
    from core.calc import MemoryInputs, estimate_training, resolve_architecture

    arch = resolve_architecture("llama-3.1-8b")
    config: dict[str, object] = dict(method="qlora", batch_size=1, gradient_accumulation=1, lora_r=32,
                                     lora_targets=("all-linear",), optimizer="adamw_8bit",
                                     gradient_checkpointing=True, lora_dropout=0.0)
    config.update(overrides)

    def fits(length: int) -> bool:
        est = estimate_training(MemoryInputs(arch=arch, max_length=length, **config))  # type: ignore[arg-type]
        return est.total_bytes <= budget_bytes

    lo, hi = 0, 1_000_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def capacity_markdown() -> str:
    """The HF+FA2 baselines quoted in the Unsloth rows' notes (not scored: capacities, an older stack)."""
    import re

    from benchmarks.calc_devset import load_rows

    variants = (("hf", {"loss_impl": "hf"}), ("fp32-logits", {"loss_impl": "fp32-logits"}),
                ("fp32-logits + prepare upcast", {"loss_impl": "fp32-logits", "upcast_non_quantized": True}))
    out = ["| VRAM | HF+FA2 measured max tokens | " + " | ".join(f"ours: {name}" for name, _ in variants) + " |",
           "|---|---|" + "---|" * len(variants)]
    for row in load_rows():
        if not row["id"].startswith("unsloth-L31-8B"):
            continue
        found = re.search(r"HF\+FA2 baseline max=(\w+)", row["notes"])
        budget = int(re.match(r"(\d+)", row["gpu"]).group(1))  # type: ignore[union-attr]
        measured = found.group(1) if found else "?"
        cells = []
        for _, overrides in variants:
            ours = max_context(budget * 2**30, **overrides)
            ratio = f" ({ours / int(measured) - 1:+.0%})" if measured.isdigit() else ""
            cells.append(f"{ours:,}{ratio}")
        out.append(f"| {budget} GB | {measured} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(ROOT)}")
    parser.add_argument("--rows", action="store_true", help="print every scored row")
    parser.add_argument("--fit", action="store_true", help="grid-fit FRAGMENTATION and ACTIVATION_SCALE on training rows")
    args = parser.parse_args(argv)
    mapped, unmapped = mapped_rows()
    if args.fit:
        frag, scale, med, p90 = fit(mapped)
        print(f"best fit on training rows: FRAGMENTATION={frag:.2f} ACTIVATION_SCALE={scale:.2f} "
              f"(median |err| {med:.1%}, p90 {p90:.1%})")
    scored = score(mapped)
    if args.rows:
        for r in scored:
            acc = "" if r["accel_err"] is None else f"  accel {float(r['accel_err']):+7.1%}"  # type: ignore[arg-type]
            print(f"{r['group']:9} {r['id']:48} measured {float(r['measured']) / 2**30:8.2f} GiB  "  # type: ignore[arg-type]
                  f"ours {float(r['ours']) / 2**30:8.2f}  {float(r['ours_err']):+7.1%}{acc}")  # type: ignore[arg-type]
    print(markdown(scored, unmapped, with_rows=False))
    print()
    for (source, group), errs in sorted(by_source(scored).items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"  {group:9} {source[:58]:58} {len(errs):3} rows  median {statistics.median(errs):6.1%}  "
              f"p90 {percentile(errs, 0.9):6.1%}  max {max(errs):6.1%}")
    print(f"\n{len(scored)} rows scored, {len(unmapped)} not scored")
    if args.write:
        text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"{START}\n{END}\n"
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        DOC.parent.mkdir(parents=True, exist_ok=True)
        capacity = ("\n\nLong-context check, not scored (Llama-3.1-8B QLoRA r=32 all-linear, batch 1, checkpointing, "
                    "8-bit AdamW; budget read as GiB): the longest sequence our estimate fits in each VRAM budget "
                    "vs the HF+FA2 baseline quoted in the Unsloth rows' notes.\n\n" + capacity_markdown())
        DOC.write_text(f"{head}{START}\n{markdown(scored, unmapped)}{capacity}\n{END}{tail}", encoding="utf-8")
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
