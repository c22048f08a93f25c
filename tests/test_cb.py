"""The conditional-Bernoulli family (DP against enumeration, exact sampling) and its estimators."""

import math

import pytest
import torch
from scipy.stats import chisquare

from subsetgrad import (
    cb_log_normalizer,
    cb_log_prob,
    cb_marginals,
    cb_sample,
    cb_subset_probs,
    make_estimator,
    subset_probs,
)
from subsetgrad.estimators_cb import sample_sum_of_gamma
from subsetgrad.exact import expected_loss

NEG_INF = float("-inf")


def _khots(subsets, n, dtype=torch.float64):
    out = torch.zeros(len(subsets), n, dtype=dtype)
    for c, s in enumerate(subsets):
        out[c, list(s)] = 1.0
    return out


def _enumerated(w, k):
    """log Z and marginals by brute force over all subsets (independent of cb_subset_probs)."""
    subsets, _ = cb_subset_probs(w, k)
    khot = _khots(subsets, w.shape[-1])
    rows = w.unsqueeze(-2).expand(*w.shape[:-1], *khot.shape)
    scores = torch.where(khot.bool(), rows, torch.zeros_like(rows)).sum(-1)
    log_z = torch.logsumexp(scores, -1)
    return log_z, torch.exp(scores - log_z.unsqueeze(-1)) @ khot


@pytest.mark.parametrize("n, k", [(7, 1), (7, 3), (9, 5), (8, 8), (10, 9)])
@pytest.mark.parametrize("scale", [0.1, 1.0, 8.0])
def test_dp_equals_enumeration_in_float64(n, k, scale):
    w = torch.randn(3, 2, n, dtype=torch.float64) * scale
    log_z, mu = _enumerated(w, k)
    torch.testing.assert_close(cb_log_normalizer(w, k), log_z, rtol=0, atol=1e-10)
    torch.testing.assert_close(cb_marginals(w, k), mu, rtol=0, atol=1e-10)
    # the marginals are the gradient of the log-normaliser, and sum to k
    leaf = w.clone().requires_grad_()
    (grad,) = torch.autograd.grad(cb_log_normalizer(leaf, k).sum(), leaf)
    torch.testing.assert_close(grad, mu, rtol=0, atol=1e-10)
    torch.testing.assert_close(mu.sum(-1), torch.full(w.shape[:-1], float(k), dtype=w.dtype))


def test_subset_probs_convention_and_k1_coincides_with_pl_wor():
    w = torch.randn(4, 6, dtype=torch.float64)
    subsets, probs = cb_subset_probs(w, 2)
    assert subsets == subset_probs(w, 2)[0] and probs.shape == (4, 15)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, dtype=w.dtype))
    khot = _khots(subsets, 6)
    torch.testing.assert_close(torch.log(probs), cb_log_prob(w.unsqueeze(-2), khot, 2), rtol=0, atol=1e-10)
    # the two families coincide for k = 1 only
    torch.testing.assert_close(cb_subset_probs(w, 1)[1], subset_probs(w, 1)[1])
    assert (cb_subset_probs(w, 2)[1] - subset_probs(w, 2)[1]).abs().max() > 1e-3


def test_masked_items_get_zero_mass_and_finite_gradients():
    w = torch.tensor(
        [[0.3, NEG_INF, -1.0, 2.0, NEG_INF, 0.5], [NEG_INF, NEG_INF, NEG_INF, 1.0, 0.0, -2.0]],
        dtype=torch.float64,
    )
    leaf = w.clone().requires_grad_()
    mu = cb_marginals(leaf, 3)
    _, probs = cb_subset_probs(w, 3)
    log_z, mu_enum = _enumerated(w, 3)
    torch.testing.assert_close(mu, mu_enum, rtol=0, atol=1e-10)
    assert (mu[0, [1, 4]] == 0).all() and torch.allclose(mu[1, 3:], torch.ones(3, dtype=w.dtype))
    (mu**2 * torch.arange(6.0, dtype=w.dtype)).sum().backward()
    assert torch.isfinite(leaf.grad).all()
    z = cb_sample(w.expand(500, 2, 6), 3)
    assert (z.sum(-1) == 3).all() and (z[:, 0, [1, 4]] == 0).all() and (z[:, 1, 3:] == 1).all()
    with pytest.raises(ValueError, match="finite entries"):
        cb_marginals(w, 4)


def test_sample_is_k_hot_reproducible_and_keeps_dtype():
    w = torch.randn(5, 9)
    z = cb_sample(w, 4, generator=torch.Generator().manual_seed(1))
    assert z.dtype == torch.float32 and z.shape == (5, 9)
    assert ((z == 0) | (z == 1)).all() and (z.sum(-1) == 4).all()
    assert torch.equal(z, cb_sample(w, 4, generator=torch.Generator().manual_seed(1)))


def _subset_counts(khot, subsets):
    index = {sum(1 << i for i in s): c for c, s in enumerate(subsets)}
    codes = (khot.long() * (1 << torch.arange(khot.shape[-1]))).sum(-1)
    counts = torch.zeros(len(subsets))
    for code, count in zip(*torch.unique(codes, return_counts=True)):
        counts[index[int(code)]] = float(count)
    return counts


