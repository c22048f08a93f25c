"""L2X: synthetic data, metrics against hand-computed cases, learning per estimator,
resumption, text models, and the run plan."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from subsetgrad import takes_temperature
from subsetgrad.bench.data import DATASETS, prepare_dataset
from subsetgrad.bench.data.l2x_synthetic import generate
from subsetgrad.bench.experiments.common import build_estimator, tau_label
from subsetgrad.bench.experiments.l2x.evaluate import (
    median_true_rank,
    posthoc_accuracy,
    true_positive_rate,
    unit_ranks,
    wilson_interval,
)
from subsetgrad.bench.experiments.l2x.networks import (
    build_approximator,
    build_black_box,
    build_explainer,
    keep_units,
    model_spec,
)
from subsetgrad.bench.experiments.l2x.plan import planned_runs
from subsetgrad.bench.experiments.l2x.train import (
    Settings,
    load_black_box,
    make_optimizer,
    run_black_box,
    run_explainer,
    train_explainer,
)

CPU = torch.device("cpu")
SIX = ["relaxed", "straight_through", "reinforce", "reinforce_loo", "concrete", "neuralsort"]


# ----------------------------------------------------------------------------- data
@pytest.mark.parametrize(
    "name, true_count",
    [("l2x_xor", 2), ("l2x_orange_skin", 4), ("l2x_nonlinear_additive", 4), ("l2x_switch", 5)],
)
def test_synthetic_datasets_are_registered_and_seeded(name, true_count):
    assert DATASETS[name].kind == "tabular" and DATASETS[name].embedded
    a = generate(name, 3, {"train": 50, "val": 10, "test": 20})
    b = generate(name, 3, {"train": 50, "val": 10, "test": 20})
    c = generate(name, 4, {"train": 50, "val": 10, "test": 20})
    for key, value in a.arrays.items():
        assert np.array_equal(value, b.arrays[key]), key
    assert not np.array_equal(a.x("train"), c.x("train"))
    assert a.x("test").shape == (20, 10) and a.x("test").dtype == np.float32
    assert a.y("train").dtype == np.int64 and set(np.unique(a.y("train"))) <= {0, 1}
    assert (a.arrays["mask_train"].sum(1) == true_count).all()
    assert a.meta["num_classes"] == 2


def test_synthetic_label_probabilities_follow_the_formulas():
    xor = generate("l2x_xor", 0, {"train": 200, "val": 1, "test": 1})
    x = xor.x("train").astype(np.float64)
    np.testing.assert_allclose(xor.arrays["prob_train"], 1 / (1 + np.exp(x[:, 0] * x[:, 1])), rtol=1e-5)
    paper = generate("l2x_nonlinear_additive", 0, {"train": 200, "val": 1, "test": 1})
    code = generate("l2x_nonlinear_additive", 0, {"train": 200, "val": 1, "test": 1}, variant="authors_code")
    x = paper.x("train").astype(np.float64)
    assert np.array_equal(x, code.x("train"))  # same draws, different formula
    f_paper = -100 * np.sin(2 * x[:, 0]) + 2 * np.abs(x[:, 1]) + x[:, 2] + np.exp(-x[:, 3])
    f_code = -100 * np.sin(0.2 * x[:, 0]) + np.abs(x[:, 1]) + x[:, 2] + np.exp(-x[:, 3]) - 2.4
    np.testing.assert_allclose(
        paper.arrays["prob_train"], 1 / (1 + np.exp(np.clip(f_paper, -60, 60))), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        code.arrays["prob_train"], 1 / (1 + np.exp(np.clip(f_code, -60, 60))), rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="unknown nonlinear-additive variant"):
        generate("l2x_nonlinear_additive", 0, {"train": 5, "val": 1, "test": 1}, variant="typo")


def test_switch_feature_selects_the_true_block():
    data = generate("l2x_switch", 1, {"train": 2000, "val": 1, "test": 1})
    x, mask = data.x("train"), data.arrays["mask_train"]
    positive = x[:, 9] > 0
    assert 0.45 < positive.mean() < 0.55  # the two mixture components, 1/2 each
    assert mask[:, 9].all()
    assert (mask[positive, :4].all(1) & ~mask[positive, 4:9].any(1)).all()
    assert (mask[~positive, 4:8].all(1) & ~mask[~positive, :4].any(1)).all()
    f = np.sum(x[positive, :4].astype(np.float64) ** 2, 1) - 4
    np.testing.assert_allclose(data.arrays["prob_train"][positive], 1 / (1 + np.exp(f)), rtol=1e-4, atol=1e-6)


def test_prepare_dataset_builds_l2x_with_split_seed():
    a = prepare_dataset("l2x_orange_skin", "/nonexistent", split_seed=5)
    assert a.x("train").shape == (10_000, 10) and a.meta["split_seed"] == 5
    with pytest.raises(ValueError, match="does not take option"):
        prepare_dataset("l2x_xor", "/nonexistent", 0, variant="paper")


# ----------------------------------------------------------------------------- metrics by hand
class _SignOfFirstFeature(torch.nn.Module):
    """Black box predicting class 1 iff x1 > 0 (logits [0, x1]; a tie goes to class 0)."""

    def forward(self, x):
        return torch.stack([torch.zeros_like(x[:, 0]), x[:, 0]], dim=-1)


def test_posthoc_accuracy_hand_computed_case():
    x = torch.tensor([[1.0, 5.0], [-1.0, 5.0], [2.0, 5.0], [-2.0, 5.0]])
    masks = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # rows 0, 1 keep x1: agree; row 2 drops x1 = 2 -> class 0 vs 1: disagree; row 3: 0 vs 0: agree
    result = posthoc_accuracy(_SignOfFirstFeature(), x, masks, "tabular")
    assert result["value"] == 0.75 and result["n"] == 4
    # Wilson 95% interval of 3/4 (by hand: centre 0.6275, half-width 0.3269)
    assert result["low"] == pytest.approx(0.3006, abs=1e-4)
    assert result["high"] == pytest.approx(0.9544, abs=1e-4)


def test_posthoc_accuracy_on_tokens_sets_unselected_words_to_padding():
    class _HasToken7(torch.nn.Module):
        def forward(self, x):
            present = (x == 7).any(-1).float()
            return torch.stack([1 - present, present], dim=-1)

    x = torch.tensor([[3, 7, 4, 0], [7, 5, 6, 2], [1, 2, 3, 4]])
    masks = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    assert keep_units(x, masks, "words").tolist() == [[0, 7, 0, 0], [0, 5, 6, 0], [1, 0, 0, 0]]
    assert posthoc_accuracy(_HasToken7(), x, masks, "words")["value"] == pytest.approx(2 / 3)
    sentences = torch.arange(1, 2 * 3 * 2 + 1).reshape(2, 3, 2)
    kept = keep_units(sentences, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), "sentences")
    assert kept.tolist() == [[[0, 0], [3, 4], [0, 0]], [[7, 8], [0, 0], [0, 0]]]


def test_wilson_interval_limits():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0) and 0.25 < high < 0.35  # 0/10: [0, 0.278]
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1) and 0.65 < low < 0.75


def test_ranks_median_rank_and_true_positive_rate_by_hand():
    logits = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    assert unit_ranks(logits).tolist() == [[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]
    true = torch.tensor([[1, 1, 0, 0, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)
    # row 0: ranks {1, 2} -> 1.5; row 1: ranks {5, 1} -> 3
    assert median_true_rank(logits, true).tolist() == [1.5, 3.0]
    odd = torch.tensor([[1, 0, 1, 0, 1], [0, 1, 1, 1, 0]], dtype=torch.bool)
    assert median_true_rank(logits, odd).tolist() == [3.0, 3.0]
    masks = torch.tensor([[1.0, 1.0, 0, 0, 0], [0, 0, 0, 1.0, 1.0]])
    assert true_positive_rate(masks, true).tolist() == [1.0, 0.5]


# ----------------------------------------------------------------------------- learning
TINY = {
    "k": 2,
    "train_samples": None,
    "black_box": {"epochs": 10, "batch_size": 100, "lr": 3e-3, "soft_targets": True},
    "explainer": {"epochs": 12, "batch_size": 100, "lr": 3e-3, "optimizer": "adam"},
}


@pytest.fixture(scope="module")
def xor_task(tmp_path_factory):
    torch.set_num_threads(1)
    data = generate("l2x_xor", 0, {"train": 1500, "val": 300, "test": 500})
    black_box = run_black_box(data, TINY, 0, CPU, tmp_path_factory.mktemp("bb") / "resume.pt")
    return data, black_box


def _metric(result, name, estimator=None):
    values = [
        r["value"]
        for r in result.metrics
        if r["metric"] == name and (estimator is None or r.get("estimator") == estimator)
    ]
    assert len(values) == 1, (name, estimator)
    return values[0]


def test_black_box_and_reference_explanations(xor_task):
    _, black_box = xor_task
    # XOR's Bayes accuracy is about 0.63 (labels are Bernoulli draws); the MLP gets close.
    assert _metric(black_box, "black_box_test_accuracy") > 0.55
    # By symmetry a random ranking has expected median rank (d + 1) / 2 = 5.5; sd over 500
    # samples about 0.1.
    assert _metric(black_box, "median_rank", "random_selection") == pytest.approx(5.5, abs=0.4)
    # The black box relies mostly on the true features: keeping them beats keeping random ones.
    assert (
        _metric(black_box, "posthoc_accuracy", "true_features")
        > _metric(black_box, "posthoc_accuracy", "random_selection") + 0.2
    )


# Median rank of the true features below random selection's (5.44 on this fixture), by half
# the gap measured with these settings and seed 0: relaxed 1.50, neuralsort 1.50, reinforce
# 2.55, straight_through 3.90, reinforce_loo 4.35, concrete 4.83. The median rank over 500 test
# samples has a standard deviation of about 0.1.
RANK_MARGIN = {
    "relaxed": 2.0,
    "neuralsort": 2.0,
    "reinforce": 1.4,
    "straight_through": 0.75,
    "reinforce_loo": 0.5,
    "concrete": 0.3,
}


@pytest.mark.parametrize("estimator", SIX)
def test_every_estimator_trains_the_explainer(xor_task, tmp_path, estimator):
    """Learning happened: the epoch-mean training loss falls from the first to the last epoch.

    Measured with these settings (1,500 samples, 12 epochs = 180 steps, tau = 0.5) over
    explainer seeds 0-4: a fall of 0.031-0.074 for each of the six estimators (reinforce
    0.031-0.074, the others 0.043-0.074); with the explainer's gradient cut (only the
    approximator learns, from whatever units the untrained explainer picks) 0.002-0.013.
    We require 0.02 (the run itself uses seed 0)."""
    data, black_box = xor_task
    tau = tau_label(0.5 if takes_temperature(estimator) else None)
    result = run_explainer(
        data, black_box.checkpoint, TINY, estimator, tau, 0, CPU, tmp_path / "resume.pt", num_examples=2
    )
    loss = result.curve.train_loss
    assert loss.iloc[0] - loss.iloc[-1] > 0.02, result.curve
    # the interval is the 95% Wilson interval of the accuracy over the 500 test samples (scipy's)
    successes = round(_metric(result, "posthoc_accuracy") * 500)
    wilson = stats.binomtest(successes, 500).proportion_ci(0.95, method="wilson")
    assert _metric(result, "posthoc_accuracy_ci_low") == pytest.approx(wilson.low, abs=1e-9)
    assert _metric(result, "posthoc_accuracy_ci_high") == pytest.approx(wilson.high, abs=1e-9)
    # the explainer ranks the true features above random selection
    random_rank = _metric(xor_task[1], "median_rank", "random_selection")
    assert _metric(result, "median_rank") < random_rank - RANK_MARGIN[estimator], result.metrics
    assert set(result.checkpoint) >= {"explainer", "approximator", "spec", "k", "estimator", "tau", "seed"}
    assert "<span" not in result.extras["examples_html"] and "class='sel" in result.extras["examples_html"]
    rows = {r["metric"]: r for r in result.metrics}
    assert rows["posthoc_accuracy"]["estimator"] == estimator
    assert math.isnan(rows["posthoc_accuracy"]["tau"]) == (tau == "notau")


def test_relaxed_explainer_finds_the_xor_features(xor_task, tmp_path):
    """The relaxed subset estimator's median rank of the true features beats random selection.

    Measured (1,500 samples, 12 epochs = 180 steps, tau = 0.5, explainer seeds 0-4): median
    rank 1.50-1.55 (optimum 1.5; 1.5-2.6 with 90 steps), against 5.4 for random selection.
    We assert a gap of 2.0.
    """
    data, black_box = xor_task
    result = run_explainer(
        data, black_box.checkpoint, TINY, "relaxed", "tau0.5", 0, CPU, tmp_path / "resume.pt", num_examples=0
    )
    random_rank = _metric(black_box, "median_rank", "random_selection")
    assert _metric(result, "median_rank") < random_rank - 2.0
    assert _metric(result, "tpr_at_k") > 0.7


def test_explainer_training_resumes_bit_for_bit(xor_task, tmp_path):
    data, black_box = xor_task
    model, spec = load_black_box(black_box.checkpoint, CPU)

    def train(path, epochs):
        estimator = build_estimator("reinforce", 2, None)  # stateful: its baseline is checkpointed
        settings = Settings(epochs=epochs, batch_size=100, lr=3e-3)
        return train_explainer(data, model, spec, estimator, 2, settings, 0, CPU, path, 600)

    full_explainer, _, full_history, _ = train(tmp_path / "a.pt", 3)
    train(tmp_path / "b.pt", 1)  # "killed" after its first epoch
    resumed_explainer, _, resumed_history, info = train(tmp_path / "b.pt", 3)
    assert info["resumed"]
    for (name, a), (_, b) in zip(full_explainer.state_dict().items(), resumed_explainer.state_dict().items()):
        assert torch.equal(a, b), name
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full_history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed_history]


# ----------------------------------------------------------------------------- text models
def _toy_text(modality: str, n: int = 240, seed: int = 0):
    """Token data whose label is whether token 5 occurs (units: words or sentences)."""
    from subsetgrad.bench.data import Dataset

    rng = np.random.default_rng(seed)
    shape = (n, 12) if modality == "words" else (n, 4, 6)
    x = rng.integers(6, 30, size=shape)
    x[..., -2:] = 0  # trailing padding
    y = rng.integers(0, 2, size=n)
    for i in np.flatnonzero(y):
        x[(i, *[rng.integers(0, s - 2) for s in shape[1:]])] = 5
    arrays = {}
    for split, sl in {"train": slice(0, 160), "val": slice(160, 200), "test": slice(200, n)}.items():
        arrays[f"x_{split}"] = x[sl].astype(np.int32)
        arrays[f"y_{split}"] = y[sl].astype(np.int64)
    arrays["vocabulary"] = np.array(
        ["<pad>", "<start>", "<oov>", "a", "b", "great"] + [f"w{i}" for i in range(6, 30)]
    )
    return Dataset(f"toy_{modality}", arrays, {"num_classes": 2, "class_names": ["neg", "pos"]})


@pytest.mark.parametrize("modality", ["words", "sentences"])
def test_text_models_shapes_with_sample_dimension(modality):
    data = _toy_text(modality)
    spec = model_spec(data.x("train"), 2, 30)
    x = torch.from_numpy(data.x("train")[:8]).long()
    assert spec["modality"] == modality and spec["units"] == x.shape[1]
    assert build_black_box(spec)(x).shape == (8, 2)
    logits = build_explainer(spec)(x)
    assert logits.shape == (8, x.shape[1])
    approximator = build_approximator(spec, 2)
    assert approximator(x, torch.rand(8, x.shape[1])).shape == (8, 2)
    assert approximator(x, torch.rand(3, 8, x.shape[1])).shape == (3, 8, 2)  # m samples


@pytest.mark.parametrize("modality", ["words", "sentences"])
def test_text_run_end_to_end_never_selects_padding(modality, tmp_path):
    data = _toy_text(modality)
    settings = {
        "k": 1,
        "black_box": {"epochs": 2, "batch_size": 40, "lr": 1e-2},
        "explainer": {"epochs": 2, "batch_size": 40, "lr": 1e-2, "optimizer": "rmsprop"},
    }
    black_box = run_black_box(data, settings, 0, CPU, tmp_path / "bb.pt")
    result = run_explainer(
        data, black_box.checkpoint, settings, "relaxed", "tau1", 0, CPU, tmp_path / "ex.pt", num_examples=3
    )
    page = result.extras["examples_html"]
    assert page.count("class='ex'") == 3 and "<span class='sel'>" in page and "w" in page
    assert "<pad>" not in page  # padding is not shown, and never selected
    names = {r["metric"] for r in result.metrics}
    assert {"posthoc_accuracy", "approximator_fidelity"} <= names and "median_rank" not in names


# ----------------------------------------------------------------------------- plan
def test_planned_runs_give_untempered_estimators_one_run():
    task = {"datasets": ["a", "b"], "estimators": ["relaxed", "reinforce"], "temperatures": [0.5, 2]}
    runs = planned_runs(task, [0, 1])
    assert len(runs) == 2 * (2 + 1) * 2
    assert {r["tau"] for r in runs if r["estimator"] == "reinforce"} == {"notau"}
    assert {r["tau"] for r in runs if r["estimator"] == "relaxed"} == {"tau0.5", "tau2"}


def test_a_mismatched_temperature_label_fails_before_training(xor_task, tmp_path):
    data, black_box = xor_task
    with pytest.raises(ValueError, match="takes a temperature"):
        run_explainer(data, black_box.checkpoint, TINY, "relaxed", "notau", 0, CPU, tmp_path / "a.pt")
    with pytest.raises(ValueError, match="takes no temperature"):
        run_explainer(data, black_box.checkpoint, TINY, "reinforce", "tau0.5", 0, CPU, tmp_path / "b.pt")
    with pytest.raises(ValueError, match="temperature label '0.5'"):  # the old, bare label
        run_explainer(data, black_box.checkpoint, TINY, "relaxed", "0.5", 0, CPU, tmp_path / "c.pt")
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- optimisers
def _keras_rmsprop(p, grads, lr, rho=0.9, eps=1e-7):
    """Keras's RMSprop, as written there: a = rho a + (1 - rho) g^2; p -= lr g / (sqrt(a) + eps)."""
    a = torch.zeros_like(p)
    for g in grads:
        a = rho * a + (1 - rho) * g * g
        p = p - lr * g / (torch.sqrt(a) + eps)
    return p


