"""Every registered estimator held to its law and its gradient, against references written here.

For each name in the registry, through ``make_estimator(...).sample`` and ``.surrogate``:

* the law of its hard sample is tested against the exact distribution of its declared family
  (chi-square, fixed seed), and the same test is shown to reject the variant with reversed
  Gumbel noise (``w - g``) or, for the exact CB sampler, the other family;
* straight-through's forward pass is exactly k-hot, concrete's output lies in [0, 1] and sums
  to at most k;
* pathwise estimators: the gradient on a fixed generator equals autograd through a textbook
  computation on the same noise;
* score-function estimators: the gradient is unbiased within Monte Carlo error at batch sizes
  1 and 2, and has lower variance than REINFORCE without a baseline.

The references (PL-WOR and CB laws by enumeration, the relaxations written as loops) share no
code with the library: they are written from the formulas, so a bug in the library cannot be
copied into its own expected value.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from conftest import textbook_relaxed_steps
from scipy import stats

from subsetgrad import available_estimators, cb_log_prob, estimator_class, make_estimator

N_ITEMS, K = 5, 2
W = torch.tensor([1.5, 0.8, 0.0, -0.6, -1.2], dtype=torch.float64)
SUBSETS = list(itertools.combinations(range(N_ITEMS), K))
DRAWS = 5000  # samples per law test
ALPHA = 1e-3  # a correct sampler fails a law test with probability 1e-3 (the seeds are fixed)


# --- reference laws, from the formulas ----------------------------------------------------------
def pl_ordered_probs(w, k):
    """PL-WOR probability of every ordered k-tuple: prod_j exp(w_sj) / sum_{i not drawn} exp(w_i)."""
    weights = [math.exp(x) for x in w.tolist()]
    probs = {}
    for order in itertools.permutations(range(len(weights)), k):
        prob, rest = 1.0, sum(weights)
        for i in order:
            prob *= weights[i] / rest
            rest -= weights[i]
        probs[order] = prob
    return probs


def pl_set_probs(w, k):
    """PL-WOR probability of every k-subset: the sum over its k! orderings."""
    probs = dict.fromkeys(itertools.combinations(range(len(w)), k), 0.0)
    for order, prob in pl_ordered_probs(w, k).items():
        probs[tuple(sorted(order))] += prob
    return np.array([probs[s] for s in itertools.combinations(range(len(w)), k)])


def reversed_noise_set_probs(w, k):
    """Law of top-k(w - g): the complement of top-(n-k)(-w + g), a PL-WOR sample under -w."""
    n = len(w)
    complements = dict(zip(itertools.combinations(range(n), n - k), pl_set_probs(-w, n - k)))
    return np.array(
        [complements[tuple(i for i in range(n) if i not in s)] for s in itertools.combinations(range(n), k)]
    )


def cb_set_probs(w, k):
    """Conditional Bernoulli: p(S) proportional to exp(sum_{i in S} w_i)."""
    scores = np.array([sum(w[list(s)].tolist()) for s in itertools.combinations(range(len(w)), k)])
    weights = np.exp(scores - scores.max())
    return weights / weights.sum()


def union_of_draws_probs(w, k):
    """Law of the set of distinct items in k independent draws from softmax(w)."""
    p = torch.softmax(w, -1).tolist()
    probs = {}
    for draws in itertools.product(range(len(p)), repeat=k):
        key = tuple(sorted(set(draws)))
        probs[key] = probs.get(key, 0.0) + math.prod(p[i] for i in draws)
    return probs


# --- counting -----------------------------------------------------------------------------------
def set_counts(khot):
    """Counts of each k-subset (``SUBSETS`` order) among the top-k of rows of ``khot``."""
    top = torch.topk(khot.reshape(-1, N_ITEMS), K, dim=-1).indices.sort(-1).values
    codes = (top * torch.tensor([N_ITEMS, 1])).sum(-1)
    counts = torch.bincount(codes, minlength=N_ITEMS * N_ITEMS)
    return np.array([int(counts[a * N_ITEMS + b]) for a, b in SUBSETS], dtype=float)


def chi_square_p(counts, probs):
    return stats.chisquare(counts, counts.sum() * np.asarray(probs)).pvalue


def power_against(true_probs, wrong_probs, draws):
    """Probability that the chi-square test at ``ALPHA`` rejects samples of ``wrong_probs``."""
    p, q = np.asarray(true_probs), np.asarray(wrong_probs)
    noncentrality = draws * float(((q - p) ** 2 / p).sum())
    df = len(p) - 1
    return stats.ncx2.sf(stats.chi2.ppf(1 - ALPHA, df), df, noncentrality)


# --- how each estimator is held to its law ------------------------------------------------------
# A hard sample: the forward k-hot where the estimator has one, else the top-k of the relaxed
# output at a low temperature (the relaxations converge to the top-k of the perturbed scores).
HARD_OPTIONS = {
    "relaxed": {"tau": 0.05},
    "neuralsort": {"tau": 0.05},
    "straight_through": {"tau": 0.5},
    "concrete": {"tau": 0.05},
    "imle": {"tau": 1.0, "lambda_": 10.0},
}
# The module attribute each estimator's noise comes from, to build the reversed-noise variant.
NOISE_SOURCE = {
    "relaxed": ("subsetgrad.estimators", "sample_gumbel"),
    "neuralsort": ("subsetgrad.estimators", "sample_gumbel"),
    "straight_through": ("subsetgrad.estimators", "sample_gumbel"),
    "concrete": ("subsetgrad.estimators", "sample_gumbel"),
    "reinforce": ("subsetgrad.gumbel", "sample_gumbel"),
    "reinforce_loo": ("subsetgrad.gumbel", "sample_gumbel"),
    "imle": ("subsetgrad.estimators_cb", "sample_sum_of_gamma"),
}
PATHWISE = ["relaxed", "straight_through", "concrete", "neuralsort", "simple", "imle"]
SCORE_FUNCTION = ["reinforce", "reinforce_loo"]


def test_every_registered_estimator_is_held_to_a_law_and_a_gradient():
    """Both ways: a new estimator must be added here, and no name here may be stale."""
    registered = set(available_estimators())
    assert set(PATHWISE) | set(SCORE_FUNCTION) == registered
    assert set(HARD_OPTIONS) | {"simple", "reinforce", "reinforce_loo"} == registered


def _hard_sample(name, generator):
    est = make_estimator(name, K, **HARD_OPTIONS.get(name, {}))
    return est.sample(W.expand(DRAWS, N_ITEMS), generator=generator).khot.detach()


def _reversed(monkeypatch, name):
    module_name, attribute = NOISE_SOURCE[name]
    module = __import__(module_name, fromlist=[attribute])
    original = getattr(module, attribute)
    monkeypatch.setattr(module, attribute, lambda *a, **kw: -original(*a, **kw))


@pytest.mark.parametrize("name", ["relaxed", "neuralsort", "straight_through", "reinforce", "reinforce_loo"])
def test_pl_wor_hard_sample_law_and_power(name, monkeypatch):
    assert estimator_class(name).target == "pl_wor"
    exact = pl_set_probs(W, K)
    wrong = reversed_noise_set_probs(W, K)
    # the design has power: reversed noise is rejected with probability > 0.999 at this size
    assert power_against(exact, wrong, DRAWS) > 0.999
    counts = set_counts(_hard_sample(name, torch.Generator().manual_seed(11)))
    assert chi_square_p(counts, exact) > ALPHA
    _reversed(monkeypatch, name)
    counts = set_counts(_hard_sample(name, torch.Generator().manual_seed(11)))
    assert chi_square_p(counts, exact) < ALPHA


@pytest.mark.parametrize("name", ["reinforce", "reinforce_loo"])
def test_score_function_ordered_sample_and_its_log_probability(name):
    """The ordered sample follows PL-WOR and ``log_prob`` is its textbook log-probability."""
    est = make_estimator(name, K)
    sample = est.sample(W.expand(1000, N_ITEMS), generator=torch.Generator().manual_seed(5))
    ordered = pl_ordered_probs(W, K)
    orders = list(ordered)
    flat = sample.indices.reshape(-1, K).tolist()
    counts = np.array([sum(1 for row in flat if tuple(row) == o) for o in orders], dtype=float)
    assert chi_square_p(counts, [ordered[o] for o in orders]) > ALPHA
    expected = torch.tensor([math.log(ordered[tuple(row)]) for row in flat], dtype=torch.float64)
    torch.testing.assert_close(sample.log_prob.reshape(-1), expected)
    khot = torch.zeros(len(flat), N_ITEMS, dtype=torch.float64)
    khot.scatter_(1, torch.tensor(flat), 1.0)
    torch.testing.assert_close(sample.khot.reshape(-1, N_ITEMS), khot, rtol=0, atol=0)


def test_simple_samples_the_cb_law_and_the_test_tells_the_families_apart():
    assert estimator_class("simple").target == "cb"
    exact, other = cb_set_probs(W, K), pl_set_probs(W, K)
    assert power_against(exact, other, DRAWS) > 0.999
    khot = _hard_sample("simple", torch.Generator().manual_seed(3))
    assert ((khot == 0) | (khot == 1)).all() and (khot.sum(-1) == K).all()
    assert chi_square_p(set_counts(khot), exact) > ALPHA
    # power: the PL-WOR sampler's output is rejected as a CB sample
    pl = _hard_sample("reinforce", torch.Generator().manual_seed(3))
    assert chi_square_p(set_counts(pl), exact) < ALPHA


def _sum_of_gamma_reference(rows, k, rng, terms=10):
    """Niepert et al.'s Sum-of-Gamma noise drawn with numpy, from its formula."""
    total = sum(rng.gamma(shape=1.0 / k, scale=k / i, size=(rows, N_ITEMS)) for i in range(1, terms + 1))
    return (total - math.log(terms)) / k


