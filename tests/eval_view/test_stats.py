"""core.eval.stats checked against scipy and hand-computed values on fixed data."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from core.eval import stats

# 10 personas: persona means of a candidate and of the baseline (fixed, not random).
CAND = {f"p{i}": v for i, v in enumerate([0.72, 0.65, 0.81, 0.70, 0.58, 0.77, 0.69, 0.74, 0.62, 0.80])}
BASE = {f"p{i}": v for i, v in enumerate([0.60, 0.61, 0.66, 0.55, 0.60, 0.63, 0.52, 0.70, 0.57, 0.64])}


def _no_nan(obj: object) -> None:
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{f.name} is {value}"


def test_paired_comparison_matches_scipy_ttest_rel() -> None:
    c = stats.paired_comparison(CAND, BASE, candidate_name="ft", reference_name="base")
    a, b = np.array(list(CAND.values())), np.array(list(BASE.values()))
    ref = sps.ttest_rel(a, b)
    ci = ref.confidence_interval()
    d = a - b
    assert c.n == 10 and c.df == 9
    assert c.t == pytest.approx(ref.statistic) and c.p == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert c.diff == pytest.approx(d.mean())
    # by hand: d_z = mean/SD, SE = SD/sqrt(n), t = mean/SE
    sd = math.sqrt(sum((x - d.mean()) ** 2 for x in d) / 9)
    assert c.sd_diff == pytest.approx(sd) and c.d_z == pytest.approx(d.mean() / sd)
    assert c.t == pytest.approx(d.mean() / (sd / math.sqrt(10)))
    assert (c.improved, c.unchanged, c.worsened) == (9, 0, 1)
    assert c.correlation == pytest.approx(np.corrcoef(a, b)[0, 1])
    w = sps.wilcoxon(d)
    assert c.wilcoxon_p == pytest.approx(w.pvalue) and c.wilcoxon_statistic == pytest.approx(w.statistic)
    perm = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf)
    assert c.permutation_p == pytest.approx(perm.pvalue) and c.permutation_exact
    _no_nan(c)


def test_sign_flip_by_hand_on_four_pairs() -> None:
    d = [0.1, 0.2, 0.3, -0.1]
    observed = abs(np.mean(d))
    hits = sum(1 for signs in itertools.product((1, -1), repeat=4)
               if abs(np.mean([s * x for s, x in zip(signs, d, strict=True)])) >= observed - 1e-12)
    p, exact = stats.sign_flip_permutation_p(d)
    # |sum| >= 0.5: all +, or one of the two 0.1s flipped; times the mirrored signs -> 6 of 16
    assert exact and hits == 6 and p == pytest.approx(6 / 16)


def test_sign_flip_monte_carlo_beyond_exact_limit_is_seeded_and_close() -> None:
    d = np.linspace(-0.05, 0.2, stats.EXACT_PERMUTATION_MAX_N + 2)
    p1, exact = stats.sign_flip_permutation_p(d)
    p2, _ = stats.sign_flip_permutation_p(d)
    assert not exact and p1 == p2
    ref = sps.ttest_1samp(d, 0).pvalue
    assert p1 < 0.01 and ref < 0.01


def test_holm_by_hand() -> None:
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> monotone 0.06
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.2]) == [0.2]
    assert stats.holm([0.6, 0.5]) == pytest.approx([1.0, 1.0])
    # an untestable comparison stays None but still counts in m
    adjusted = stats.holm([0.01, None, 0.02])
    assert adjusted[1] is None and adjusted[0] == pytest.approx(0.03) and adjusted[2] == pytest.approx(0.04)


def test_mcnemar_exact_is_binomial_on_discordant_pairs() -> None:
    cand = {f"p{i}": i < 5 for i in range(12)}          # violations on p0..p4
    ref = {f"p{i}": i in (0, 9) for i in range(12)}      # violations on p0 and p9
    m = stats.mcnemar_exact(cand, ref, candidate_name="ft", reference_name="base")
    assert (m.new_violations, m.fixed, m.both, m.neither) == (4, 1, 1, 6)
    assert m.p == pytest.approx(sps.binomtest(4, 5, 0.5).pvalue)
    assert m.p_worse == pytest.approx(sps.binomtest(4, 5, 0.5, alternative="greater").pvalue)
    assert m.regression
    clean = stats.mcnemar_exact({"a": False}, {"a": False})
    assert clean.p == 1.0 and clean.note == "no discordant personas" and not clean.regression
    empty = stats.mcnemar_exact({"a": True}, {"b": False})
    assert empty.n == 0 and empty.p is None and "not enough data" in (empty.note or "")


def test_violation_upper_bound_clopper_pearson_and_rule_of_three() -> None:
    zero45 = stats.violation_upper_bound(0, 45)
    assert zero45.upper == pytest.approx(0.0644, abs=5e-4)          # reference A3 §6: 6.4 %
    assert zero45.rule_of_three == pytest.approx(3 / 45)
    assert stats.violation_upper_bound(0, 15).upper == pytest.approx(0.181, abs=1e-3)  # 18 %
    some = stats.violation_upper_bound(3, 45)
    ci = sps.binomtest(3, 45).proportion_ci(confidence_level=0.90, method="exact")  # one-sided 95 % = two-sided 90 %
    assert some.upper == pytest.approx(ci.high) and some.rule_of_three is None
    assert stats.violation_upper_bound(0, 45).text() == "0/45 (≤6.4% at 95%)"
    assert stats.violation_upper_bound(0, 0).upper is None


def test_wilson_matches_scipy() -> None:
    w = stats.wilson(5, 5)
    ci = sps.binomtest(5, 5).proportion_ci(method="wilson")
    assert (w.ci_low, w.ci_high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert w.ci_low == pytest.approx(0.566, abs=1e-3)  # promptfoo PR's example: 56.6–100 %
    assert stats.wilson(0, 0).rate is None


@pytest.mark.parametrize(("n", "mde", "mde_holm"), [(10, 1.00, 1.22), (15, 0.78, 0.93), (20, 0.66, 0.78),
                                                    (30, 0.53, 0.62), (45, 0.43, 0.50)])
def test_minimum_detectable_effect_table(n: int, mde: float, mde_holm: float) -> None:
    # reference A3 §7 (noncentral t, two-sided, 80 % power)
    assert stats.minimum_detectable_d_z(n) == pytest.approx(mde, abs=0.006)
    assert stats.minimum_detectable_d_z(n, alpha=0.05 / 3) == pytest.approx(mde_holm, abs=0.006)


def test_power_and_pairs_needed() -> None:
    assert [round(stats.paired_t_power(d, 15), 2) for d in (0.5, 0.8, 1.0)] == [0.44, 0.82, 0.95]
    # power by simulation-free hand formula: P(|T'| > t_crit) with T' noncentral t
    crit = sps.t.ppf(0.975, 14)
    hand = sps.nct.sf(crit, 14, 0.8 * math.sqrt(15)) + sps.nct.cdf(-crit, 14, 0.8 * math.sqrt(15))
    assert stats.paired_t_power(0.8, 15) == pytest.approx(hand)
    for d_z in (0.3, 0.775, 1.5):
        n = stats.pairs_needed(d_z)
        assert n is not None and stats.paired_t_power(d_z, n) >= 0.8
        assert n == 2 or stats.paired_t_power(d_z, n - 1) < 0.8
    assert stats.pairs_needed(0.0) is None
    # SD of differences <= 0.129 lets 15 personas detect Δ = 0.10 (reference A3 §7)
    assert 0.10 / stats.minimum_detectable_d_z(15) == pytest.approx(0.129, abs=1e-3)
    assert stats.paired_t_power(1.0, 1) is None and stats.minimum_detectable_d_z(1) is None


def test_power_analysis_uses_observed_sd_for_the_guides_threshold() -> None:
    c = stats.paired_comparison(CAND, BASE)
    pa = stats.power_analysis(c, target_diff=0.10, family_size=3)
    assert pa.target_d_z == pytest.approx(0.10 / c.sd_diff)
    assert pa.pairs_needed_target == stats.pairs_needed(0.10 / c.sd_diff)
    assert pa.pairs_needed_target_holm == stats.pairs_needed(0.10 / c.sd_diff, alpha=0.05 / 3)
    assert pa.alpha_holm_worst == pytest.approx(0.05 / 3)
    assert pa.pairs_needed_observed_holm >= pa.pairs_needed_observed
    _no_nan(pa)


@pytest.mark.parametrize(("cand", "base", "note"), [
    ({}, {}, "no persona finished under both"),
    ({"a": 0.7}, {"a": 0.5}, "1 paired persona"),
    ({"a": 0.7, "b": 0.6}, {"a": 0.7, "b": 0.6}, "identical"),
    ({"a": 0.7, "b": 0.8, "c": 0.9}, {"a": 0.6, "b": 0.7, "c": 0.8}, "all equal to +0.100"),  # float noise
])
def test_degenerate_inputs_say_why_instead_of_nan(cand: dict, base: dict, note: str) -> None:
    c = stats.paired_comparison(cand, base)
    assert note in (c.note or "")
    assert c.p is None and c.t is None and c.d_z is None
    _no_nan(c)
    pa = stats.power_analysis(c)
    assert pa.pairs_needed_observed is None
    _no_nan(pa)


def test_missing_model_for_some_personas_pairs_only_common_ones() -> None:
    cand = dict(CAND)
    base = dict(BASE)
    del cand["p0"]
    del base["p9"]
    c = stats.paired_comparison(cand, base)
    assert c.n == 8 and c.unpaired == ["p0", "p9"]
    common = [k for k in cand if k in base]
    ref = sps.ttest_rel([cand[k] for k in common], [base[k] for k in common])
    assert c.p == pytest.approx(ref.pvalue)


def test_wilcoxon_note_when_it_cannot_reach_significance() -> None:
    c = stats.paired_comparison({"a": 0.8, "b": 0.9, "c": 0.75}, {"a": 0.6, "b": 0.6, "c": 0.7})
    assert "cannot reach p < 0.05" in (c.wilcoxon_note or "")


def test_describe_and_persona_means() -> None:
    d = stats.describe([0.5, 0.6, 0.7])
    assert d.mean == pytest.approx(0.6) and d.sd == pytest.approx(0.1)
    half = sps.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)
    assert (d.ci_low, d.ci_high) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    assert stats.describe([]).mean is None and stats.describe([0.4]).sd is None
    assert stats.persona_means({"a": [0.5, 0.7], "b": [], "c": [1.0]}) == {"a": pytest.approx(0.6), "c": 1.0}


def test_wilcoxon_with_exact_zero_differences_matches_scipy() -> None:
    cand = {f"p{i}": v for i, v in enumerate([0.7, 0.6, 0.8, 0.5, 0.9, 0.65, 0.75, 0.55])}
    base = {f"p{i}": v for i, v in enumerate([0.6, 0.6, 0.7, 0.5, 0.7, 0.6, 0.8, 0.5])}
    c = stats.paired_comparison(cand, base)
    d = np.array(list(cand.values())) - np.array(list(base.values()))
    d = np.where(np.abs(d) < 1e-12, 0.0, d)
    assert c.unchanged == 2
    assert c.wilcoxon_p == pytest.approx(sps.wilcoxon(d, zero_method="wilcox").pvalue)


def test_holm_and_power_match_statsmodels() -> None:
    """Independent check of Holm and of the noncentral-t power (statsmodels is a test-only dependency)."""
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    power = pytest.importorskip("statsmodels.stats.power")
    pvalues = [0.012, 0.03, 0.004, 0.2]
    expected = multitest.multipletests(pvalues, method="holm")[1]
    assert stats.holm(pvalues) == pytest.approx(list(expected))
    tt = power.TTestPower()
    for d_z, n in ((0.5, 15), (0.8, 15), (1.2, 8), (0.3, 40)):
        assert stats.paired_t_power(d_z, n) == pytest.approx(tt.power(effect_size=d_z, nobs=n, alpha=0.05), abs=1e-6)
    for n in (10, 15, 30):
        assert stats.minimum_detectable_d_z(n) == pytest.approx(
            tt.solve_power(nobs=n, alpha=0.05, power=0.8), abs=1e-4)
    needed = stats.pairs_needed(0.6)
    assert needed == math.ceil(tt.solve_power(effect_size=0.6, alpha=0.05, power=0.8))