def _adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba's Adam: p -= lr m_hat / (sqrt(v_hat) + eps) with bias-corrected moments."""
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (torch.sqrt(v / (1 - b2**t)) + eps)
    return p


@pytest.mark.parametrize("name, reference", [("rmsprop", _keras_rmsprop), ("adam", _adam)])
def test_optimizers_follow_their_update_equations_in_float64(name, reference):
    torch.manual_seed(0)
    start = torch.randn(7, dtype=torch.float64)
    # gradients of very different scales, so that eps and the moment averages all matter
    grads = [torch.randn(7, dtype=torch.float64) * 10.0 ** torch.randint(-4, 2, (7,)) for _ in range(6)]
    p = torch.nn.Parameter(start.clone())
    opt = make_optimizer(name, [p], 1e-2)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    torch.testing.assert_close(p.detach(), reference(start, grads, 1e-2), rtol=1e-12, atol=1e-15)


def test_rmsprop_is_torchs_in_the_keras_form():
    opt = make_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(2))], 1e-3)
    assert isinstance(opt, torch.optim.RMSprop)
    group = opt.param_groups[0]
    assert (group["alpha"], group["eps"], group["momentum"], group["centered"], group["weight_decay"]) == (
        0.9,
        1e-7,
        0.0,
        False,
        0.0,
    )