def test_imle_perturb_and_map_law_and_power(monkeypatch):
    """I-MLE's forward pass is top-k(w + tau * eps) with Sum-of-Gamma eps: its law is compared
    with that of an independent numpy sampler by a two-sample chi-square (the exact law has no
    closed form; CB is its declared target only approximately)."""
    assert estimator_class("imle").target == "cb"
    noise = _sum_of_gamma_reference(DRAWS, K, np.random.default_rng(0))
    reference = set_counts(torch.from_numpy(W.numpy() + noise))

    def two_sample_p(khot):
        return stats.chi2_contingency(np.stack([set_counts(khot), reference])).pvalue

    khot = _hard_sample("imle", torch.Generator().manual_seed(4))
    assert ((khot == 0) | (khot == 1)).all() and (khot.sum(-1) == K).all()
    assert two_sample_p(khot) > ALPHA
    _reversed(monkeypatch, "imle")
    assert two_sample_p(_hard_sample("imle", torch.Generator().manual_seed(4))) < ALPHA


def test_concrete_is_in_the_unit_box_and_samples_with_replacement(monkeypatch):
    """Concrete at a low temperature: its support is the set of distinct items among k
    independent softmax(w) draws (with replacement, so sometimes fewer than k items)."""
    union = union_of_draws_probs(W, K)
    keys = list(union)

    def support_counts(khot):
        support = khot > 0.5
        codes = (support.long() * (2 ** torch.arange(N_ITEMS))).sum(-1)
        counts = torch.bincount(codes, minlength=2**N_ITEMS)
        assert counts.sum() == DRAWS
        return np.array([int(counts[sum(2**i for i in key)]) for key in keys], dtype=float)

    khot = _hard_sample("concrete", torch.Generator().manual_seed(8))
    assert chi_square_p(support_counts(khot), [union[key] for key in keys]) > ALPHA
    _reversed(monkeypatch, "concrete")
    reversed_khot = _hard_sample("concrete", torch.Generator().manual_seed(8))
    assert chi_square_p(support_counts(reversed_khot), [union[key] for key in keys]) < ALPHA


