"""Edges of the core library that the law and gradient tests do not reach: input checks and
their messages, dtypes, batch dimensions, clamped noise, reproducibility from a generator,
and the leave-one-out and exact-CB computations on the same draws. Written against the
mutation run (docs/testing.md): each test here fails for a plausible wrong implementation."""

import itertools
import math

import pytest
import torch
from conftest import textbook_relaxed_steps

import subsetgrad
from subsetgrad import (
    cb_log_normalizer,
    cb_log_prob,
    cb_marginals,
    cb_sample,
    gumbel_topk,
    make_estimator,
    pl_log_prob,
    relaxed_topk,
    sample_gumbel,
    subset_probs,
    topk_khot,
)
from subsetgrad.estimators_cb import sample_sum_of_gamma
from subsetgrad.exact import expected_loss

NEG_INF = float("-inf")


# --- checks and their messages ------------------------------------------------------------------
def test_relaxed_topk_messages_name_the_scores():
    with pytest.raises(ValueError, match="scores contains NaN"):
        relaxed_topk(torch.tensor([0.0, float("nan"), 1.0]), 1, 1.0)
    with pytest.raises(ValueError, match="scores must be a torch.Tensor"):
        relaxed_topk([0.0, 1.0], 1, 1.0)
    with pytest.raises(ValueError, match="scores has a row with only 1 finite"):
        relaxed_topk(torch.tensor([[0.0, NEG_INF, NEG_INF]]), 2, 1.0)


def test_k_larger_than_n_is_named_everywhere():
    with pytest.raises(ValueError, match="indices.shape\\[-1\\]=3 is larger than"):
        pl_log_prob(torch.zeros(2), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="k=4 is larger than the number of items n=3"):
        topk_khot(torch.zeros(3), 4)
    with pytest.raises(ValueError, match="k=4 is larger than the number of items n=3"):
        subset_probs(torch.zeros(3), 4)


@pytest.mark.parametrize("bad", [None, "0.5", True, 2.5j])
def test_temperature_and_decay_must_be_numbers(bad):
    with pytest.raises(ValueError, match="tau must be a positive finite number"):
        make_estimator("relaxed", 2, tau=bad)
    with pytest.raises(ValueError, match="lambda_ must be a positive finite number"):
        make_estimator("imle", 2, lambda_=bad)
    with pytest.raises(ValueError, match="baseline_decay must be a number in"):
        make_estimator("reinforce", 2, baseline_decay=bad)


@pytest.mark.parametrize("bad", [2.5, "2", True, 0])
def test_num_samples_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="num_samples must be an integer >= 1"):
        make_estimator("relaxed", 2, num_samples=bad)


def test_option_boundaries_are_accepted():
    assert make_estimator("reinforce", 2, baseline_decay=0.0).baseline_decay == 0.0
    assert make_estimator("reinforce_loo", 2, num_samples=2).num_samples == 2
    with pytest.raises(ValueError, match="num_samples must be an integer >= 2"):
        make_estimator("reinforce_loo", 2, num_samples=1)


def test_value_checks_cover_single_items_and_empty_batches():
    with pytest.raises(ValueError, match="only 0 finite entries"):
        gumbel_topk(torch.tensor([NEG_INF]), 1)
    assert make_estimator("relaxed", 2, tau=1.0).sample(torch.empty(0, 5)).khot.shape == (0, 5)


def test_subset_probs_rejects_what_it_cannot_enumerate():
    with pytest.raises(ValueError, match="floating-point torch.Tensor"):
        subset_probs([0.0, 1.0], 1)
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        subset_probs(torch.tensor([0.0, float("nan"), 1.0]), 1)
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        subset_probs(torch.tensor([0.0, float("inf"), 1.0]), 1)


def test_registry_rejects_a_second_registration_and_records_names():
    with pytest.raises(RuntimeError, match="registered twice"):
        subsetgrad.register("relaxed")(type("Another", (subsetgrad.Estimator,), {}))
    for name in subsetgrad.available_estimators():
        assert subsetgrad.estimator_class(name).name == name
        assert type(make_estimator(name, 2)).name == name


