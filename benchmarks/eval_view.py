"""Eval viewer: how loading, statistics and rendering scale with the size of a results directory.

Run: .venv/bin/python benchmarks/eval_view.py  (writes docs/benchmarks/eval_view.md)

Figures are ratios within one run (the machine is shared), plus absolute times for orientation.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.eval_view.fixtures import make_results  # noqa: E402

from core.eval.report import build_report, export_csv, render_markdown  # noqa: E402
from core.eval.results import load_results  # noqa: E402

TURN_TEXT = "I hear how heavy this week has been for you. " * 12
"""~550 characters per message: a realistic coaching reply."""


def build(directory: Path, personas: int, models: tuple[str, ...], k: int) -> int:
    make_results(directory, models=models, n_personas=personas, k=k)
    # Make the transcripts realistically long (8 turns of ~550 characters) by rewriting the file once.
    path = directory / "conversations.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record["messages"] = [{"role": "system", "content": "You are a supportive coach."}] + [
            {"role": role, "content": TURN_TEXT} for _ in range(8) for role in ("user", "assistant")]
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


async def viewer_open_s(directory: Path) -> float:
    from tui_tuner.app import TunerApp
    from tui_tuner.screens.eval import screen as evals

    app = TunerApp(start_area="eval", area_options={"eval": {"view": evals.ViewRequest(directory)}})
    async with app.run_test(size=(160, 48)) as pilot:
        start = time.perf_counter()
        while app.screen.report is None if hasattr(app.screen, "report") else True:
            await pilot.pause(0.01)
        await pilot.pause()
        return time.perf_counter() - start


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [(15, ("baseline", "ft-a", "ft-b"), 3), (60, ("baseline", "ft-a", "ft-b"), 3),
                 (120, ("baseline", "ft-a", "ft-b", "ft-c"), 5)]
        for personas, models, k in sizes:
            directory = Path(tmp) / f"p{personas}"
            n = build(directory, personas, models, k)
            size_mb = (directory / "conversations.jsonl").stat().st_size / 1e6
            load = timed(lambda d=directory: load_results(d))
            results = load_results(directory)
            report_s = timed(lambda r=results: build_report(r))
            report = build_report(results)
            md = timed(lambda r=report: render_markdown(r))
            csv_s = timed(lambda r=report, res=results: export_csv(r, "conversations", res))
            view = asyncio.run(viewer_open_s(directory))
            rows.append((personas, len(models), k, n, size_mb, load, report_s, md, csv_s, view))
    base = rows[0]
    out = ["# Eval viewer benchmarks", "",
           "`benchmarks/eval_view.py`: results directories with 8-turn transcripts (~550 characters per message), "
           "best of 3. Shared 2-core machine, so read the ratios; the absolute times are for orientation.", "",
           "| personas × models × K | conversations | jsonl MB | load ms | statistics ms | markdown ms | "
           "conversations CSV ms | viewer open→rendered ms | load ms per 1k conv. | load vs smallest | conv. vs smallest |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p, m, k, n, mb, load, rep, md, csv_s, view in rows:
        out.append(f"| {p}×{m}×{k} | {n} | {mb:.1f} | {load * 1e3:.0f} | {rep * 1e3:.0f} | {md * 1e3:.1f} | "
                   f"{csv_s * 1e3:.0f} | {view * 1e3:.0f} | {load * 1e6 / n:.0f} | {load / base[5]:.1f}× | "
                   f"{n / base[3]:.1f}× |")
    out += ["", "Load time grows with the number of conversations (the last two columns side by side); the "
            "statistics grow with personas × models (permutation test: up to 2^18 sign flips per pair, "
            "Monte Carlo beyond 18 personas). The viewer reloads a running evaluation only when a file's size "
            "or mtime changed (checked every 3 s), in a thread worker.", ""]
    target = ROOT / "docs" / "benchmarks" / "eval_view.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