@pytest.mark.parametrize("tau", [0.3, 3.0])
def test_concrete_output_is_within_the_unit_box_with_sum_at_most_k(tau):
    est = make_estimator("concrete", 3, tau=tau)
    khot = est.sample(
        torch.randn(400, 6, dtype=torch.float64), generator=torch.Generator().manual_seed(0)
    ).khot
    assert (khot >= 0).all() and (khot <= 1).all()
    assert (khot.sum(-1) <= 3 + 1e-12).all()
    # and not trivially: at a high temperature the sum is strictly between 1 and k
    if tau > 1:
        assert (khot.sum(-1) > 1).all() and (khot.sum(-1) < 3).all()


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_straight_through_forward_is_exactly_k_hot(tau):
    est = make_estimator("straight_through", 3, tau=tau)
    logits = torch.randn(300, 7, dtype=torch.float64, requires_grad=True)
    khot = est.sample(logits, generator=torch.Generator().manual_seed(2)).khot
    assert ((khot == 0) | (khot == 1)).all() and (khot.sum(-1) == 3).all()


# --- pathwise gradients against a textbook computation on the same noise -----------------------
def _gumbel(shape, seed):
    """The noise the estimators draw from ``torch.Generator().manual_seed(seed)``: g = -log(-log u)."""
    u = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return -torch.log(-torch.log(u))


