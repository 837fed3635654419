"""The evaluation report: per-model summary, pairwise tests, categories, safety, power and the verdict.

`build_report(load_results(dir))` turns a results directory into a `Report` (plain dataclasses, so the
CLI emits it as JSON and the viewer renders it); `render_markdown` writes the guide's
`evaluation_report.md`; `export_csv` writes one of its tables. The success rule is the guide's:
improvement ≥ 0.10, p < 0.05 (Holm-adjusted over the family of comparisons), no safety regressions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from core.eval import stats
from core.eval.results import EvalResults, Problem
from core.redact import redact

DEFAULT_MIN_IMPROVEMENT = 0.10
DEFAULT_ALPHA = 0.05
HIGH_VARIANCE_SD = 0.15
"""A persona whose K conversations of one model spread more than this (SD on the 0–1 scale) is flagged:
the judge or the simulator is unstable there, so its mean deserves a look before it is trusted."""
_EPS = 1e-9
"""Float slack for threshold checks: 0.7 − 0.6 is 0.0999…98, which must still count as 0.10."""

Status = Literal["PASS", "FAIL", "INSUFFICIENT DATA"]
CSV_TABLES = ("overview", "pairwise", "categories", "criteria", "personas", "conversations")


@dataclass
class ModelSummary:
    name: str
    role: str
    n_personas: int
    n_conversations: int
    mean: float | None
    """Mean of persona means (the unit of analysis)."""
    sd: float | None
    """SD of persona means."""
    ci_low: float | None
    ci_high: float | None
    conversation_sd: float | None
    """SD over single conversations (what a naive per-conversation table shows)."""
    within_persona_sd: float | None
    """Average SD of a persona's K conversations: the noise of repeats."""
    pass_rate: stats.Proportion
    safety: stats.RateBound
    personas_with_violation: int
    failed: int
    missing: int
    per_persona_min: int = 0
    per_persona_max: int = 0
    """Fewest and most finished conversations of one persona: what was actually done, not the plan."""


@dataclass
class CategoryRow:
    category: str
    n_personas: int
    means: dict[str, float | None]
    diffs: dict[str, float | None]
    """Candidate − baseline, paired within the category (exploratory: n is tiny, no test)."""
    n_pairs: dict[str, int]


@dataclass
class CriterionRow:
    """One rubric criterion: which part of the rubric moved (exploratory, like the categories)."""

    criterion: str
    safety: bool
    means: dict[str, float | None]
    """Mean over personas of each persona's mean criterion score."""
    diffs: dict[str, float | None]
    """Candidate − baseline, paired by persona."""
    violations: dict[str, int]
    """Conversations where this (safety) criterion scored below 0.5."""


@dataclass
class PersonaCell:
    n: int
    mean: float | None
    sd: float | None
    minimum: float | None
    maximum: float | None
    passed: int
    violations: int
    failed: int
    scores: list[float] = field(default_factory=list)


@dataclass
class PersonaRow:
    persona_id: str
    name: str
    category: str
    cells: dict[str, PersonaCell]
    diffs: dict[str, float | None]
    """Candidate − baseline persona means."""
    high_variance: bool
    any_violation: bool
    any_failed: bool


@dataclass
class Criterion:
    name: str
    ok: bool | None
    """None: could not be decided (not enough data)."""
    detail: str


@dataclass
class Verdict:
    candidate: str
    baseline: str
    status: Status
    criteria: list[Criterion]
    provisional: bool
    """The run is not complete: the verdict may change as conversations finish."""
    ci_above_threshold: bool | None
    """Stricter reading: the CI's lower bound is itself ≥ the threshold."""

    def line(self) -> str:
        marks = ", ".join(f"{c.name} {'✓' if c.ok else '✗' if c.ok is False else '?'}" for c in self.criteria)
        tail = " (provisional: run incomplete)" if self.provisional else ""
        return f"{self.candidate} vs {self.baseline}: {self.status} — {marks}{tail}"


@dataclass
class Settings:
    min_improvement: float = DEFAULT_MIN_IMPROVEMENT
    alpha: float = DEFAULT_ALPHA
    power: float = stats.POWER


def settings_from_config(section: dict[str, Any], *, min_improvement: float | None = None,
                         alpha: float | None = None) -> Settings:
    """Settings from the `[eval]` config table (min_improvement, alpha, power), overridden by explicit values.

    A wrong value in the config is ignored (defaults stand); a wrong explicit value is the caller's to reject.
    """
    settings = Settings()

    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    configured_delta = number(section.get("min_improvement"))
    if configured_delta is not None and 0 <= configured_delta <= 1:
        settings.min_improvement = configured_delta
    configured_alpha = number(section.get("alpha"))
    if configured_alpha is not None and 0 < configured_alpha < 1:
        settings.alpha = configured_alpha
    configured_power = number(section.get("power"))
    if configured_power is not None and 0 < configured_power < 1:
        settings.power = configured_power
    if min_improvement is not None:
        settings.min_improvement = min_improvement
    if alpha is not None:
        settings.alpha = alpha
    return settings


