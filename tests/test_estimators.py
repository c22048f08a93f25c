"""Every estimator: interface, validation, masks, and unbiasedness against exact gradients."""

import math

import pytest
import torch

from subsetgrad import available_estimators, make_estimator, subset_probs
from subsetgrad.exact import expected_loss

TEMPERED = {"relaxed", "straight_through", "concrete", "neuralsort"}
PL_ESTIMATORS = ["relaxed", "straight_through", "reinforce", "reinforce_loo", "concrete", "neuralsort"]


def _build(name, k, **extra):
    options = {"tau": 0.5} if name in TEMPERED else {}
    return make_estimator(name, k, **{**options, **extra})


def test_registry_has_the_paper_estimators():
    assert set(PL_ESTIMATORS) <= set(available_estimators())


@pytest.mark.parametrize("name", PL_ESTIMATORS)
def test_interface_shapes_and_gradients(name):
    est = _build(name, 3)
    logits = torch.randn(5, 8, requires_grad=True)
    sample = est.sample(logits)
    lead = (est.num_samples,) if est.num_samples > 1 else ()
    assert sample.khot.shape == (*lead, 5, 8)
    loss = (sample.khot * torch.arange(8.0)).sum(-1)
    out = est.surrogate(sample, loss)
    assert out.dim() == 0
    torch.testing.assert_close(out, loss.mean())  # value equals the mean loss
    out.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert est.target in ("pl_wor", "cb") and isinstance(est.biased, bool)
    assert "Target" in type(est).__doc__ and "iased" in type(est).__doc__


@pytest.mark.parametrize("name", PL_ESTIMATORS)
def test_masked_items_never_selected(name):
    est = _build(name, 2)
    logits = torch.tensor([[3.0, float("-inf"), 0.0, 1.0, float("-inf")]]).expand(200, 5)
    logits = logits.clone().requires_grad_()
    sample = est.sample(logits)
    assert (sample.khot[..., [1, 4]] == 0).all()
    est.surrogate(sample, sample.khot.sum(-1) * 0 + sample.khot[..., 0]).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", PL_ESTIMATORS)
@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_gradients_finite_on_extreme_logits(name, scale):
    est = _build(name, 3)
    logits = (torch.randn(16, 10, dtype=torch.float64) * scale).requires_grad_()
    sample = est.sample(logits)
    est.surrogate(
        sample, (sample.khot**2 * torch.linspace(-1, 1, 10, dtype=torch.float64)).sum(-1)
    ).backward()
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("nope", {}, "unknown estimator"),
        ("relaxed", {"tau": 0.0}, "tau"),
        ("relaxed", {"tau": float("nan")}, "tau"),
        ("relaxed", {"tau": -1}, "tau"),
        ("relaxed", {"temperature": 1.0}, "allowed: num_samples, tau"),
        ("reinforce", {"baseline_decay": 1.0}, "baseline_decay"),
        ("reinforce_loo", {"num_samples": 1}, "num_samples"),
        ("reinforce", {"tau": 1.0}, "does not take"),
    ],
)
def test_bad_options_are_rejected(name, options, message):
    with pytest.raises(ValueError, match=message):
        make_estimator(name, 2, **options)


def test_loss_shape_is_checked():
    est = make_estimator("relaxed", 2, tau=1.0)
    sample = est.sample(torch.randn(4, 6))
    with pytest.raises(ValueError, match="one value per sample"):
        est.surrogate(sample, torch.zeros(4, 1))


def test_k_larger_than_n_is_rejected():
    est = make_estimator("relaxed", 7, tau=1.0)
    with pytest.raises(ValueError, match="larger than the number of items"):
        est.sample(torch.randn(6))


# --- unbiasedness ---------------------------------------------------------------------------
N_ITEMS, K = 6, 3
LOSSES = {
    "linear": lambda z, c: (z * c).sum(-1),
    "nonlinear": lambda z, c: torch.sin(3 * (z * c).sum(-1)) + ((z * c).sum(-1)) ** 2,
}


def _exact_gradient(w, loss_fn, c):
    w = w.clone().requires_grad_()
    subsets, probs = subset_probs(w, K)
    (grad,) = torch.autograd.grad(expected_loss(probs, subsets, lambda z: loss_fn(z, c), N_ITEMS), w)
    return grad


def _exact_cb_gradient(w, loss_fn, c):
    """Exact gradient under the *other* family (conditional Bernoulli), for the power check."""
    import itertools

    w = w.clone().requires_grad_()
    subsets = list(itertools.combinations(range(N_ITEMS), K))
    logits = torch.stack([w[list(s)].sum() for s in subsets])
    probs = torch.softmax(logits, 0)
    (grad,) = torch.autograd.grad(expected_loss(probs, subsets, lambda z: loss_fn(z, c), N_ITEMS), w)
    return grad


