"""The paper's synthetic check: relaxed samples reproduce p(S | w) (published TV <= 0.016)."""

import pytest

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


def test_distribution_rows_and_band(synthetic):
    dist, _ = synthetic
    assert len(dist) == 3 * 6
    assert (dist.groupby("tau").empirical_freq.sum().round(10) == 1).all()
    assert (dist.band_low < dist.exact_prob).all() and (dist.exact_prob < dist.band_high).all()


def test_tv_table_counts_seeds():
    _, metrics = run_synthetic([1, 2, 3], 1, [1.0], 500, seeds=[0, 1, 2])
    table = tv_table(metrics)
    assert table.n_seeds.tolist() == [3]
    assert table.tv_std.notna().all()