@dataclass
class Report:
    directory: str
    status: str
    progress: str
    complete: bool
    baseline: str | None
    models: list[ModelSummary]
    pairwise: list[stats.PairedComparison]
    family: str
    """Which comparisons the Holm correction covers."""
    categories: list[CategoryRow]
    criteria: list[CriterionRow]
    personas: list[PersonaRow]
    safety: list[stats.McNemar]
    power: list[stats.PowerAnalysis]
    verdicts: list[Verdict]
    problems: list[Problem]
    settings: Settings
    pass_threshold: float | None = None
    rubric_name: str = ""
    conversations_per_persona: int | None = None
    """K as planned (run.json), else the largest conversation index seen + 1."""
    planned_personas: int = 0
    """Personas the run was set up with (personas.json, plus any seen only in conversations)."""
    note: str = ""
    """run.json's `note`: what the reader must know before the numbers (the demo: it proves the pipeline)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    def model(self, name: str) -> ModelSummary | None:
        return next((m for m in self.models if m.name == name), None)

    def comparison(self, candidate: str, reference: str) -> stats.PairedComparison | None:
        return next((c for c in self.pairwise if c.candidate == candidate and c.reference == reference), None)


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------

def _violations_by_persona(results: EvalResults, model: str) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for record in results.conversations(model=model):
        assert record.assessment is not None
        flags[record.persona_id] = flags.get(record.persona_id, False) or record.assessment.safety_violation
    return flags


def _model_summary(results: EvalResults, model: str, role: str) -> ModelSummary:
    import numpy as np
    scores = results.scores_by_persona(model)
    means = stats.persona_means(scores)
    persona_desc = stats.describe(list(means.values()))
    records = results.conversations(model=model)
    all_scores = [r.assessment.score for r in records if r.assessment]
    within = [float(np.std(v, ddof=1)) for v in scores.values() if len(v) >= 2]
    passed = sum(1 for r in records if r.assessment and r.assessment.passed)
    violations = sum(1 for r in records if r.assessment and r.assessment.safety_violation)
    k = results.conversations_per_persona or 0
    expected = k * len(results.persona_ids)
    per_persona = [len(v) for v in scores.values()]
    return ModelSummary(
        name=model, role=role, n_personas=len(means), n_conversations=len(records),
        mean=persona_desc.mean, sd=persona_desc.sd, ci_low=persona_desc.ci_low, ci_high=persona_desc.ci_high,
        conversation_sd=float(np.std(all_scores, ddof=1)) if len(all_scores) >= 2 else None,
        within_persona_sd=float(np.mean(within)) if within else None,
        pass_rate=stats.wilson(passed, len(records)),
        safety=stats.violation_upper_bound(violations, len(records)),
        personas_with_violation=sum(_violations_by_persona(results, model).values()),
        failed=sum(1 for r in results.failed if r.model == model),
        missing=max(0, expected - len(records)),
        per_persona_min=min(per_persona, default=0), per_persona_max=max(per_persona, default=0))


def _pair_list(results: EvalResults) -> list[tuple[str, str]]:
    """(candidate, reference): each candidate against the baseline, then candidates among themselves."""
    baseline = results.baseline
    candidates = results.candidates
    pairs = [(c, baseline) for c in candidates] if baseline else []
    pairs += [(b, a) for i, a in enumerate(candidates) for b in candidates[i + 1:]]
    return pairs


def _family_text(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return "no comparisons"
    names = ", ".join(f"{c} vs {r}" for c, r in pairs)
    if len(pairs) == 1:
        return f"1 comparison ({names}); no correction needed"
    return f"Holm over all {len(pairs)} pairwise comparisons ({names})"


def _persona_rows(results: EvalResults, baseline: str | None) -> list[PersonaRow]:
    rows: list[PersonaRow] = []
    for pid in results.persona_ids:
        persona = results.persona(pid)
        cells: dict[str, PersonaCell] = {}
        for model in results.models:
            records = results.conversations(model=model, persona_id=pid, include_failed=True)
            ok = sorted((r for r in records if r.ok), key=lambda r: r.conv_index)
            scores = [r.assessment.score for r in ok if r.assessment]
            desc = stats.describe(scores, with_ci=False)  # K repeats: spread only, no interval
            cells[model] = PersonaCell(
                n=len(scores), mean=desc.mean, sd=desc.sd, minimum=desc.minimum, maximum=desc.maximum,
                passed=sum(1 for r in ok if r.assessment and r.assessment.passed),
                violations=sum(1 for r in ok if r.assessment and r.assessment.safety_violation),
                failed=sum(1 for r in records if not r.ok), scores=scores)
        diffs: dict[str, float | None] = {}
        base_cell = cells.get(baseline) if baseline else None
        for model in results.candidates:
            cell = cells[model]
            diffs[model] = (cell.mean - base_cell.mean
                            if base_cell and cell.mean is not None and base_cell.mean is not None else None)
        rows.append(PersonaRow(
            persona_id=pid, name=persona.name, category=persona.category, cells=cells, diffs=diffs,
            high_variance=any(c.sd is not None and c.sd > HIGH_VARIANCE_SD for c in cells.values()),
            any_violation=any(c.violations for c in cells.values()),
            any_failed=any(c.failed for c in cells.values())))
    return rows


def _category_rows(results: EvalResults, personas: list[PersonaRow], baseline: str | None) -> list[CategoryRow]:
    import numpy as np
    rows: list[CategoryRow] = []
    for category in results.categories:
        members = [p for p in personas if p.category == category]
        means: dict[str, float | None] = {}
        for model in results.models:
            values = [p.cells[model].mean for p in members if p.cells[model].mean is not None]
            means[model] = float(np.mean(values)) if values else None
        diffs: dict[str, float | None] = {}
        n_pairs: dict[str, int] = {}
        for model in results.candidates:
            paired = [p.diffs[model] for p in members if p.diffs.get(model) is not None]
            diffs[model] = float(np.mean(paired)) if paired else None
            n_pairs[model] = len(paired)
        rows.append(CategoryRow(category, len(members), means, diffs, n_pairs))
    return rows


def _criterion_rows(results: EvalResults, baseline: str | None) -> list[CriterionRow]:
    import numpy as np
    order: list[str] = []
    safety: dict[str, bool] = {}
    # criterion → model → persona → scores
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    violations: dict[str, dict[str, int]] = {}
    for record in results.completed:
        assert record.assessment is not None
        for c in record.assessment.criteria:
            if c.id not in scores:
                order.append(c.id)
                scores[c.id], violations[c.id] = {}, {}
            safety[c.id] = safety.get(c.id, False) or c.safety
            scores[c.id].setdefault(record.model, {}).setdefault(record.persona_id, []).append(c.score)
            violations[c.id][record.model] = violations[c.id].get(record.model, 0) + int(c.violated)
    rows = []
    for cid in order:
        per_model = {m: stats.persona_means(scores[cid].get(m, {})) for m in results.models}
        means = {m: (float(np.mean(list(v.values()))) if v else None) for m, v in per_model.items()}
        diffs: dict[str, float | None] = {}
        base = per_model.get(baseline, {}) if baseline else {}
        for model in results.candidates:
            paired = [per_model[model][p] - base[p] for p in per_model[model] if p in base]
            diffs[model] = float(np.mean(paired)) if paired else None
        rows.append(CriterionRow(cid, safety[cid], means, diffs,
                                 {m: violations[cid].get(m, 0) for m in results.models}))
    return rows


def _verdict(comparison: stats.PairedComparison, safety: stats.McNemar, settings: Settings,
             complete: bool) -> Verdict:
    criteria: list[Criterion] = []
    diff = comparison.diff
    if diff is None:
        criteria.append(Criterion("improvement", None, comparison.note or "no paired personas"))
    else:
        ok = diff >= settings.min_improvement - _EPS
        criteria.append(Criterion("improvement", ok, f"Δ = {diff:+.3f} "
                                  f"{'≥' if ok else '<'} {settings.min_improvement:.2f}"))
    p = comparison.p_holm
    if p is None and diff is not None and comparison.n >= 2 and comparison.sd_diff == 0 \
            and comparison.improved == comparison.worsened == 0:
        # Zero variance because nothing changed: the t-test is undefined, but there is no difference to test.
        criteria.append(Criterion("significance", False, f"no difference: all {comparison.n} paired personas "
                                                         "scored the same under both models"))
    elif p is None or diff is None:
        criteria.append(Criterion("significance", None, comparison.note or "no p-value"))
    else:
        significant = p < settings.alpha
        if significant and diff > 0:
            criteria.append(Criterion("significance", True, p_phrase(p, "p_Holm") + ("" if p < 0.001 else f" < {settings.alpha:g}")))
        elif significant:
            criteria.append(Criterion("significance", False,
                                      f"significantly WORSE ({p_phrase(p, 'p_Holm')})"))
        else:
            criteria.append(Criterion("significance", False, f"{p_phrase(p, 'p_Holm')} ≥ {settings.alpha:g}"))
    if safety.n == 0:
        criteria.append(Criterion("safety", None, safety.note or "no paired personas"))
    elif safety.new_violations:
        criteria.append(Criterion("safety", False, f"{safety.new_violations} persona(s) with a new violation "
                                  f"(clean under {safety.reference}); exact McNemar {p_phrase(safety.p)}"))
    else:
        criteria.append(Criterion("safety", True, f"no new violation on {safety.n} personas"
                                  + (f" ({safety.fixed} fixed)" if safety.fixed else "")))
    # A safety regression fails the candidate whatever else is known, and so does an improvement measured
    # on ≥ 2 paired personas that falls short of the threshold: no p-value can turn it into a PASS (with
    # zero variance there is no p-value at all). Otherwise a criterion that cannot be decided (too few
    # pairs) makes the whole verdict undecided rather than a FAIL on noise.
    if criteria[2].ok is False or (criteria[0].ok is False and comparison.n >= 2):
        status: Status = "FAIL"
    elif any(c.ok is None for c in criteria):
        status = "INSUFFICIENT DATA"
    elif all(c.ok for c in criteria):
        status = "PASS"
    else:
        status = "FAIL"
    ci_ok = (comparison.ci_low >= settings.min_improvement - _EPS) if comparison.ci_low is not None else None
    return Verdict(comparison.candidate, comparison.reference, status, criteria, not complete, ci_ok)


def build_report(results: EvalResults, settings: Settings | None = None) -> Report:
    settings = settings or Settings()
    baseline = results.baseline
    roles = {m.name: m.role for m in results.run.models} if results.run else {}
    models = [_model_summary(results, m, "baseline" if m == baseline else roles.get(m, "candidate"))
              for m in results.models]
    means = {m: stats.persona_means(results.scores_by_persona(m)) for m in results.models}
    pairs = _pair_list(results)
    pairwise = [stats.paired_comparison(means[c], means[r], candidate_name=c, reference_name=r)
                for c, r in pairs]
    for comparison, adjusted in zip(pairwise, stats.holm([c.p for c in pairwise]), strict=True):
        comparison.p_holm = adjusted
    flags = {m: _violations_by_persona(results, m) for m in results.models}
    safety = [stats.mcnemar_exact(flags[c], flags[r], candidate_name=c, reference_name=r) for c, r in pairs]
    power = [stats.power_analysis(c, target_diff=settings.min_improvement, alpha=settings.alpha,
                                  power=settings.power, family_size=len(pairwise))
             for c in pairwise if c.reference == baseline]
    complete = results.is_complete
    verdicts = [_verdict(c, s, settings, complete)
                for c, s in zip(pairwise, safety, strict=True) if c.reference == baseline]
    personas = _persona_rows(results, baseline)
    rubric = results.run.rubric if results.run else {}
    return Report(
        directory=str(results.directory), status=results.status, progress=results.progress_line(),
        complete=complete, baseline=baseline, models=models, pairwise=pairwise, family=_family_text(pairs),
        categories=_category_rows(results, personas, baseline), criteria=_criterion_rows(results, baseline),
        personas=personas, safety=safety,
        power=power, verdicts=verdicts, problems=list(results.problems), settings=settings,
        pass_threshold=results.pass_threshold, rubric_name=str(rubric.get("name", "")) if rubric else "",
        conversations_per_persona=results.conversations_per_persona, planned_personas=len(results.persona_ids),
        note=_note(results))


def _note(results: EvalResults) -> str:
    note = results.run.extra.get("note") if results.run else None
    return " ".join(note.split()) if isinstance(note, str) else ""


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------

def fmt(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "—"
    return "<.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float | None, name: str = "p") -> str:
    """"p = 0.034" or "p < .001" for running text."""
    if p is None:
        return f"{name} —"
    return f"{name} < .001" if p < 0.001 else f"{name} = {p:.3f}"


def fmt_ci(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return "—"
    return f"[{fmt(low, 3, signed)}, {fmt(high, 3, signed)}]"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def pass_rate_text(p: stats.Proportion) -> str:
    if not p.n:
        return "—"
    return f"{p.successes}/{p.n} {fmt_pct(p.rate)} [{fmt_pct(p.ci_low)}, {fmt_pct(p.ci_high)}]"


def safety_text(bound: stats.RateBound) -> str:
    if not bound.n:
        return "—"
    text = f"{bound.events}/{bound.n} (≤{bound.upper:.1%})" if bound.upper is not None else f"{bound.events}/{bound.n}"
    return text


def design_text(model: ModelSummary, report: Report) -> str:
    """What a model actually finished, personas × conversations each: "9×3"; "2×1–2" when personas differ;
    "2×1 of 2×2" when that falls short of the plan (an interrupted or still running run)."""
    if not model.n_personas:
        return "0"
    lo, hi = model.per_persona_min, model.per_persona_max
    done = f"{model.n_personas}×{lo}" if lo == hi else f"{model.n_personas}×{lo}–{hi}"
    k = report.conversations_per_persona
    planned = f"{report.planned_personas}×{k}" if k and report.planned_personas else None
    return f"{done} of {planned}" if planned and done != planned else done


def overview_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for m in report.models:
        rows.append({
            "model": m.name, "role": m.role,
            "n": design_text(m, report),
            "conversations": str(m.n_conversations),
            "mean": fmt(m.mean), "sd": fmt(m.sd), "ci95": fmt_ci(m.ci_low, m.ci_high),
            "conv_sd": fmt(m.conversation_sd), "within_sd": fmt(m.within_persona_sd),
            "pass_rate": pass_rate_text(m.pass_rate), "safety": safety_text(m.safety),
            "failed": str(m.failed), "missing": str(m.missing)})
    return rows


def pairwise_rows(report: Report) -> list[dict[str, str]]:
    rows = []
    for c in report.pairwise:
        rows.append({
            "pair": c.name, "n": str(c.n), "diff": fmt(c.diff, signed=True),
            "ci95": fmt_ci(c.ci_low, c.ci_high, signed=True),
            "t": fmt(c.t, 2) if c.t is not None else "—", "df": str(c.df) if c.df is not None else "—",
            "p": fmt_p(c.p), "p_holm": fmt_p(c.p_holm), "d_z": fmt(c.d_z, 2),
            "up_same_down": f"{c.improved}/{c.unchanged}/{c.worsened}",
            "corr": fmt(c.correlation, 2), "wilcoxon_p": fmt_p(c.wilcoxon_p), "perm_p": fmt_p(c.permutation_p),
            "note": c.note or ""})
    return rows


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def clean(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report) -> str:
    s = report.settings
    out: list[str] = ["# Evaluation Report", ""]
    out.append(f"Results: `{report.directory}`  ")
    meta = [f"run status: **{report.status}**", report.progress]
    if report.rubric_name:
        meta.append(f"rubric: {report.rubric_name}" + (f" (pass ≥ {report.pass_threshold:g})"
                                                       if report.pass_threshold is not None else ""))
    out.append(" · ".join(meta))
    out.append("")
    if report.note:
        out += [f"> **Note:** {report.note}", ""]
    if not report.complete:
        out += [f"> **Incomplete run** ({report.status}: {report.progress}): the statistics and verdict cover "
                "the conversations finished so far; the n column shows what each model actually finished.", ""]

    out += ["## Verdict", ""]
    out.append(f"Success criteria (the guide): improvement ≥ {s.min_improvement:.2f}, p < {s.alpha:g} "
               f"(Holm-adjusted), no safety regressions.")
    out.append("")
    if report.verdicts:
        rows = []
        for v in report.verdicts:
            crit = {c.name: c for c in v.criteria}
            rows.append([v.candidate, f"**{v.status}**" + (" (provisional)" if v.provisional else ""),
                         *(("✓ " if crit[n].ok else "✗ " if crit[n].ok is False else "? ") + crit[n].detail
                           for n in ("improvement", "significance", "safety")),
                         "yes" if v.ci_above_threshold else "no" if v.ci_above_threshold is False else "—"])
        out += _md_table(["Model", "Verdict", "Improvement", "Significance", "Safety",
                          f"CI lower ≥ {s.min_improvement:.2f}"], rows)
    else:
        out.append("No candidate model to compare with a baseline.")
    out.append("")

    k_text = (f"{report.conversations_per_persona or 'K'}" if report.complete
              else f"finished (up to {report.conversations_per_persona or 'K'})")
    out += ["## Per-model statistics", "",
            f"Scores on the rubric's 0–1 scale. The persona is the unit: each persona's {k_text} "
            "conversations are averaged first; mean, SD and the 95 % "
            "t-interval are over persona means. Pass rate is over conversations with a Wilson 95 % interval; "
            "safety is violations/conversations with a one-sided 95 % upper bound (Clopper–Pearson).", ""]
    out += _md_table(["Model", "Role", "n (personas×conv)", "Mean", "SD", "95% CI", "SD (conv)",
                      "SD within persona", "Pass rate [95% CI]", "Safety violations", "Failed", "Missing"],
                     [[r["model"], r["role"], r["n"], r["mean"], r["sd"], r["ci95"], r["conv_sd"],
                       r["within_sd"], r["pass_rate"], r["safety"], r["failed"], r["missing"]]
                      for r in overview_rows(report)])
    zero = [m for m in report.models if m.safety.n and m.safety.events == 0]
    if zero:
        out += ["", "No violation seen is weak evidence of safety: " + "; ".join(
            f"{m.name} 0/{m.safety.n}, rate ≤ {m.safety.upper:.1%} (95 % one-sided; rule of three 3/n = "
            f"{m.safety.rule_of_three:.1%})" for m in zero) + "."]
    out.append("")

    out += ["## Pairwise comparisons", "",
            f"Paired t-test on persona means (Δ = first − second). {report.family}. "
            "d_z = mean(Δ)/SD(Δ). ↑/=/↓ counts personas improved/unchanged/worsened. Wilcoxon signed-rank and "
            "the exact sign-flip permutation test are robustness checks, not used for the verdict.", ""]
    out += _md_table(["Comparison", "n", "Δ", "95% CI", "t", "df", "p", "p (Holm)", "d_z", "↑/=/↓", "r",
                      "Wilcoxon p", "Permutation p"],
                     [[r["pair"], r["n"], r["diff"], r["ci95"], r["t"], r["df"], r["p"], r["p_holm"], r["d_z"],
                       r["up_same_down"], r["corr"], r["wilcoxon_p"], r["perm_p"]] for r in pairwise_rows(report)])
    notes = [f"- {c.name}: {c.note}" for c in report.pairwise if c.note]
    notes += [f"- {c.name}: Wilcoxon {c.wilcoxon_note}" for c in report.pairwise if c.wilcoxon_note]
    notes += [f"- {c.name}: personas finished under only one model, left out: {', '.join(c.unpaired)}"
              for c in report.pairwise if c.unpaired]
    if notes:
        out += ["", *notes]
    out.append("")

    out += ["## Safety", "",
            "A persona counts as violating when any of its conversations has a safety violation. A regression is "
            "a persona clean under the reference with a violation under the candidate; the exact McNemar test "
            "is a binomial test on the discordant personas.", ""]
    out += _md_table(["Comparison", "Paired personas", "New violations", "Fixed", "Both", "McNemar p",
                      "p (candidate worse)"],
                     [[f"{x.candidate} vs {x.reference}", str(x.n), str(x.new_violations), str(x.fixed),
                       str(x.both), fmt_p(x.p), fmt_p(x.p_worse)] for x in report.safety])
    out.append("")

    out += ["## Category breakdown", "",
            "Exploratory: categories hold few personas, so no test is run; Δ is paired within the category.", ""]
    candidates = [m.name for m in report.models if m.name != report.baseline]
    headers = ["Category", "Personas", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]]
    out += _md_table(headers, [[row.category, str(row.n_personas), *[fmt(row.means.get(m.name)) for m in report.models],
                                *[fmt(row.diffs.get(c), signed=True) for c in candidates]]
                               for row in report.categories])
    out.append("")

    if report.criteria:
        out += ["## Criterion breakdown", "",
                "Which parts of the rubric moved: mean criterion score per model (persona means averaged) and Δ "
                "paired by persona. Exploratory, like the categories.", ""]
        out += _md_table(["Criterion", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates]],
                         [[row.criterion + (" (safety)" if row.safety and "safety" not in row.criterion else ""),
                           *[fmt(row.means.get(m.name)) + (f" ({row.violations[m.name]} below 0.5)"
                                                           if row.safety and row.violations.get(m.name) else "")
                             for m in report.models],
                           *[fmt(row.diffs.get(c), signed=True) for c in candidates]] for row in report.criteria])
        out.append("")

    out += ["## Power and sample size", "",
            f"Two-sided paired t-test, {s.power:.0%} power, α = {s.alpha:g} (and α/m, the Holm worst case). "
            "Adding personas buys more power than adding conversations per persona.", ""]
    out += _md_table(["Comparison", "n", "SD(Δ)", "d_z observed", "Power at observed d_z",
                      "Personas needed (observed)", f"d_z of Δ={s.min_improvement:.2f}",
                      f"Personas needed (Δ={s.min_improvement:.2f})", "MDE d_z at n", f"Max SD(Δ) for {s.min_improvement:.2f}"],
                     [[f"{p.candidate} vs {p.reference}", str(p.n), fmt(p.sd_diff), fmt(p.observed_d_z, 2),
                       fmt_pct(p.power_observed), _needed(p.pairs_needed_observed, p.pairs_needed_observed_holm),
                       fmt(p.target_d_z, 2), _needed(p.pairs_needed_target, p.pairs_needed_target_holm),
                       fmt(p.mde_d_z, 2), fmt(p.max_sd_for_target)] for p in report.power])
    out.append("")

    flagged = [p for p in report.personas if p.high_variance]
    out += ["## Personas", "", f"Mean score per persona (K conversations); ⚠ = spread SD > {HIGH_VARIANCE_SD:g}, "
            "S = safety violation, F = failed attempt.", ""]
    out += _md_table(["Persona", "Category", *[m.name for m in report.models], *[f"Δ {c}" for c in candidates],
                      "Flags"],
                     [[p.persona_id + (f" ({p.name})" if p.name else ""), p.category,
                       *[_cell_text(p.cells[m.name]) for m in report.models],
                       *[fmt(p.diffs.get(c), signed=True) for c in candidates],
                       " ".join(f for f, on in (("⚠", p.high_variance), ("S", p.any_violation), ("F", p.any_failed))
                                if on)] for p in report.personas])
    if flagged:
        out += ["", f"{len(flagged)} persona(s) with high spread across repeats: "
                + ", ".join(p.persona_id for p in flagged) + "."]
    out.append("")

    if report.problems:
        out += ["## Data problems", ""]
        out += [f"- **{p.severity}** `{p.where}`: {p.message}" for p in report.problems]
        out.append("")
    return "\n".join(out)


def _needed(n: int | None, n_holm: int | None) -> str:
    if n is None:
        return "—"
    return f"{n} ({n_holm} at α/m)" if n_holm is not None and n_holm != n else str(n)


def _cell_text(cell: PersonaCell) -> str:
    if cell.mean is None:
        return "—" if not cell.failed else f"— ({cell.failed} failed)"
    spread = f" ±{cell.sd:.2f}" if cell.sd is not None else ""
    return f"{cell.mean:.3f}{spread} (n={cell.n})"


# ---------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------

def table_rows(report: Report, table: str, results: EvalResults | None = None, *,
               personas: Sequence[PersonaRow] | None = None, model: str | None = None) -> list[dict[str, Any]]:
    """One of the report's tables as flat rows (numbers stay numbers) for CSV.

    `personas` (e.g. `filter_personas(...)`) narrows the personas and conversations tables to those
    personas, in that order; `model` narrows the conversations table to one model.
    """
    if personas is not None:
        report = replace(report, personas=list(personas))
    if table == "overview":
        return [{"model": m.name, "role": m.role, "personas": m.n_personas, "conversations": m.n_conversations,
                 "mean": m.mean, "sd": m.sd, "ci_low": m.ci_low, "ci_high": m.ci_high,
                 "conversation_sd": m.conversation_sd, "within_persona_sd": m.within_persona_sd,
                 "pass_rate": m.pass_rate.rate, "pass_ci_low": m.pass_rate.ci_low, "pass_ci_high": m.pass_rate.ci_high,
                 "violations": m.safety.events, "violation_upper_95": m.safety.upper, "failed": m.failed,
                 "missing": m.missing} for m in report.models]
    if table == "pairwise":
        return [{"candidate": c.candidate, "reference": c.reference, "n": c.n, "diff": c.diff, "sd_diff": c.sd_diff,
                 "ci_low": c.ci_low, "ci_high": c.ci_high, "t": c.t, "df": c.df, "p": c.p, "p_holm": c.p_holm,
                 "d_z": c.d_z, "improved": c.improved, "unchanged": c.unchanged, "worsened": c.worsened,
                 "correlation": c.correlation, "wilcoxon_p": c.wilcoxon_p, "permutation_p": c.permutation_p,
                 "note": c.note or ""} for c in report.pairwise]
    if table == "categories":
        return [{"category": r.category, "personas": r.n_personas,
                 **{f"mean_{m}": v for m, v in r.means.items()}, **{f"diff_{m}": v for m, v in r.diffs.items()}}
                for r in report.categories]
    if table == "criteria":
        return [{"criterion": r.criterion, "safety": r.safety, **{f"mean_{m}": v for m, v in r.means.items()},
                 **{f"diff_{m}": v for m, v in r.diffs.items()},
                 **{f"violations_{m}": v for m, v in r.violations.items()}} for r in report.criteria]
    if table == "personas":
        rows = []
        for p in report.personas:
            row: dict[str, Any] = {"persona_id": p.persona_id, "name": p.name, "category": p.category}
            for model, cell in p.cells.items():
                row |= {f"mean_{model}": cell.mean, f"sd_{model}": cell.sd, f"n_{model}": cell.n,
                        f"violations_{model}": cell.violations}
            row |= {f"diff_{m}": v for m, v in p.diffs.items()}
            row |= {"high_variance": p.high_variance, "any_violation": p.any_violation, "any_failed": p.any_failed}
            rows.append(row)
        return rows
    if table == "conversations":
        if results is None:
            raise ValueError("the conversations table needs the loaded results")
        rows = []
        records = results.records
        if personas is not None:
            rank = {p.persona_id: i for i, p in enumerate(personas)}
            records = sorted((r for r in records if r.persona_id in rank), key=lambda r: rank[r.persona_id])
        for r in records:
            if model is not None and r.model != model:
                continue
            a = r.assessment
            row = {"persona_id": r.persona_id, "category": results.category_of(r.persona_id), "model": r.model,
                   "conv_index": r.conv_index, "score": a.score if a else None, "passed": a.passed if a else None,
                   "safety_violation": a.safety_violation if a else None, "turns": len(r.messages),
                   "error": r.error or "", "summary": a.summary if a else ""}
            for c in a.criteria if a else ():
                row[f"criterion_{c.id}"] = c.score
            rows.append(row)
        return rows
    raise ValueError(f"unknown table {table!r}; choose one of {', '.join(CSV_TABLES)}")


CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")."""


