"""Exact sampling: Gumbel-top-k and the PL-WOR likelihood against enumeration."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from subsetgrad import gumbel_topk, pl_log_prob, sample_gumbel, subset_probs

WEIGHTS = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
PUBLISHED = [0.0472, 0.0762, 0.1111, 0.1607, 0.2333, 0.3714]  # paper.md, 4 decimals


def test_subset_probs_match_published_values():
    subsets, probs = subset_probs(WEIGHTS.log(), 2)
    assert subsets == list(itertools.combinations(range(4), 2))
    np.testing.assert_allclose(probs.numpy(), PUBLISHED, atol=5e-5)


def test_subset_probs_equal_sum_over_orderings():
    w = torch.randn(3, 6, dtype=torch.float64)
    subsets, probs = subset_probs(w, 3)
    for c, s in enumerate(subsets):
        orders = torch.tensor(list(itertools.permutations(s)))
        brute = pl_log_prob(w.unsqueeze(-2), orders).exp().sum(-1)
        torch.testing.assert_close(probs[:, c], brute, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, dtype=torch.float64))


def test_subset_probs_excludes_masked_items():
    w = torch.tensor([0.3, float("-inf"), -0.2, 1.0, float("-inf")], dtype=torch.float64)
    subsets, probs = subset_probs(w, 2)
    for s, p in zip(subsets, probs):
        if 1 in s or 4 in s:
            assert p == 0
    assert math.isclose(probs.sum().item(), 1.0, rel_tol=1e-12)


def test_subset_probs_refuses_large_problems():
    with pytest.raises(ValueError, match="MAX_SUBSETS"):
        subset_probs(torch.zeros(40), 20)


def _chisquare_vs_exact(draws: torch.Tensor, probs: np.ndarray, subsets) -> float:
    index = {s: c for c, s in enumerate(subsets)}
    counts = np.zeros(len(subsets))
    for row in torch.sort(draws, -1).values.tolist():
        counts[index[tuple(row)]] += 1
    return stats.chisquare(counts, probs * counts.sum()).pvalue


def test_gumbel_topk_passes_chisquare_against_exact():
    gen = torch.Generator().manual_seed(1)
    w = WEIGHTS.log()
    subsets, probs = subset_probs(w, 2)
    draws = gumbel_topk(w.expand(20000, 4), 2, generator=gen)
    assert _chisquare_vs_exact(draws, probs.numpy(), subsets) > 1e-3


def test_wrong_gumbel_sign_is_detected():
    """The authors' first release used +log(-log u); this check must reject it."""
    gen = torch.Generator().manual_seed(2)
    g = sample_gumbel((200000,), dtype=torch.float64, generator=gen)
    euler_gamma = 0.5772156649
    se = math.pi / math.sqrt(6) / math.sqrt(g.numel())
    assert abs(g.mean().item() - euler_gamma) < 4 * se  # Gumbel(0,1) mean

    w = WEIGHTS.log()
    subsets, probs = subset_probs(w, 2)
    u = torch.rand(20000, 4, generator=gen, dtype=torch.float64)
    wrong = torch.topk(w + torch.log(-torch.log(u)), 2).indices
    assert _chisquare_vs_exact(wrong, probs.numpy(), subsets) < 1e-6


def test_gumbel_topk_never_selects_masked_items():
    w = torch.tensor([[0.0, float("-inf"), 5.0, float("-inf"), -3.0]]).expand(1000, 5)
    draws = gumbel_topk(w, 3)
    assert set(draws.flatten().tolist()) == {0, 2, 4}


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.tensor([0.0, float("nan"), 1.0]), "NaN"),
        (torch.tensor([0.0, float("inf"), 1.0]), r"\+inf"),
        (torch.tensor([0.0, float("-inf"), float("-inf")]), "finite"),
        (torch.tensor([1, 2, 3]), "floating"),
    ],
)
def test_gumbel_topk_rejects_bad_logits(bad, message):
    with pytest.raises(ValueError, match=message):
        gumbel_topk(bad, 2)


@pytest.mark.parametrize("k", [0, 4, 2.0, True])
def test_gumbel_topk_rejects_bad_k(k):
    with pytest.raises(ValueError, match="k"):
        gumbel_topk(torch.zeros(3), k)


def test_pl_log_prob_normalises_over_orderings():
    w = torch.randn(5, dtype=torch.float64)
    seqs = torch.tensor(list(itertools.permutations(range(5), 2)))
    total = pl_log_prob(w, seqs).exp().sum()
    assert math.isclose(total.item(), 1.0, rel_tol=1e-12)
