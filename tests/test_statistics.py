"""Statistics of the comparisons: intervals, paired tests, Holm, Friedman and Nemenyi, against
hand-computed cases and scipy; and the comparison tables and the ranking built on them."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from subsetgrad.bench.metrics import METRIC_COLUMNS
from subsetgrad.bench.results.specs import build_table
from subsetgrad.bench.results.statistics import (
    MINIMUM_SEEDS,
    friedman,
    holm,
    paired_test,
    t_interval,
)
from subsetgrad.bench.results.tables import WORSE, summary_table


def test_t_interval_by_hand():
    # mean 2, sample std 1, n = 3: half-width t(0.975, 2) / sqrt(3); t(0.975, 2) = 4.302653 (tables)
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3), abs=1e-6)
    assert mean - low == pytest.approx(high - mean)
    mean, low, high = t_interval([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)  # one seed: no interval
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], confidence=1.0)


def test_paired_t_by_hand_and_against_scipy():
    # differences 1 and 3: mean 2, std sqrt(2), t = 2 with 1 d.f. (Cauchy): p = 1 - 2 atan(2) / pi
    result = paired_test([1.0, 3.0], [0.0, 0.0], "t")
    assert result.statistic == pytest.approx(2.0) and result.n == 2
    assert result.p == pytest.approx(1 - 2 * math.atan(2) / math.pi, rel=1e-9)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8) + 0.5
    assert paired_test(a, b, "t").p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_test(a, b, "wilcoxon").p == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)


def test_minimum_seeds_are_enforced_not_faked():
    # Wilcoxon with five seeds of one sign: the exact p is 2 / 2**5 = 0.0625 > 0.05, so no test
    five = paired_test([1.0, 2, 3, 4, 5], [0.0] * 5, "wilcoxon")
    assert math.isnan(five.p) and "at least 6" in five.reason
    assert stats.wilcoxon([1.0, 2, 3, 4, 5]).pvalue == pytest.approx(2 / 2**5)  # why the minimum is 6
    six = paired_test([1.0, 2, 3, 4, 5, 6], [0.0] * 6, "wilcoxon")
    assert six.p == pytest.approx(2 / 2**6) and not six.reason
    one = paired_test([1.0], [0.0], "t")
    assert math.isnan(one.p) and "at least 2" in one.reason
    assert MINIMUM_SEEDS == {"t": 2, "wilcoxon": 6}
    assert paired_test([1.0, 2.0], [1.0, 2.0], "t").p == 1.0  # identical runs: no difference
    assert paired_test([1.0, 2.0], [0.0, 1.0], "t").p == 0.0  # a constant nonzero difference


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    adjusted = holm([0.2, math.nan, 0.01])
    assert math.isnan(adjusted[1]) and adjusted.tolist()[::2] == pytest.approx([0.2, 0.02])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # capped at 1


def test_friedman_by_hand():
    # the same order in 4 cells: ranks 1, 2, 3; chi2 = 12 N / (k (k+1)) sum (R - 2)^2 = 8, p = exp(-4)
    scores = {"a": [0.9, 0.8, 0.7, 0.95], "b": [0.5, 0.4, 0.3, 0.6], "c": [0.1, 0.2, 0.0, 0.3]}
    result = friedman(scores, ["c1", "c2", "c3", "c4"], better="max")
    assert result.average_ranks == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert result.statistic == pytest.approx(8.0) and result.p == pytest.approx(math.exp(-4))
    # Nemenyi: q_0.05(k = 3) = 2.343 (Demsar 2006, Table 5); CD = q sqrt(k (k+1) / (6 N))
    assert result.critical_difference == pytest.approx(2.343 * math.sqrt(3 * 4 / 24), abs=1e-3)
    # lower is better flips the ranks
    assert friedman(scores, ["c1", "c2", "c3", "c4"], better="min").average_ranks["c"] == 1.0


@pytest.mark.parametrize("k, q", [(2, 1.960), (4, 2.569), (5, 2.728), (8, 3.031), (10, 3.164)])
def test_nemenyi_quantiles_match_the_published_table(k, q):
    scores = {str(i): list(np.arange(6) + i) for i in range(k)}
    result = friedman(scores, [f"c{j}" for j in range(6)])
    assert result.critical_difference == pytest.approx(q * math.sqrt(k * (k + 1) / 36), abs=2e-3)


def test_friedman_with_ties_matches_scipy():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 3, size=(4, 9)).astype(float)  # 4 estimators, 9 cells, many ties
    result = friedman({f"e{i}": data[i] for i in range(4)}, [f"c{j}" for j in range(9)], better="min")
    reference = stats.friedmanchisquare(*data)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p == pytest.approx(reference.pvalue, rel=1e-12)


def test_friedman_minimums_and_groups():
    one_cell = friedman({"a": [1.0], "b": [2.0]}, ["c"])
    assert math.isnan(one_cell.p) and "at least 2 estimators and 2 cells" in one_cell.reason
    one_estimator = friedman({"a": [1.0, 2.0]}, ["c1", "c2"])
    assert math.isnan(one_estimator.p) and one_estimator.reason
    with pytest.raises(ValueError, match="every estimator needs a score"):
        friedman({"a": [1.0, math.nan], "b": [2.0, 3.0]}, ["c1", "c2"])
    result = friedman({"a": [1.0, 2.0], "b": [2.0, 3.0]}, ["c1", "c2"])
    result.average_ranks, result.critical_difference = {"a": 1.0, "b": 1.5, "c": 3.0, "d": 3.2}, 1.0
    result.estimators = ["a", "b", "c", "d"]
    assert result.indistinguishable_groups() == [["a", "b"], ["c", "d"]]


def _seeded(estimator, dataset, values, tau=float("nan")):
    return [
        {
            "task": "l2x",
            "dataset": dataset,
            "estimator": estimator,
            "tau": tau,
            "k": 2,
            "seed": s,
            "metric": "posthoc_accuracy",
            "value": v,
        }
        for s, v in enumerate(values)
    ]


def test_comparison_table_marks_only_what_the_seeds_support():
    good = [0.90, 0.91, 0.93, 0.92, 0.94, 0.95]
    worse = [g - 0.1 + d for g, d in zip(good, [0.001, -0.002, 0.0, 0.002, -0.001, 0.001])]
    close = [g + d for g, d in zip(good, [0.01, -0.02, 0.015, -0.01, 0.0, 0.005])]
    frame = pd.DataFrame(
        _seeded("good", "d", good) + _seeded("worse", "d", worse) + _seeded("close", "d", close)
    )
    table = summary_table(
        frame,
        name="t",
        title="t",
        rows=["estimator"],
        columns=["dataset"],
        better="max",
        interval=0.95,
        paired="t",
    )
    cell = table.cell("worse", "d")
    assert bool(cell.worse_than_best) and cell.paired_seeds == 6 and cell.p_vs_best < 1e-4
    assert not bool(table.cell("close", "d").worse_than_best)
    _, low, high = t_interval(good)
    assert table.cell("good", "d")[["ci_low", "ci_high"]].tolist() == pytest.approx([low, high])
    assert table.cell_text(cell).endswith(f"]{WORSE} (6)")
    # the same runs on their first five seeds: Wilcoxon cannot reach 0.05, so nothing is marked
    five = summary_table(
        frame[frame.seed < 5],
        name="t",
        title="t",
        rows=["estimator"],
        columns=["dataset"],
        better="max",
        interval=0.95,
        paired="wilcoxon",
    )
    assert not five.cells.worse_than_best.any() and five.cells.p_vs_best.isna().all()
    assert any("needs at least 6" in note for note in five.notes)
    # one seed: the cell shows no interval and no test
    single = summary_table(
        frame[frame.seed == 0],
        name="t",
        title="t",
        rows=["estimator"],
        columns=["dataset"],
        better="max",
        interval=0.95,
        paired="t",
    )
    assert single.cell_text(single.cell("worse", "d")) == "0.801 (1)"
    assert "t-interval" in single.to_markdown() and "\\dag" in single.to_latex()


def test_estimator_ranks_over_cells():
    rows = []
    for dataset, order in (("d1", ["a", "b", "c"]), ("d2", ["a", "c", "b"]), ("d3", ["b", "a", "c"])):
        for rank, estimator in enumerate(order):
            rows += _seeded(estimator, dataset, [0.9 - 0.1 * rank, 0.91 - 0.1 * rank])
    rows += _seeded("only_d1", "d1", [0.5, 0.5])
    metrics = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    config = {"tasks": {"l2x": {"datasets": ["d1", "d2", "d3"], "estimators": ["a", "b", "c"]}}}
    table = build_table("estimator_ranks", metrics, config)
    averages = table.cells[table.cells.cell == "average rank"].set_index("estimator")["mean"]
    assert averages.to_dict() == pytest.approx({"a": 4 / 3, "b": 2.0, "c": 8 / 3})
    assert list(averages.index) == ["a", "b", "c"]  # ordered by average rank
    notes = " ".join(table.notes)
    assert (
        "k = 3 estimators, N = 3 cells" in notes and "Left out (not measured in every cell): only_d1" in notes
    )
    # a single cell: the table says why there is no test instead of a number
    single = build_table("estimator_ranks", metrics[metrics.dataset == "d1"], config)
    assert any("No Friedman test" in note for note in single.notes)


def test_a_one_row_ranking_writes_every_format():
    metrics = pd.DataFrame(
        _seeded("a", "d1", [0.9, 0.8]) + _seeded("a", "d2", [0.7, 0.6]), columns=list(METRIC_COLUMNS)
    )
    config = {"tasks": {"l2x": {"datasets": ["d1", "d2"], "estimators": ["a"]}}}
    table = build_table("estimator_ranks", metrics, config)
    assert "1 estimator(s) over 2 cell(s)" in " ".join(table.notes)
    assert r"\textbf{1.00}" in table.to_latex() and "<b>1.00</b>" in table.to_html()


def test_config_refuses_a_paired_test_the_seeds_cannot_support():
    from subsetgrad.bench.results.comparison import paired_test_fits_the_seeds

    assert paired_test_fits_the_seeds({"seeds": [0, 1], "comparison": {"paired_test": "t"}}) == []
    problems = paired_test_fits_the_seeds({"seeds": [0, 1, 2], "comparison": {"paired_test": "wilcoxon"}})
    assert len(problems) == 1 and "needs at least 6 seeds" in problems[0] and "has 3" in problems[0]
    assert (
        paired_test_fits_the_seeds({"seeds": list(range(6)), "comparison": {"paired_test": "wilcoxon"}}) == []
    )