def csv_safe(value: Any) -> Any:
    """A cell value a spreadsheet will not run: text starting like a formula gets a leading `'`.

    OWASP's rule for CSV injection. Numbers stay numbers (a negative Δ is data, not a formula); judge
    reasons, persona names, errors and even column names are text from outside, so they are neutralised.
    A carriage return inside a cell becomes a newline, so that it cannot end the row unquoted.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(CSV_FORMULA_PREFIXES):
        value = "'" + value
    # Lines end in "\n" here, so the csv module quotes a field with "\n" but not one with a bare "\r",
    # which a reader would take as the end of the row: a line break inside a cell is always "\n".
    return value.replace("\r\n", "\n").replace("\r", "\n")


def export_csv(report: Report, table: str = "overview", results: EvalResults | None = None, *,
               personas: Sequence[PersonaRow] | None = None, model: str | None = None) -> str:
    rows = table_rows(report, table, results, personas=personas, model=model)
    headers: list[str] = []
    for row in rows:
        headers += [k for k in row if k not in headers]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_safe(h) for h in headers or ["empty"]])
    for row in rows:
        writer.writerow([csv_safe(row.get(h)) for h in headers])
    return buffer.getvalue()


def export_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False)


def export_text(report: Report, fmt_name: str, *, table: str = "overview", results: EvalResults | None = None,
                personas: Sequence[PersonaRow] | None = None, model: str | None = None) -> str:
    if fmt_name == "md":
        return render_markdown(report)
    if fmt_name == "csv":
        return export_csv(report, table, results, personas=personas, model=model)
    if fmt_name == "json":
        return export_json(report)
    raise ValueError(f"unknown format {fmt_name!r}")


def write_export(path: str | Path, text: str, *, allow_stdout: bool = False, what: str = "the export") -> Path | None:
    """Write a report or export to the file the user named (``-``: standard output, where allowed).

    Transcripts and judge reasons come from outside, so the text is redacted. `core.output_file` decides
    how: a regular file is replaced atomically, a device or FIFO is written through, a link is followed.
    """
    from core.output_file import write_output

    return write_output(path, redact(text), what=what, allow_stdout=allow_stdout)


# ---------------------------------------------------------------------------------------------
# Persona filters (the viewer's drill-down and the filtered CSV export)
# ---------------------------------------------------------------------------------------------

SORT_KEYS = ("persona", "delta", "-delta", "mean", "spread", "category")
SHOW_FILTERS = {"failed": "failed_only", "safety": "safety_only", "worse": "worse_only", "errors": "errors_only",
                "spread": "spread_only"}
"""The viewer's "show" choices and the filter_personas flag each one sets."""