# --- noise --------------------------------------------------------------------------------------
def test_gumbel_noise_is_finite_at_the_ends_of_the_unit_interval(monkeypatch):
    """u = 0 and u = 1 (which torch.rand can return in float32 after rounding) are clamped."""
    for dtype in (torch.float32, torch.float64):
        ends = torch.tensor([0.0, 1.0, 0.5], dtype=dtype)
        monkeypatch.setattr(torch, "rand", lambda *a, ends=ends, **kw: ends.clone())
        g = sample_gumbel((3,), dtype=dtype)
        monkeypatch.undo()
        assert torch.isfinite(g).all() and g.dtype == dtype
        tiny, eps = torch.finfo(dtype).tiny, torch.finfo(dtype).eps
        expected = -torch.log(-torch.log(torch.tensor([tiny, 1 - eps, 0.5], dtype=dtype)))
        torch.testing.assert_close(g, expected, rtol=0, atol=0)


def test_samplers_are_reproducible_from_their_generator():
    w = torch.randn(4, 7, dtype=torch.float64)
    for draw in (
        lambda g: gumbel_topk(w, 3, generator=g),
        lambda g: make_estimator("reinforce", 3).sample(w, generator=g).indices,
        lambda g: cb_sample(w, 3, generator=g),
        lambda g: sample_sum_of_gamma((4, 7), 3, generator=g),
    ):
        assert torch.equal(draw(torch.Generator().manual_seed(5)), draw(torch.Generator().manual_seed(5)))
        assert not torch.equal(draw(torch.Generator().manual_seed(5)), draw(torch.Generator().manual_seed(6)))