def test_simple_samples_pass_chi_square_against_cb_subset_probs():
    n, k, draws = 6, 3, 20_000
    w = torch.tensor([1.0, -0.5, 0.3, 2.0, -1.2, 0.0], dtype=torch.float64)
    est = make_estimator("simple", k)
    khot = est.sample(w.expand(draws, n), generator=torch.Generator().manual_seed(0)).khot.detach()
    assert torch.allclose(khot, khot.round(), atol=1e-12)  # the forward pass is an exact k-hot
    subsets, probs = cb_subset_probs(w, k)
    counts = _subset_counts(khot.round(), subsets)
    result = chisquare(counts.numpy(), (probs * draws).numpy())
    assert result.pvalue > 1e-3, result
    # power: the same test rejects the PL-WOR (Gumbel-top-k) subset distribution
    wrong = subset_probs(w, k)[1]
    assert chisquare(counts.numpy(), (wrong * draws).numpy()).pvalue < 1e-6


def test_simple_is_exact_for_a_linear_loss():
    """For f(z) = c . z every SIMPLE estimate equals d/dw E_CB[c . z] = (d mu / d w)^T c."""
    n, k = 7, 3
    w = torch.randn(n, dtype=torch.float64)
    c = torch.randn(n, dtype=torch.float64)
    leaf = w.clone().requires_grad_()
    subsets, probs = cb_subset_probs(leaf, k)
    (exact,) = torch.autograd.grad(expected_loss(probs, subsets, lambda z: z @ c, n), leaf)
    rows = w.expand(50, n).clone().requires_grad_()
    est = make_estimator("simple", k)
    sample = est.sample(rows)
    est.surrogate(sample, sample.khot @ c).backward()
    torch.testing.assert_close(rows.grad * 50, exact.expand(50, n), rtol=0, atol=1e-10)


def test_imle_backward_is_the_difference_of_map_states():
    n, k, lam, tau = 8, 3, 2.0, 0.5
    w = torch.randn(4, n, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(4, n, dtype=torch.float64)
    est = make_estimator("imle", k, lambda_=lam, tau=tau)
    sample = est.sample(w, generator=torch.Generator().manual_seed(3))
    (sample.khot * upstream).sum().backward()
    noise = tau * sample_sum_of_gamma(w.shape, k, dtype=w.dtype, generator=torch.Generator().manual_seed(3))
    z = torch.zeros_like(w).scatter(-1, torch.topk(w.detach() + noise, k).indices, 1.0)
    z_target = torch.zeros_like(w).scatter(
        -1, torch.topk(w.detach() - lam * upstream + noise, k).indices, 1.0
    )
    assert torch.equal(sample.khot.detach(), z)
    torch.testing.assert_close(w.grad, (z - z_target) / lam)


def test_sum_of_gamma_noise_mean_and_generator():
    k, draws, terms = 4, 200_000, 10
    before = torch.random.get_rng_state()
    eps = sample_sum_of_gamma((draws,), k, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global generator is untouched
    again = sample_sum_of_gamma((draws,), k, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.equal(eps, again)
    # E[eps] = (1/k) (sum_i E Gamma(1/k, scale k/i) - log s) = (H_s - log s) / k
    expected = (sum(1.0 / i for i in range(1, terms + 1)) - math.log(terms)) / k
    se = float(eps.std()) / math.sqrt(draws)
    assert abs(float(eps.mean()) - expected) < 4 * se


@pytest.mark.parametrize("name", ["simple", "imle"])
def test_cb_estimators_interface(name):
    est = make_estimator(name, 3)
    assert est.target == "cb" and est.biased
    assert "Target" in type(est).__doc__ and "iased" in type(est).__doc__
    logits = torch.randn(5, 8, requires_grad=True)
    sample = est.sample(logits)
    assert sample.khot.shape == (5, 8)
    assert torch.allclose(sample.khot.detach().sum(-1), torch.full((5,), 3.0))
    loss = (sample.khot * torch.arange(8.0)).sum(-1)
    out = est.surrogate(sample, loss)
    torch.testing.assert_close(out, loss.mean())
    out.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    stacked = make_estimator(name, 3, num_samples=4).sample(torch.randn(5, 8))
    assert stacked.khot.shape == (4, 5, 8)


@pytest.mark.parametrize("name", ["simple", "imle"])
@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_cb_estimators_finite_on_extreme_and_masked_logits(name, scale):
    est = make_estimator(name, 3)
    logits = torch.randn(16, 10, dtype=torch.float64) * scale
    logits[:, [2, 7]] = NEG_INF
    logits.requires_grad_()
    sample = est.sample(logits)
    assert (sample.khot.detach()[:, [2, 7]] == 0).all()
    loss = (sample.khot**2 * torch.linspace(-1, 1, 10, dtype=torch.float64)).sum(-1)
    est.surrogate(sample, loss).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"lambda_": 0.0}, "lambda_"),
        ({"lambda_": float("inf")}, "lambda_"),
        ({"tau": -1.0}, "tau"),
        ({"lambda": 1.0}, "allowed: lambda_, num_samples, tau"),
    ],
)
def test_imle_options_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        make_estimator("imle", 2, **options)


def test_simple_takes_no_temperature():
    with pytest.raises(ValueError, match="does not take"):
        make_estimator("simple", 2, tau=1.0)