def _per_sample_gradients(est, w, loss_fn, c, batches, batch_size):
    grads = []
    for _ in range(batches):
        rows = w.expand(batch_size, N_ITEMS).clone().requires_grad_()
        sample = est.sample(rows)
        est.surrogate(sample, loss_fn(sample.khot, c)).backward()
        grads.append(rows.grad * batch_size)  # surrogate is a mean over the batch
    return torch.cat(grads)


@pytest.mark.parametrize("name", ["reinforce", "reinforce_loo"])
@pytest.mark.parametrize("loss_name", ["linear", "nonlinear"])
def test_score_function_estimators_are_unbiased(name, loss_name):
    torch.manual_seed(123)
    w = torch.randn(N_ITEMS, dtype=torch.float64)
    c = torch.randn(N_ITEMS, dtype=torch.float64)
    loss_fn = LOSSES[loss_name]
    est = make_estimator(name, K)
    grads = _per_sample_gradients(est, w, loss_fn, c, batches=8, batch_size=5000)
    mean = grads.mean(0)
    se = grads.std(0) / math.sqrt(grads.shape[0])
    exact = _exact_gradient(w, loss_fn, c)
    # 4 standard errors per coordinate: a false alarm has probability < 1e-3 over 6 coordinates
    assert ((mean - exact).abs() < 4 * se).all(), (mean, exact, se)
    # power: the same test rejects the exact gradient of the other k-subset family
    wrong = _exact_cb_gradient(w, loss_fn, c)
    assert ((mean - wrong).abs() > 4 * se).any()


def test_reinforce_baseline_state_round_trips():
    est = make_estimator("reinforce", 2, baseline_decay=0.5)
    for _ in range(3):
        s = est.sample(torch.randn(10, 5))
        est.surrogate(s, s.khot[..., 0])
    restored = make_estimator("reinforce", 2, baseline_decay=0.5)
    restored.load_state_dict(est.state_dict())
    assert restored.baseline == est.baseline and restored.baseline_steps == 3


def test_every_task_shares_one_temperature_label_and_estimator_builder():
    from subsetgrad.bench.experiments.common import (
        NO_TEMPERATURE,
        build_estimator,
        parse_tau_label,
        run_temperatures,
        tau_label,
    )

    assert [tau_label(t) for t in (0.5, 16, None)] == ["tau0.5", "tau16", NO_TEMPERATURE]
    assert parse_tau_label("tau0.5") == 0.5 and parse_tau_label(NO_TEMPERATURE) is None
    for bad in ("0.5", "tau-1", "taux", "none"):
        with pytest.raises(ValueError, match="tau<positive number>"):
            parse_tau_label(bad)
    assert run_temperatures("relaxed", [0.1, 1]) == [0.1, 1] and run_temperatures("reinforce", [0.1, 1]) == [
        None
    ]
    assert build_estimator("relaxed", 2, "tau0.5").tau == 0.5
    with pytest.raises(ValueError, match="takes no temperature"):
        build_estimator("reinforce", 2, 0.5)
    with pytest.raises(ValueError, match="takes a temperature"):
        build_estimator("relaxed", 2, None)


def test_squared_distances_match_the_definition():
    from subsetgrad.bench.experiments.common import squared_distances

    a, b = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(squared_distances(a, b), torch.cdist(a, b).pow(2))
    torch.testing.assert_close(squared_distances(a), torch.cdist(a, a).pow(2))


def test_calling_an_estimator_samples():
    estimator = make_estimator("relaxed", 2, tau=0.5)
    logits = torch.randn(3, 6)
    a = estimator(logits, generator=torch.Generator().manual_seed(1))
    b = estimator.sample(logits, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.khot, b.khot)


def test_value_checks_can_be_switched_off_and_structural_checks_stay():
    import subsetgrad

    estimator = make_estimator("relaxed", 2, tau=0.5)
    bad = torch.tensor([[0.0, float("nan"), 1.0, 2.0]])
    with pytest.raises(ValueError, match="NaN"):
        estimator(bad)
    with subsetgrad.validation(False):
        assert not subsetgrad.validation_enabled()
        estimator(bad)  # no value check, no host synchronisation
        with pytest.raises(ValueError, match="floating-point"):
            estimator(torch.zeros(1, 4, dtype=torch.long))
    assert subsetgrad.validation_enabled()


def test_estimator_lookup_by_name():
    import subsetgrad

    assert subsetgrad.estimator_class("relaxed").biased
    assert subsetgrad.takes_temperature("relaxed") and not subsetgrad.takes_temperature("reinforce_loo")
    with pytest.raises(ValueError, match="unknown estimator"):
        subsetgrad.estimator_class("nope")
