"""Statistics of comparisons between estimators: intervals over seeds, paired tests,
and ranks across task-dataset cells.

Every run of one configuration differs from another only by its seed, and the seed
fixes the data order and the initialisation, so two estimators' runs with the same
seed are paired. The tests here use that pairing.

* :func:`t_interval`: mean and two-sided t confidence interval over seeds.
* :func:`paired_test`: paired t-test or Wilcoxon signed-rank test of two estimators
  on their common seeds; :func:`holm` adjusts a family of p-values.
* :func:`friedman`: average ranks of estimators over cells (one score per estimator
  and cell), the Friedman test of equal ranks, and Nemenyi's critical difference.

Each test has a minimum sample below which it cannot reject at any usual level
(:data:`MINIMUM_SEEDS`, :data:`MINIMUM_FRIEDMAN_ESTIMATORS`, :data:`MINIMUM_FRIEDMAN_CELLS`).
Below it the functions return no p-value (NaN) and a reason, never a number that
looks like a result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# scipy.stats is imported by the functions that use it: the workflow imports this module,
# through the config checks, on every dry run, which should not pay for scipy.

#: Paired tests this module runs, by name, with the name a table prints.
PAIRED_TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}
PAIRED_TESTS = tuple(PAIRED_TEST_NAMES)

#: Fewest paired seeds each test needs. A paired t-test has n - 1 degrees of freedom, so
#: it needs two. The exact Wilcoxon signed-rank test's smallest two-sided p-value is
#: 2 / 2**n (every difference of one sign), which is above 0.05 for n <= 5: with five
#: seeds or fewer it can never reject at 0.05, so it needs six.
MINIMUM_SEEDS = {"t": 2, "wilcoxon": 6}

#: Friedman's test compares at least two estimators over at least two cells.
MINIMUM_FRIEDMAN_ESTIMATORS = 2
MINIMUM_FRIEDMAN_CELLS = 2


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values`` and its two-sided Student-t interval.

    With fewer than two values the interval is undefined: ``low`` and ``high`` are NaN.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    sem = float(values.std(ddof=1)) / math.sqrt(values.size)
    from scipy import stats

    half = float(stats.t.ppf(0.5 + confidence / 2, df=values.size - 1)) * sem
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class PairedResult:
    """A paired test of ``a`` against ``b``: ``p`` is NaN where the test could not run,
    and ``reason`` says why."""

    test: str
    n: int
    statistic: float
    p: float
    mean_difference: float
    reason: str = ""


def paired_test(a: Sequence[float], b: Sequence[float], test: str = "t") -> PairedResult:
    """Two-sided paired test of equal means (``t``) or a difference symmetric about zero
    (``wilcoxon``, exact where scipy can) of the paired samples ``a`` and ``b``."""
    if test not in PAIRED_TESTS:
        raise ValueError(f"paired test must be one of {PAIRED_TESTS}, got {test!r}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and of one length, got shapes {a.shape} and {b.shape}")
    n = int(a.size)
    difference = a - b
    mean_difference = float(difference.mean()) if n else math.nan
    if n < MINIMUM_SEEDS[test]:
        return PairedResult(
            test,
            n,
            math.nan,
            math.nan,
            mean_difference,
            f"{n} paired seed(s); the {PAIRED_TEST_NAMES[test]} needs at least {MINIMUM_SEEDS[test]}",
        )
    if np.all(difference == 0):
        # identical runs: no evidence of a difference (scipy would divide by zero)
        return PairedResult(test, n, 0.0, 1.0, 0.0)
    from scipy import stats

    if test == "t":
        if np.all(difference == difference[0]):
            # a constant nonzero difference has no spread: the t statistic is infinite
            return PairedResult(test, n, math.copysign(math.inf, difference[0]), 0.0, mean_difference)
        result = stats.ttest_rel(a, b)
    else:
        result = stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return PairedResult(test, n, float(result.statistic), float(result.pvalue), mean_difference)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries are not part of
    the family and stay NaN). Reject hypothesis i at level alpha when its adjusted
    p-value is at most alpha; the family-wise error rate is then at most alpha."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = present.size
    order = present[np.argsort(p[present], kind="stable")]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        adjusted[index] = running
    return adjusted


@dataclass
class FriedmanResult:
    """Average ranks (1 = best) of ``estimators`` over ``cells``; the Friedman test of
    equal ranks, and Nemenyi's critical difference of average ranks at ``alpha``."""

    estimators: list[str]
    cells: list[str]
    average_ranks: dict[str, float]
    statistic: float
    p: float
    critical_difference: float
    alpha: float
    reason: str = ""
    ranks: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def indistinguishable_groups(self) -> list[list[str]]:
        """Maximal runs of estimators (ordered by average rank) whose extreme ranks differ by
        less than the critical difference: the bars of a critical-difference diagram."""
        if math.isnan(self.critical_difference):
            return []
        ordered = sorted(self.estimators, key=lambda e: self.average_ranks[e])
        groups: list[list[str]] = []
        for i, first in enumerate(ordered):
            j = i
            while (
                j + 1 < len(ordered)
                and (self.average_ranks[ordered[j + 1]] - self.average_ranks[first])
                < self.critical_difference
            ):
                j += 1
            group = ordered[i : j + 1]
            if len(group) > 1 and not any(set(group) <= set(g) for g in groups):
                groups.append(group)
        return groups