def test_rmsprop_training_is_the_keras_update_bit_for_bit():
    """A float32 training loop with the torch optimiser ends with exactly the weights of the
    Keras update written out (the operations of the hand-written optimiser it replaced, in
    its order), so RMSprop runs keep their results."""
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    opt = make_optimizer("rmsprop", ours.parameters(), 1e-2)
    squares = [torch.zeros_like(p) for p in theirs.parameters()]
    x = torch.randn(16, 4)
    for _ in range(20):
        opt.zero_grad()
        (ours(x) ** 2).mean().backward()
        opt.step()
        theirs.zero_grad()
        (theirs(x) ** 2).mean().backward()
        with torch.no_grad():
            for p, a in zip(theirs.parameters(), squares):
                a.mul_(0.9).addcmul_(p.grad, p.grad, value=0.1)
                p.addcdiv_(p.grad, a.sqrt().add_(1e-7), value=-1e-2)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["adam", "keras_adam", "rmsprop"])
def test_optimizer_state_round_trip_changes_nothing(name):
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    theirs.load_state_dict(ours.state_dict())
    opt_ours = make_optimizer(name, ours.parameters(), 1e-2)
    opt_theirs = make_optimizer(name, theirs.parameters(), 1e-2)
    x = torch.randn(16, 4)
    for step in range(6):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        if step == 2:  # a checkpoint round trip in the middle, as a resumed job does
            state = opt_ours.state_dict()
            opt_ours = make_optimizer(name, ours.parameters(), 1e-2)
            opt_ours.load_state_dict(state)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(a, b)


def test_make_optimizer_refuses_unknown_names_and_frozen_models():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", model.parameters(), 1e-2)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer("adam", model.parameters(), 1e-2)


def test_steps_per_epoch_cuts_an_epoch_to_that_many_fresh_batches():
    from subsetgrad.bench.experiments.l2x.train import _batches

    full = list(_batches(10, 3, torch.Generator().manual_seed(0)))
    cut = list(_batches(10, 3, torch.Generator().manual_seed(0), steps=2))
    assert [len(b) for b in full] == [3, 3, 3, 1]
    assert len(cut) == 2 and all(torch.equal(a, b) for a, b in zip(cut, full))