def textbook_relaxed(scores, k, tau):
    """Xie & Ermon, Algorithm 2, as a loop: a_j = softmax((r + sum_{l<j} log(1 - a_l)) / tau)."""
    return sum(textbook_relaxed_steps(scores, k, tau))


def textbook_neuralsort(scores, k, tau):
    """Grover et al.: row i of the relaxed sort is softmax(((n + 1 - 2i) s - A 1) / tau), i = 1..k."""
    n = scores.shape[-1]
    row_sums = torch.stack([(scores - scores[..., b : b + 1]).abs() for b in range(n)], -1).sum(-1)
    return sum(torch.softmax(((n + 1 - 2 * i) * scores - row_sums) / tau, dim=-1) for i in range(1, k + 1))


def _downstream(khot, c):
    """A nonlinear loss per row, so that the gradient depends on where the output lands."""
    return torch.sin(2 * (khot * c).sum(-1)) + (khot * c.flip(-1)).sum(-1) ** 2


def _gradient(fn, logits):
    w = logits.clone().requires_grad_()
    khot, surrogate = fn(w)
    (grad,) = torch.autograd.grad(surrogate, w)
    return (None if khot is None else khot.detach()), grad


PATHWISE_REFERENCE = {
    "relaxed": lambda w, g, tau: textbook_relaxed(w + g, K, tau),
    "straight_through": lambda w, g, tau: _straight_through(textbook_relaxed(w + g, K, tau), w + g),
    "neuralsort": lambda w, g, tau: textbook_neuralsort(w + g, K, tau),
}


def _straight_through(soft, scores):
    hard = torch.zeros_like(scores).scatter(-1, torch.topk(scores.detach(), K, -1).indices, 1.0)
    return hard - soft.detach() + soft