def friedman(
    scores: Mapping[str, Sequence[float]],
    cells: Sequence[str],
    better: Sequence[str] | str = "max",
    alpha: float = 0.05,
) -> FriedmanResult:
    """Friedman test over ``cells`` of the estimators' ``scores`` (estimator -> one score per
    cell, in the order of ``cells``); ``better``: ``max`` or ``min``, one for all cells or
    one per cell. Ties share their average rank.

    The statistic is Friedman's chi-square with the correction for ties,
    ``12 N / (k (k + 1)) * sum_j (R_j - (k + 1) / 2)**2 / (1 - sum(t**3 - t) / (N k (k**2 - 1)))``,
    referred to chi-square with k - 1 degrees of freedom (scipy's ``friedmanchisquare``
    computes the same for k >= 3). The critical difference is Nemenyi's,
    ``q_alpha * sqrt(k (k + 1) / (6 N))`` with ``q_alpha`` the studentized range quantile
    over sqrt(2).
    """
    estimators = list(scores)
    cells = list(cells)
    k, n = len(estimators), len(cells)
    directions = [better] * n if isinstance(better, str) else list(better)
    if len(directions) != n or any(d not in ("max", "min") for d in directions):
        raise ValueError(f"better must be 'max' or 'min', once or once per cell; got {better!r}")
    matrix = (
        np.array([[float(v) for v in scores[e]] for e in estimators]).reshape(k, n).T
    )  # cells x estimators
    if np.isnan(matrix).any():
        raise ValueError("every estimator needs a score in every cell; leave out incomplete ones first")
    signed = np.where(np.array(directions)[:, None] == "max", -matrix, matrix)  # rank 1 = best
    from scipy import stats

    ranks = np.vstack([stats.rankdata(row) for row in signed]) if n else np.zeros((0, k))
    average = {e: float(ranks[:, i].mean()) if n else math.nan for i, e in enumerate(estimators)}
    if k < MINIMUM_FRIEDMAN_ESTIMATORS or n < MINIMUM_FRIEDMAN_CELLS:
        reason = (
            f"{k} estimator(s) over {n} cell(s); the Friedman test needs at least "
            f"{MINIMUM_FRIEDMAN_ESTIMATORS} estimators and {MINIMUM_FRIEDMAN_CELLS} cells"
        )
        return FriedmanResult(estimators, cells, average, math.nan, math.nan, math.nan, alpha, reason, ranks)
    rank_means = ranks.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * float(np.sum((rank_means - (k + 1) / 2) ** 2))
    ties = sum(float(np.sum(c**3 - c)) for c in (np.unique(row, return_counts=True)[1] for row in ranks))
    denominator = 1 - ties / (n * k * (k**2 - 1))
    if denominator <= 0:  # every cell a complete tie: no ranking at all
        return FriedmanResult(estimators, cells, average, 0.0, 1.0, _nemenyi(k, n, alpha), alpha, "", ranks)
    chi2 /= denominator
    p = float(stats.chi2.sf(chi2, df=k - 1))
    return FriedmanResult(estimators, cells, average, chi2, p, _nemenyi(k, n, alpha), alpha, "", ranks)


def _nemenyi(k: int, n: int, alpha: float) -> float:
    from scipy import stats

    q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6 * n))