def test_sum_of_gamma_noise_dtype_default_terms_and_fresh_draws():
    import inspect

    assert inspect.signature(sample_sum_of_gamma).parameters["terms"].default == 10  # the paper's s
    noise = sample_sum_of_gamma((200,), 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert noise.dtype == torch.float64
    # drawn in float64, not float32 widened
    assert (noise != noise.float().double()).float().mean() > 0.9
    # successive calls on one generator give fresh noise (the seeds drawn from it do not repeat)
    generator = torch.Generator().manual_seed(1)
    firsts = {float(sample_sum_of_gamma((1,), 2, generator=generator)) for _ in range(60)}
    assert len(firsts) == 60


# --- estimator details --------------------------------------------------------------------------
def test_several_samples_stack_on_a_leading_dimension():
    w = torch.randn(5, 6)
    for name, options in (("relaxed", {"tau": 1.0}), ("reinforce", {}), ("simple", {})):
        assert make_estimator(name, 2, num_samples=2, **options).sample(w).khot.shape == (2, 5, 6)
    assert make_estimator("reinforce", 2, num_samples=3).sample(w).khot.shape == (3, 5, 6)


def test_reinforce_baseline_buffers_keep_their_dtypes_for_exact_resumption():
    est = make_estimator("reinforce", 2)
    assert est.baseline.dtype == torch.float64 and est.baseline_steps.dtype == torch.long
    sample = est.sample(torch.randn(3, 5))
    est.surrogate(sample, torch.full((3,), 1 / 3, dtype=torch.float32))
    assert est.baseline.dtype == torch.float64


def test_leave_one_out_gradient_on_the_same_samples():
    """grad = (1/m) sum_i (f_i - mean_{j != i} f_j) grad log p(s_i), per example."""
    est = make_estimator("reinforce_loo", 2, num_samples=4)
    w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    sample = est.sample(w, generator=torch.Generator().manual_seed(2))
    loss = (sample.khot * torch.arange(6.0, dtype=torch.float64)).sum(-1) ** 2  # [4, 3]
    (grad,) = torch.autograd.grad(est.surrogate(sample, loss), w)
    expected = torch.zeros_like(w)
    for i in range(4):
        others = (loss.sum(0) - loss[i]) / 3
        (score,) = torch.autograd.grad(pl_log_prob(w, sample.indices[i]).sum(), w)
        expected += (loss[i] - others).unsqueeze(-1) * score / (4 * 3)
    torch.testing.assert_close(grad, expected)


def test_simple_reports_its_marginals():
    w = torch.randn(2, 6, dtype=torch.float64)
    sample = make_estimator("simple", 3).sample(w)
    torch.testing.assert_close(sample.extras["marginals"], cb_marginals(w, 3))


def test_neuralsort_on_three_dimensional_input_is_the_textbook_formula():
    """Leading dimensions are batch dimensions, also where items are masked."""
    est = make_estimator("neuralsort", 2, tau=0.5)
    w = torch.randn(2, 3, 5, dtype=torch.float64)
    sample = est.sample(w, generator=torch.Generator().manual_seed(4))
    u = torch.rand(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    s = w - torch.log(-torch.log(u))
    for index in itertools.product(range(2), range(3)):
        row = s[index]
        row_sums = torch.stack([(row - row[b]).abs() for b in range(5)]).sum(0)
        expected = sum(torch.softmax(((5 + 1 - 2 * i) * row - row_sums) / 0.5, -1) for i in (1, 2))
        torch.testing.assert_close(sample.khot[index], expected)
    masked = w.clone()
    masked[0, 1, [0, 3]] = NEG_INF
    masked[1, 2, 4] = NEG_INF
    khot = est.sample(masked, generator=torch.Generator().manual_seed(4)).khot
    assert (khot[0, 1, [0, 3]] == 0).all() and khot[1, 2, 4] == 0
    # masked items sit far below the others: the remaining mass is the k = 2 rows' worth
    torch.testing.assert_close(khot.sum(-1), torch.full((2, 3), 2.0, dtype=torch.float64), atol=1e-6, rtol=0)


# --- exact families: batches, precision, the same uniforms ------------------------------------
def test_cb_sample_walks_the_table_with_its_uniforms():
    """The backward walk from the formula, on the uniforms the sampler draws (float64)."""
    w = torch.randn(4, 6, dtype=torch.float32)
    z = cb_sample(w, 3, generator=torch.Generator().manual_seed(8))
    u = torch.rand(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    w64 = w.double()
    for r in range(4):

        def log_z(prefix, j, r=r):  # log of the sum over j-subsets of the first `prefix` items
            if j == 0:
                return 0.0
            subsets = itertools.combinations(range(prefix), j)
            values = [float(w64[r, list(c)].sum()) for c in subsets]
            return NEG_INF if not values else float(torch.logsumexp(torch.tensor(values), 0))

        remaining, expected = 3, [0.0] * 6
        for i in range(6, 0, -1):
            if remaining > 0:
                skip = math.exp(log_z(i - 1, remaining) - log_z(i, remaining))
                if u[r, i - 1] >= skip:
                    expected[i - 1], remaining = 1.0, remaining - 1
        assert z[r].tolist() == expected
    assert z.dtype == torch.float32


def test_exact_families_are_batched_and_float64_accurate():
    w = torch.randn(2, 3, 6, dtype=torch.float64)
    subsets, probs = subset_probs(w, 3)
    assert probs.shape == (2, 3, 20)
    for index in itertools.product(range(2), range(3)):
        torch.testing.assert_close(probs[index], subset_probs(w[index], 3)[1], rtol=1e-13, atol=0)
        scores = torch.stack([w[index][list(s)].sum() for s in subsets])
        torch.testing.assert_close(
            cb_log_normalizer(w[index], 3), torch.logsumexp(scores, 0), rtol=1e-14, atol=0
        )
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, dtype=torch.float64), rtol=1e-14, atol=0)
    values = expected_loss(probs, subsets, lambda z: z[:, 0], 6)
    assert values.shape == (2, 3)
    # log p(z) broadcasts one row of logits against several k-hots
    khot = torch.zeros(4, 6, dtype=torch.float64)
    khot[torch.arange(4).unsqueeze(1), torch.tensor([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])] = 1.0
    scores = torch.stack([w[0, 0][list(s)].sum() for s in subsets])
    expected = (khot * w[0, 0]).sum(-1) - torch.logsumexp(scores, 0)
    torch.testing.assert_close(cb_log_prob(w[0, 0], khot, 3), expected)


# --- the fused relaxed top-k: gradients reaching both the steps and their sum -------------------
@pytest.mark.parametrize("create_graph", [False, True])
def test_fused_kernel_gradient_through_steps_and_sum_together(create_graph):
    """The autograd function outputs the steps and their sum; a loss on both sums two
    cotangents in the backward (and in the differentiable backward used for double grad)."""
    from subsetgrad._relaxed_kernels import RelaxedTopK

    scores = torch.randn(3, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    c = torch.linspace(-1, 1, 7, dtype=torch.float64)

    def loss_of(outputs):
        *steps, total = outputs
        return ((steps[0] * c).sum() + (total * c.flip(0)).sum()) ** 2

    def textbook(x):
        steps = textbook_relaxed_steps(x, 3, 0.7)
        return (*steps, sum(steps))

    x = scores.clone().requires_grad_()
    (grad,) = torch.autograd.grad(
        loss_of(RelaxedTopK.apply(x, 3, 0.7, False, False)), x, create_graph=create_graph
    )
    y = scores.clone().requires_grad_()
    (expected,) = torch.autograd.grad(loss_of(textbook(y)), y, create_graph=create_graph)
    torch.testing.assert_close(grad, expected)
    if create_graph:
        (second,) = torch.autograd.grad(grad.square().sum(), x)
        (expected_second,) = torch.autograd.grad(expected.square().sum(), y)
        torch.testing.assert_close(second, expected_second)


# --- documented defaults, dtypes, and the registry's user path ----------------------------------
def test_documented_defaults():
    assert make_estimator("relaxed", 2).tau == 1.0
    assert make_estimator("reinforce_loo", 2).num_samples == 4
    imle = make_estimator("imle", 2)
    assert imle.lambda_ == 10.0 and imle.tau == 1.0
    with pytest.raises(ValueError, match="^logits contains NaN"):
        subsetgrad._checks.check_logits(torch.tensor([float("nan"), 0.0]), 1)


def test_surrogate_keeps_the_loss_dtype():
    est = make_estimator("reinforce", 2)
    sample = est.sample(torch.randn(3, 5))
    assert est.surrogate(sample, torch.ones(3)).dtype == torch.float32


def test_an_estimator_without_options_registers_and_builds():
    from subsetgrad._estimator_base import _REGISTRY

    class Fixed(subsetgrad.Estimator):
        option_names = ()

        def __init__(self, k):
            super().__init__(k)

    try:
        subsetgrad.register("fixed_for_test")(Fixed)
        assert subsetgrad.estimator_class("fixed_for_test") is Fixed and Fixed.name == "fixed_for_test"
        assert isinstance(make_estimator("fixed_for_test", 2), Fixed)
        with pytest.raises(ValueError, match="allowed: \\(none\\)"):
            make_estimator("fixed_for_test", 2, tau=1.0)
    finally:
        _REGISTRY.pop("fixed_for_test", None)


def test_empty_batches_pass_the_checks_and_the_backward():
    assert gumbel_topk(torch.empty(0, 5), 2).shape == (0, 2)
    scores = torch.empty(0, 4, requires_grad=True)
    relaxed_topk(scores, 1, 1.0).sum().backward()
    assert scores.grad.shape == (0, 4)


def test_gumbel_topk_returns_the_order_of_the_perturbed_scores():
    w = torch.randn(3, 400, dtype=torch.float64)
    indices = gumbel_topk(w, 60, generator=torch.Generator().manual_seed(1))
    u = torch.rand(w.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    perturbed = (w - torch.log(-torch.log(u))).gather(-1, indices)
    assert (perturbed[:, :-1] > perturbed[:, 1:]).all()


@pytest.mark.parametrize("k", [1, 3])
def test_double_backward_at_k_one_and_through_saturated_steps(k):
    """Second derivatives equal the textbook loop's, for a single step and where a step
    saturates (a_j == 1, so the clamp of 1 - a_j is active)."""
    scores = torch.tensor([[50.0, 0.0, -1.0, -2.0], [3.0, 2.0, 1.0, 0.0]], dtype=torch.float64)
    c = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)

    def textbook(x):
        return sum(textbook_relaxed_steps(x, k, 0.01))

    results = []
    for fn in (lambda x: relaxed_topk(x, k, 0.01), textbook):
        x = scores.clone().requires_grad_()
        (grad,) = torch.autograd.grad((fn(x) * c).sum(), x, create_graph=True)
        (second,) = torch.autograd.grad((grad * c).sum(), x)
        results.append((grad, second))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    assert torch.isfinite(results[0][1]).all()


def test_pending_loaders_run_once_each_in_the_order_they_were_added(monkeypatch):
    """The registry's first consultation runs the loaders (the entry points' among them)
    first to last, each once; later consultations run none."""
    from subsetgrad import _estimator_base as base

    calls = []
    loaders = [lambda: calls.append("first"), lambda: calls.append("second")]
    monkeypatch.setattr(base, "_PENDING_LOADERS", loaders)
    subsetgrad.available_estimators()
    subsetgrad.estimator_class("relaxed")
    assert calls == ["first", "second"] and base._PENDING_LOADERS == []


# --- precision of the CB samplers ---------------------------------------------------------------
def test_cb_sample_builds_its_table_in_float64_whatever_the_logits_dtype():
    """float32 logits give the very samples of the same logits in float64. The common offset
    makes a float32 table wrong by whole units of log-probability (the sum of two logits
    near 3e6 is rounded to a multiple of 0.5), which would change many of the 300 samples."""
    w = (torch.arange(6, dtype=torch.float32) * 0.75 + 3e6).expand(300, 6)
    z = cb_sample(w, 2, generator=torch.Generator().manual_seed(4))
    z64 = cb_sample(w.double(), 2, generator=torch.Generator().manual_seed(4))
    assert z.dtype == torch.float32
    assert torch.equal(z.double(), z64)


def test_sum_of_gamma_noise_is_the_papers_formula_in_the_requested_dtype():
    """eps = (1/k) (sum_{i=1}^{s} Gamma(shape 1/k, rate i/k) - log s) with s = 10 by default,
    drawn in float64 from the global generator: its parameters rounded to float32 (1/3 is
    not exact) or one more term would move every value far beyond float64 rounding."""
    shape, k = (5, 7), 3
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        eps = sample_sum_of_gamma(shape, k, dtype=torch.float64)
        torch.manual_seed(11)
        total = torch.zeros(shape, dtype=torch.float64)
        for i in range(1, 11):
            concentration = torch.tensor(1.0 / k, dtype=torch.float64)
            rate = torch.tensor(i / k, dtype=torch.float64)
            total = total + torch.distributions.Gamma(concentration, rate).sample(shape)
    assert eps.dtype == torch.float64
    torch.testing.assert_close(eps, (total - math.log(10)) / k, rtol=1e-14, atol=1e-15)


def test_imle_noise_is_drawn_in_the_logits_dtype():
    """float64 logits are perturbed by float64 Sum-of-Gamma noise: logits chosen so that the
    perturbed scores are 1e-9 apart in a known order make the sample that order's top-k,
    which noise drawn in float32 (errors of about 1e-7) would scramble."""
    k, tau, shape = 3, 0.5, (6, 10)
    noise = tau * sample_sum_of_gamma(
        shape, k, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    order = torch.randperm(10, generator=torch.Generator().manual_seed(3)).to(torch.float64)
    w = order * 1e-9 - noise  # w + noise: order * 1e-9 up to float64 rounding (about 1e-16)
    sample = make_estimator("imle", k, tau=tau).sample(w, generator=torch.Generator().manual_seed(2))
    assert torch.equal(sample.khot, topk_khot(order.expand(shape), k))