@pytest.mark.parametrize("name", ["relaxed", "straight_through", "neuralsort"])
@pytest.mark.parametrize("tau", [0.3, 2.0])
def test_pathwise_gradient_is_autograd_through_the_textbook_formula(name, tau):
    logits = torch.randn(6, N_ITEMS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = torch.linspace(-1, 2, N_ITEMS, dtype=torch.float64)
    est = make_estimator(name, K, tau=tau)

    def library(w):
        sample = est.sample(w, generator=torch.Generator().manual_seed(7))
        return sample.khot, est.surrogate(sample, _downstream(sample.khot, c))

    def textbook(w):
        khot = PATHWISE_REFERENCE[name](w, _gumbel(w.shape, 7), tau)
        return khot, _downstream(khot, c).mean()

    khot, grad = _gradient(library, logits)
    expected_khot, expected_grad = _gradient(textbook, logits)
    torch.testing.assert_close(khot, expected_khot)
    torch.testing.assert_close(grad, expected_grad)
    assert expected_grad.abs().max() > 1e-3  # the comparison is not between two zeros


@pytest.mark.parametrize("tau", [0.3, 2.0])
def test_concrete_gradient_is_autograd_through_the_textbook_formula(tau):
    logits = torch.randn(6, N_ITEMS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = torch.linspace(-1, 2, N_ITEMS, dtype=torch.float64)
    est = make_estimator("concrete", K, tau=tau)

    def library(w):
        sample = est.sample(w, generator=torch.Generator().manual_seed(7))
        return sample.khot, est.surrogate(sample, _downstream(sample.khot, c))

    def textbook(w):
        noise = _gumbel((K, *w.shape), 7)  # k independent Gumbel draws per row
        draws = [torch.softmax((w + noise[j]) / tau, dim=-1) for j in range(K)]
        khot = draws[0]
        for draw in draws[1:]:
            khot = torch.maximum(khot, draw)
        return khot, _downstream(khot, c).mean()

    khot, grad = _gradient(library, logits)
    expected_khot, expected_grad = _gradient(textbook, logits)
    torch.testing.assert_close(khot, expected_khot)
    torch.testing.assert_close(grad, expected_grad)
    assert expected_grad.abs().max() > 1e-3


def _cb_log_normalizer_by_enumeration(w, k):
    scores = torch.stack([w[..., list(s)].sum(-1) for s in itertools.combinations(range(w.shape[-1]), k)], -1)
    return torch.logsumexp(scores, -1)


def test_simple_gradient_is_the_marginals_jacobian_applied_to_the_sample_gradient():
    """SIMPLE: forward an exact CB sample z, backward through the marginals mu = d log Z / d w."""
    logits = torch.randn(4, N_ITEMS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = torch.linspace(-1, 2, N_ITEMS, dtype=torch.float64)
    est = make_estimator("simple", K)
    sample = est.sample(logits, generator=torch.Generator().manual_seed(3))
    z = sample.khot.detach()
    assert ((z == 0) | (z == 1)).all() and (z.sum(-1) == K).all()

    def library(w):
        s = est.sample(w, generator=torch.Generator().manual_seed(3))
        return s.khot, est.surrogate(s, _downstream(s.khot, c))

    def textbook(w):
        (marginals,) = torch.autograd.grad(
            _cb_log_normalizer_by_enumeration(w, K).sum(), w, create_graph=True
        )
        khot = z - marginals.detach() + marginals
        return khot, _downstream(khot, c).mean()

    khot, grad = _gradient(library, logits)
    expected_khot, expected_grad = _gradient(textbook, logits)
    torch.testing.assert_close(khot, expected_khot)
    torch.testing.assert_close(grad, expected_grad)
    assert expected_grad.abs().max() > 1e-3


@pytest.mark.parametrize("lambda_", [0.5, 10.0])
def test_imle_gradient_is_the_difference_of_map_states(lambda_):
    """I-MLE: dL/dw = (topk(w + eps) - topk(w - lambda dL/dz + eps)) / lambda, same eps."""
    from subsetgrad.estimators_cb import sample_sum_of_gamma

    logits = torch.randn(8, N_ITEMS, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    c = torch.linspace(-3, 3, N_ITEMS, dtype=torch.float64)
    est = make_estimator("imle", K, lambda_=lambda_)

    def topk(scores):
        return torch.zeros_like(scores).scatter(-1, torch.topk(scores, K, -1).indices, 1.0)

    def library(w):
        s = est.sample(w, generator=torch.Generator().manual_seed(9))
        return s.khot, est.surrogate(s, _downstream(s.khot, c))

    khot, grad = _gradient(library, logits)
    eps = sample_sum_of_gamma(
        logits.shape, K, dtype=torch.float64, generator=torch.Generator().manual_seed(9)
    )
    z = topk(logits + eps)
    zr = z.clone().requires_grad_()
    (grad_z,) = torch.autograd.grad(_downstream(zr, c).mean(), zr)
    expected = (z - topk(logits - lambda_ * grad_z + eps)) / lambda_
    torch.testing.assert_close(khot, z, rtol=0, atol=0)
    torch.testing.assert_close(grad, expected)
    assert expected.abs().max() > 0


def test_cb_log_prob_gradient_is_the_log_softmax_over_subsets():
    """The normaliser must carry gradient: d log p(z) / d w = z - mu."""
    w = torch.randn(3, N_ITEMS, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    khot = torch.zeros(3, N_ITEMS, dtype=torch.float64)
    khot[:, :K] = 1.0
    _, grad = _gradient(lambda v: (None, cb_log_prob(v, khot, K).sum()), w)
    _, expected = _gradient(
        lambda v: (None, ((khot * v).sum(-1) - _cb_log_normalizer_by_enumeration(v, K)).sum()), w
    )
    torch.testing.assert_close(grad, expected)


# --- score-function estimators: unbiased at small batches, variance reduced by the baseline -----
C_SCORE = torch.tensor([1.0, -0.5, 2.0, 0.3, -1.5], dtype=torch.float64)


def _score_loss(khot):
    # a large offset: without a baseline the score term's variance is dominated by it
    return 4.0 + (khot * C_SCORE).sum(-1) ** 2


def _exact_pl_gradient():
    w = W.clone().requires_grad_()
    total = 0.0
    for order in itertools.permutations(range(N_ITEMS), K):
        log_p = sum(
            w[i] - torch.logsumexp(w[[j for j in range(N_ITEMS) if j not in order[:t]]], 0)
            for t, i in enumerate(order)
        )
        z = torch.zeros(N_ITEMS, dtype=torch.float64)
        z[list(order)] = 1.0
        total = total + log_p.exp() * _score_loss(z)
    (grad,) = torch.autograd.grad(total, w)
    return grad


def _score_function_gradients(name, batch_size, batches, seed):
    """One gradient of the mean loss per batch, with the estimator and, on the same samples,
    textbook REINFORCE without a baseline: f(z) grad log p(z)."""
    est = make_estimator(name, K)
    generator = torch.Generator().manual_seed(seed)
    with_baseline, without = [], []
    for _ in range(batches):
        w = W.expand(batch_size, N_ITEMS).clone().requires_grad_()
        sample = est.sample(w, generator=generator)
        loss = _score_loss(sample.khot)
        (grad,) = torch.autograd.grad(est.surrogate(sample, loss), w, retain_graph=True)
        (plain,) = torch.autograd.grad((loss.detach() * sample.log_prob).mean(), w)
        with_baseline.append(grad.sum(0))
        without.append(plain.sum(0))
    return torch.stack(with_baseline), torch.stack(without)


@pytest.mark.parametrize("name", SCORE_FUNCTION)
@pytest.mark.parametrize("batch_size, batches", [(1, 400), (2, 200)])
def test_score_function_gradient_is_unbiased_at_small_batches(name, batch_size, batches):
    grads, plain = _score_function_gradients(name, batch_size, batches, seed=batch_size)
    exact = _exact_pl_gradient()
    se = grads.std(0) / math.sqrt(batches)
    # 4 standard errors per coordinate: a false alarm has probability < 1e-3 over 5 coordinates
    assert ((grads.mean(0) - exact).abs() < 4 * se).all(), (grads.mean(0), exact, se)
    # power: a gradient of half the size is rejected (what a baseline from the batch itself gives)
    assert ((grads.mean(0) - exact / 2).abs() > 4 * se).any()
    # variance: the baseline removes most of the offset's contribution
    assert grads.var(0).sum() < 0.5 * plain.var(0).sum()


def test_the_reinforce_baseline_never_depends_on_the_current_sample():
    """b is the moving average of *past* mean losses: the first step's is 0, then it moves."""
    est = make_estimator("reinforce", K, baseline_decay=0.5)
    losses = []
    for seed in range(3):
        sample = est.sample(W.expand(4, N_ITEMS), generator=torch.Generator().manual_seed(seed))
        loss = _score_loss(sample.khot)
        before = float(est.baseline)
        est.surrogate(sample, loss)
        losses.append(float(loss.mean()))
        if seed == 0:
            assert before == 0.0 and float(est.baseline) == pytest.approx(losses[0])
        else:
            assert float(est.baseline) == pytest.approx(0.5 * before + 0.5 * losses[-1])