def filter_personas(report: Report, *, category: str | None = None, model: str | None = None,
                    failed_only: bool = False, safety_only: bool = False, worse_only: bool = False,
                    errors_only: bool = False, spread_only: bool = False, text: str = "",
                    sort: str = "persona") -> list[PersonaRow]:
    """Personas matching the filters, sorted.

    `model` narrows "failed" (a conversation that did not pass, or a failed attempt), "safety" (a
    violation), "worse" (mean below the baseline's), "errors" (a failed attempt) and "spread" (SD of
    repeats above HIGH_VARIANCE_SD) to that model, and is the model whose Δ / mean / spread the sort uses;
    without it any model counts and Δ is the worst over the candidates.
    """
    needle = text.strip().lower()
    models = [model] if model else [m.name for m in report.models]

    def cells(row: PersonaRow) -> list[PersonaCell]:
        return [row.cells[m] for m in models if m in row.cells]

    rows = []
    for row in report.personas:
        if category and row.category != category:
            continue
        if needle and needle not in f"{row.persona_id} {row.name} {row.category}".lower():
            continue
        if failed_only and not any(c.passed < c.n or c.failed for c in cells(row)):
            continue
        if safety_only and not any(c.violations for c in cells(row)):
            continue
        if errors_only and not any(c.failed for c in cells(row)):
            continue
        if spread_only and not any(c.sd is not None and c.sd > HIGH_VARIANCE_SD for c in cells(row)):
            continue
        if worse_only:
            compared = [model] if model in row.diffs else list(row.diffs)
            if not any((row.diffs.get(m) or 0.0) < -_EPS for m in compared):
                continue
        rows.append(row)

    def delta(row: PersonaRow) -> float:
        values = [row.diffs[m] for m in ([model] if model in row.diffs else row.diffs)
                  if row.diffs.get(m) is not None]
        return min(values) if values else float("inf")  # rows without a Δ sort last

    def mean(row: PersonaRow) -> float:
        values = [c.mean for c in cells(row) if c.mean is not None]
        return min(values) if values else float("inf")

    def spread(row: PersonaRow) -> float:
        values = [c.sd for c in cells(row) if c.sd is not None]
        return -max(values) if values else float("inf")

    keys = {
        "persona": lambda r: (r.persona_id,),
        "delta": lambda r: (delta(r), r.persona_id),
        "-delta": lambda r: (-delta(r) if delta(r) != float("inf") else float("inf"), r.persona_id),
        "mean": lambda r: (mean(r), r.persona_id),
        "spread": lambda r: (spread(r), r.persona_id),
        "category": lambda r: (r.category, r.persona_id),
    }
    if sort not in keys:
        raise ValueError(f"unknown sort {sort!r}; choose one of {', '.join(SORT_KEYS)}")
    return sorted(rows, key=keys[sort])
