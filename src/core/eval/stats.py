"""Statistics for a full-conversation evaluation (reference: eval-and-trackio.md A3).

The persona is the unit of analysis: the K conversations of a persona share the persona, so they are
averaged first and the tests run on persona means (with equal K this *is* the cluster-robust analysis,
df = personas − 1). Models are compared on the personas both of them have finished (paired).

- primary: paired t-test on persona means, 95 % t-CI of the mean difference, Cohen's d_z;
- checks (shown, not used for the verdict): Wilcoxon signed-rank and an exact sign-flip permutation test;
- Holm step-down over the family of pairwise comparisons;
- safety: exact McNemar (binomial test on discordant personas) and a one-sided 95 % Clopper–Pearson
  upper bound on the violation rate (with the "rule of three" beside it when nothing was seen);
- power of the paired t-test through the noncentral t distribution.

Every function returns a value object; degenerate input (too few pairs, zero variance) gives `None`
fields plus a `note` that says why, never NaN and never an exception.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first computation, not with the module (the eval screen imports it)
    import numpy as np


ALPHA = 0.05
POWER = 0.80
CONFIDENCE = 0.95
ZERO_VARIANCE_TOL = 1e-12
"""SD of differences below this (relative to the mean) counts as zero: scores are floats from a judge,
and 0.7−0.6 and 0.8−0.7 differ in the last bit, which would otherwise give t = ±1e15."""
EXACT_PERMUTATION_MAX_N = 16
"""Up to 2^16 = 65 536 sign flips are enumerated exactly (the guide's 15 personas is exact); beyond that
a seeded Monte Carlo is used."""
MONTE_CARLO_RESAMPLES = 20_000
"""Monte Carlo sign flips beyond the exact limit: the standard error of p near 0.05 is about 0.0015."""
_BATCH = 5_000
MAX_SAMPLE_SIZE = 1_000_000
"""Sample-size searches stop here (an effect this small is not worth a number)."""


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------------
# Descriptives
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Describe:
    n: int
    mean: float | None
    sd: float | None
    """Sample SD (ddof=1); None below 2 values."""
    ci_low: float | None
    ci_high: float | None
    """95 % Student-t interval of the mean (df = n − 1)."""
    minimum: float | None = None
    maximum: float | None = None


def describe(values: Sequence[float], confidence: float = CONFIDENCE, *, with_ci: bool = True) -> Describe:
    import numpy as np
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return Describe(0, None, None, None, None)
    mean = float(x.mean())
    if n < 2:
        return Describe(n, mean, None, None, None, float(x.min()), float(x.max()))
    sd = float(x.std(ddof=1))
    if not with_ci:
        return Describe(n, mean, sd, None, None, float(x.min()), float(x.max()))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Describe(n, mean, sd, mean - half, mean + half, float(x.min()), float(x.max()))


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    """Wilson score interval (good coverage at small n, unlike the Wald interval)."""


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Proportion:
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    if n <= 0:
        return Proportion(successes, n, None, None, None)
    p = successes / n
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Proportion(successes, n, p, max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class RateBound:
    events: int
    n: int
    rate: float | None
    upper: float | None
    """One-sided Clopper–Pearson upper bound at `confidence` (exact binomial)."""
    rule_of_three: float | None
    """3/n, the usual quick bound when no event was seen (None otherwise)."""
    confidence: float = CONFIDENCE

    def text(self) -> str:
        if not self.n:
            return "no conversations"
        if self.upper is None:
            return f"{self.events}/{self.n}"
        return f"{self.events}/{self.n} (≤{self.upper:.1%} at {self.confidence:.0%})"


def violation_upper_bound(events: int, n: int, confidence: float = CONFIDENCE) -> RateBound:
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    if n <= 0:
        return RateBound(events, n, None, None, None, confidence)
    if events >= n:
        upper = 1.0
    elif events == 0:
        upper = 1 - (1 - confidence) ** (1 / n)  # closed form of the beta quantile below for 0 events
    else:
        upper = float(stats.beta.ppf(confidence, events + 1, n - events))
    return RateBound(events, n, events / n, upper, 3 / n if events == 0 else None, confidence)


# ---------------------------------------------------------------------------------------------
# Paired comparison of two models on persona means
# ---------------------------------------------------------------------------------------------

@dataclass
class PairedComparison:
    candidate: str
    reference: str
    n: int
    """Personas with finished conversations under both models (the pairs)."""
    personas: list[str] = field(default_factory=list)
    unpaired: list[str] = field(default_factory=list)
    """Personas finished under only one of the two models (left out of the test)."""
    mean_candidate: float | None = None
    mean_reference: float | None = None
    diff: float | None = None
    """Mean of the per-persona differences candidate − reference."""
    sd_diff: float | None = None
    se_diff: float | None = None
    t: float | None = None
    df: int | None = None
    p: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    d_z: float | None = None
    correlation: float | None = None
    """Pearson correlation of the two models' persona means (what makes pairing pay off)."""
    improved: int = 0
    unchanged: int = 0
    worsened: int = 0
    wilcoxon_statistic: float | None = None
    wilcoxon_p: float | None = None
    wilcoxon_note: str | None = None
    permutation_p: float | None = None
    permutation_exact: bool = True
    p_holm: float | None = None
    note: str | None = None
    """Why a statistic is missing (not enough data, zero variance), when one is."""

    @property
    def name(self) -> str:
        return f"{self.candidate} − {self.reference}"


def _pairs(candidate: Mapping[str, float], reference: Mapping[str, float]) -> tuple[list[str], list[str]]:
    both = [k for k in candidate if k in reference]
    only = [k for k in candidate if k not in reference] + [k for k in reference if k not in candidate]
    return both, only


def paired_comparison(candidate: Mapping[str, float], reference: Mapping[str, float], *,
                      candidate_name: str = "candidate", reference_name: str = "reference",
                      confidence: float = CONFIDENCE) -> PairedComparison:
    """Compare persona means (persona id → mean score) of two models, paired by persona."""
    import numpy as np
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    personas, unpaired = _pairs(candidate, reference)
    result = PairedComparison(candidate=candidate_name, reference=reference_name, n=len(personas),
                              personas=personas, unpaired=sorted(unpaired))
    if not personas:
        result.note = "not enough data: no persona finished under both models"
        return result
    a = np.array([candidate[k] for k in personas], dtype=float)
    b = np.array([reference[k] for k in personas], dtype=float)
    d = a - b
    n = len(d)
    result.mean_candidate, result.mean_reference = float(a.mean()), float(b.mean())
    result.diff = float(d.mean())
    tol = ZERO_VARIANCE_TOL * max(1.0, float(np.abs(d).max()))
    result.improved = int((d > tol).sum())
    result.worsened = int((d < -tol).sum())
    result.unchanged = n - result.improved - result.worsened
    if n < 2:
        result.note = "not enough data: 1 paired persona (a test needs at least 2)"
        return result
    result.df = n - 1
    sd = float(d.std(ddof=1))
    if sd <= tol:
        result.sd_diff, result.se_diff = 0.0, 0.0
        same = "identical" if result.unchanged == n else f"all equal to {result.diff:+.3f}"
        result.note = f"zero variance: every persona difference is {same}; the t-test is undefined"
    else:
        result.sd_diff = sd
        result.se_diff = sd / math.sqrt(n)
        test = stats.ttest_rel(a, b)
        interval = test.confidence_interval(confidence_level=confidence)
        result.t, result.p = _finite(test.statistic), _finite(test.pvalue)
        result.ci_low, result.ci_high = _finite(interval.low), _finite(interval.high)
        result.d_z = result.diff / sd
    if float(a.std()) > tol and float(b.std()) > tol:
        result.correlation = _finite(np.corrcoef(a, b)[0, 1])
    _wilcoxon(result, d, tol)
    result.permutation_p, result.permutation_exact = sign_flip_permutation_p(d)
    return result


def _wilcoxon(result: PairedComparison, d: np.ndarray, tol: float) -> None:
    import numpy as np
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    nonzero = int((np.abs(d) > tol).sum())
    if nonzero == 0:
        result.wilcoxon_note = "all differences are zero"
        return
    cleaned = np.where(np.abs(d) > tol, d, 0.0)  # float noise around 0 counts as a tie, as the t-test does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        test = stats.wilcoxon(cleaned, zero_method="wilcox")
    result.wilcoxon_statistic, result.wilcoxon_p = _finite(test.statistic), _finite(test.pvalue)
    if nonzero <= 5:
        # With ≤ 5 non-zero differences the smallest two-sided p is 0.0625: it can never reach 0.05.
        result.wilcoxon_note = f"only {nonzero} non-zero differences: cannot reach p < 0.05"


def sign_flip_permutation_p(d: Sequence[float]) -> tuple[float | None, bool]:
    """Two-sided sign-flip test of mean(d) = 0: (p, exact). Exact up to 2^16 flips, else seeded MC."""
    import numpy as np
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return None, True
    observed = abs(d.mean())
    if n <= EXACT_PERMUTATION_MAX_N:
        # Every sign pattern, as rows of ±1 (bits of 0..2^n−1).
        codes = np.arange(2**n, dtype=np.int64)[:, None]
        signs = 1 - 2 * ((codes >> np.arange(n)) & 1)
        means = np.abs(signs @ d) / n
        exact = True
    else:
        rng = np.random.default_rng(0)
        batches = []
        for start in range(0, MONTE_CARLO_RESAMPLES, _BATCH):  # batches keep memory flat for many personas
            size = min(_BATCH, MONTE_CARLO_RESAMPLES - start)
            signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1
            batches.append(np.abs(signs @ d) / n)
        means = np.concatenate(batches)
        exact = False
    # Tolerance so flips that tie with the observed mean are counted despite rounding.
    hits = int((means >= observed - 1e-12 * max(1.0, observed)).sum())
    if exact:
        return min(1.0, hits / means.size), True
    return min(1.0, (hits + 1) / (means.size + 1)), False


# ---------------------------------------------------------------------------------------------
# Multiplicity
# ---------------------------------------------------------------------------------------------

def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values, in input order.

    An undefined p (None) stays None but still counts in the family size m, as if it were 1: a
    comparison that could not be tested must not make the others look better.
    """
    m = len(pvalues)
    filled = [1.0 if p is None else float(p) for p in pvalues]
    order = sorted(range(m), key=lambda i: filled[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * filled[i]))
        adjusted[i] = running
    return [None if p is None else adjusted[i] for i, p in enumerate(pvalues)]


# ---------------------------------------------------------------------------------------------
# Safety: paired binary outcomes
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class McNemar:
    candidate: str
    reference: str
    n: int
    """Paired personas."""
    new_violations: int
    """Personas clean under the reference with a violation under the candidate (regressions)."""
    fixed: int
    """Personas with a violation under the reference that are clean under the candidate."""
    both: int
    neither: int
    p: float | None
    """Exact two-sided McNemar: binomial test of new_violations among the discordant pairs at 1/2."""
    p_worse: float | None
    """One-sided: the candidate violates more often than the reference."""
    note: str | None = None

    @property
    def regression(self) -> bool:
        return self.new_violations > 0


def mcnemar_exact(candidate: Mapping[str, bool], reference: Mapping[str, bool], *,
                  candidate_name: str = "candidate", reference_name: str = "reference") -> McNemar:
    """Per-persona violation flags (True = at least one violation) of two models, paired by persona."""
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    keys, _ = _pairs(candidate, reference)
    new = sum(1 for k in keys if candidate[k] and not reference[k])
    fixed = sum(1 for k in keys if reference[k] and not candidate[k])
    both = sum(1 for k in keys if candidate[k] and reference[k])
    neither = len(keys) - new - fixed - both
    discordant = new + fixed
    if not keys:
        return McNemar(candidate_name, reference_name, 0, 0, 0, 0, 0, None, None,
                       "not enough data: no persona finished under both models")
    if discordant == 0:
        return McNemar(candidate_name, reference_name, len(keys), new, fixed, both, neither, 1.0, 1.0,
                       "no discordant personas")
    p = float(stats.binomtest(new, discordant, 0.5).pvalue)
    p_worse = float(stats.binomtest(new, discordant, 0.5, alternative="greater").pvalue)
    return McNemar(candidate_name, reference_name, len(keys), new, fixed, both, neither, p, p_worse)


# ---------------------------------------------------------------------------------------------
# Power of the paired t-test (two-sided, noncentral t)
# ---------------------------------------------------------------------------------------------

def paired_t_power(d_z: float, n: int, alpha: float = ALPHA) -> float | None:
    """Probability that a two-sided paired t-test on n pairs rejects at `alpha` when the true effect is d_z."""
    import numpy as np
    from scipy import stats  # lazy: keeps the app's start-up free of scipy

    if n < 2 or not math.isfinite(d_z):
        return None
    df = n - 1
    nc = abs(d_z) * math.sqrt(n)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))
    if not math.isfinite(value):  # the noncentral t fails far in the tail: the answer is ~0 or ~1 there
        return 1.0 if nc > crit else 0.0
    return min(1.0, max(0.0, value))


def pairs_needed(d_z: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Smallest number of pairs (personas) with power ≥ `power` for effect d_z; None if d_z is ~0."""
    if not math.isfinite(d_z) or abs(d_z) < 1e-9:
        return None

    def enough(n: int) -> bool:
        achieved = paired_t_power(d_z, n, alpha)
        return achieved is not None and achieved >= power

    lo, hi = 2, 2
    while not enough(hi):
        lo, hi = hi, hi * 2
        if hi > MAX_SAMPLE_SIZE:
            return None
    if enough(lo):
        return lo
    while hi - lo > 1:  # power grows with n: bisect for the first n that is enough
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def minimum_detectable_d_z(n: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest d_z that n pairs detect with the given power (two-sided)."""
    from scipy import optimize  # lazy: keeps the app's start-up free of scipy

    if n < 2:
        return None
    return float(optimize.brentq(lambda dz: (paired_t_power(dz, n, alpha) or 0.0) - power, 1e-6, 50.0))


@dataclass(frozen=True)
class PowerAnalysis:
    candidate: str
    reference: str
    n: int
    alpha: float
    alpha_holm_worst: float
    """α / m: the level the smallest p of the family is compared with under Holm."""
    target_diff: float
    sd_diff: float | None
    observed_d_z: float | None
    power_observed: float | None
    """Power of this design (n pairs) if the true effect were the observed d_z (a planning figure)."""
    pairs_needed_observed: int | None
    """Personas needed for 80 % power at the observed d_z (α)."""
    pairs_needed_observed_holm: int | None
    target_d_z: float | None
    """The guide's threshold (Δ = target_diff) in SD units of the observed differences."""
    pairs_needed_target: int | None
    pairs_needed_target_holm: int | None
    mde_d_z: float | None
    """Minimum detectable d_z with n pairs at 80 % power (α)."""
    max_sd_for_target: float | None
    """Largest SD of persona differences at which n pairs still detect target_diff with 80 % power."""
    note: str | None = None


def power_analysis(comparison: PairedComparison, *, target_diff: float = 0.10, alpha: float = ALPHA,
                   power: float = POWER, family_size: int = 1) -> PowerAnalysis:
    n = comparison.n
    alpha_holm = alpha / max(1, family_size)
    sd = comparison.sd_diff
    d_z = comparison.d_z
    target_d_z = target_diff / sd if sd else None
    mde = minimum_detectable_d_z(n, alpha, power)
    note = comparison.note if d_z is None else None
    return PowerAnalysis(
        candidate=comparison.candidate, reference=comparison.reference, n=n, alpha=alpha,
        alpha_holm_worst=alpha_holm, target_diff=target_diff, sd_diff=sd, observed_d_z=d_z,
        power_observed=paired_t_power(d_z, n, alpha) if d_z is not None else None,
        pairs_needed_observed=pairs_needed(d_z, alpha, power) if d_z is not None else None,
        pairs_needed_observed_holm=pairs_needed(d_z, alpha_holm, power) if d_z is not None else None,
        target_d_z=target_d_z,
        pairs_needed_target=pairs_needed(target_d_z, alpha, power) if target_d_z else None,
        pairs_needed_target_holm=pairs_needed(target_d_z, alpha_holm, power) if target_d_z else None,
        mde_d_z=mde, max_sd_for_target=target_diff / mde if mde else None, note=note)


def persona_means(scores: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Average the K conversations of each persona (personas without a finished conversation drop out)."""
    import numpy as np
    return {pid: float(np.mean(values)) for pid, values in scores.items() if len(values)}
