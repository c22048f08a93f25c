"""The paper's synthetic check: relaxed samples reproduce p(S | w) (published TV <= 0.016)."""

import itertools

import numpy as np
import pytest
from scipy import stats

from subsetgrad.bench.experiments.synthetic import run_synthetic, tv_table


@pytest.fixture(scope="module")
def synthetic():
    return run_synthetic([1, 2, 3, 4], 2, [0.1, 1, 10], 10000, seeds=[0])


def test_total_variation_within_paper_bound(synthetic):
    _, metrics = synthetic
    tv = metrics[metrics.metric == "tv_distance"].set_index("tau").value
    assert len(tv) == 3
    # expected TV by chance at N = 10,000 is about 0.008; the bound is 0.02
    assert (tv < 0.02).all(), tv


def _pl_wor_subset_probs(weights, k):
    """PL-WOR subset probabilities from the formula: the sum over orderings of the products
    of w_i / (the weight not yet drawn)."""
    probs = {}
    for order in itertools.permutations(range(len(weights)), k):
        prob, rest = 1.0, float(sum(weights))
        for i in order:
            prob *= weights[i] / rest
            rest -= weights[i]
        key = "{" + ",".join(str(i + 1) for i in sorted(order)) + "}"
        probs[key] = probs.get(key, 0.0) + prob
    return probs


def test_distribution_rows_and_band(synthetic):
    dist, _ = synthetic
    assert len(dist) == 3 * 6
    assert (dist.groupby("tau")["count"].sum() == 10000).all()
    np.testing.assert_allclose(dist.empirical_freq, dist["count"] / 10000)
    expected = _pl_wor_subset_probs([1, 2, 3, 4], 2)
    np.testing.assert_allclose(dist.exact_prob, dist.subset.map(expected), rtol=1e-12)
    half = 1.96 * np.sqrt(dist.exact_prob * (1 - dist.exact_prob) / 10000)
    np.testing.assert_allclose(dist.band_high - dist.exact_prob, half)
    np.testing.assert_allclose(dist.exact_prob - dist.band_low, half)
    assert (dist.within_band == ((dist.empirical_freq - dist.exact_prob).abs() <= half)).all()
    # each cell is outside its 95% band with probability 0.05: more than 4 of 18 outside has
    # probability 0.002 for a correct sampler; reversed Gumbel noise puts 11 outside at this seed
    assert (~dist.within_band).sum() <= 4, dist
    for tau, group in dist.groupby("tau"):
        p_value = stats.chisquare(group["count"], 10000 * group.exact_prob).pvalue
        assert p_value > 1e-3, (tau, p_value)


def test_tv_table_counts_seeds():
    _, metrics = run_synthetic([1, 2, 3], 1, [1.0], 500, seeds=[0, 1, 2])
    table = tv_table(metrics)
    assert table.n_seeds.tolist() == [3]
    assert table.tv_std.notna().all()
