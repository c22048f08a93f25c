"""Deep stochastic kNN: blocked kNN search, the training step per estimator,
resume, config checks."""

import numpy as np
import pytest
import torch
from test_workflow import REPO

from subsetgrad import available_estimators, takes_temperature
from subsetgrad.bench.config import ConfigError, validate_config
from subsetgrad.bench.data import prepare_dataset
from subsetgrad.bench.experiments.common import squared_distances
from subsetgrad.bench.experiments.knn import (
    build_embedding_net,
    knn_search,
    planned_runs,
    run_baselines,
    train_knn_run,
)
from subsetgrad.bench.experiments.knn.evaluate import block_shape, embed, knn_predict
from subsetgrad.bench.experiments.knn.train import (
    CROP_PADDING,
    augment,
    channel_statistics,
    check_images,
    draw_candidates,
    neighbour_loss,
)

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
ESTIMATORS = ["relaxed", "straight_through", "neuralsort", "concrete", "reinforce_loo", "reinforce"]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Small tensors: one thread is faster, and the CI machine has two cores for everything."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return prepare_dataset("digits", "unused", split_seed=0)


def tiny_task(**overrides):
    """The per-estimator check's settings: 12 epochs of 11 steps (132 steps, ~1.5 s CPU)."""
    task = dict(
        datasets=["digits"],
        nets={"digits": "small_cnn"},
        embedding_dim=64,
        estimators=ESTIMATORS,
        temperatures=[1],
        estimator_options={},
        k=9,
        queries_per_step=100,
        candidates_per_step=100,
        epochs=12,
        steps_per_epoch=None,
        lr=3e-3,
        lr_by_estimator={"reinforce": 1e-4},
        momentum=0.9,
        weight_decay=5e-4,
        eval_batch_size=1000,
        eval_block_elements=2**20,
        pca_components=50,
    )
    task.update(overrides)
    return task


# --- blocked kNN search -----------------------------------------------------------


def _clustered(n, dim, classes, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 1.5
    y = rng.integers(0, classes, size=n)
    return centres[y] + rng.normal(size=(n, dim)), y


@pytest.mark.parametrize("block_elements", [7, 50, 299, 300, 4000, 10**9])
def test_knn_predictions_equal_sklearn(block_elements):
    from sklearn.neighbors import KNeighborsClassifier

    x_ref, y_ref = _clustered(300, 4, 10, seed=1)  # overlapping classes: many split votes
    x_q, _ = _clustered(120, 4, 10, seed=2)
    k = 9
    sk = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x_ref, y_ref)
    ours = knn_predict(
        torch.as_tensor(x_q), torch.as_tensor(x_ref), torch.as_tensor(y_ref), k, block_elements=block_elements
    )
    assert np.array_equal(ours.numpy(), sk.predict(x_q))
    idx, dist = knn_search(torch.as_tensor(x_q), torch.as_tensor(x_ref), k, block_elements)
    sk_dist, sk_idx = sk.kneighbors(x_q)
    assert np.array_equal(np.sort(idx.numpy(), 1), np.sort(sk_idx, 1))
    np.testing.assert_allclose(dist.sqrt().numpy(), sk_dist, rtol=1e-9, atol=1e-9)


def test_vote_ties_go_to_the_smallest_label_like_sklearn():
    from sklearn.neighbors import KNeighborsClassifier

    x_ref = np.array([[0.0], [1.0], [2.0], [3.0]])
    y_ref = np.array([3, 1, 3, 1])  # query at 1.5: neighbours 1, 2, 0, 3 -> two 3s, two 1s
    sk = KNeighborsClassifier(n_neighbors=4, algorithm="brute").fit(x_ref, y_ref)
    ours = knn_predict(
        torch.tensor([[1.5]], dtype=torch.float64), torch.as_tensor(x_ref), torch.as_tensor(y_ref), 4
    )
    assert ours.tolist() == sk.predict([[1.5]]).tolist() == [1]


def test_knn_on_network_embeddings_equals_sklearn(digits):
    from sklearn.neighbors import KNeighborsClassifier

    x = torch.as_tensor(digits.x("train"))
    torch.manual_seed(0)
    net = build_embedding_net("small_cnn", tuple(x.shape[1:]), x.mean((0, 2, 3)), x.std((0, 2, 3)), 16)
    train = embed(net, x, 500).double()
    val = embed(net, torch.as_tensor(digits.x("val")), 500).double()
    y = torch.as_tensor(digits.y("train"))
    sk = KNeighborsClassifier(n_neighbors=9, algorithm="brute").fit(train.numpy(), y.numpy())
    ours = knn_predict(val, train, y, 9, block_elements=5000)
    assert np.array_equal(ours.numpy(), sk.predict(val.numpy()))


@pytest.mark.parametrize("block_elements", [1, 7, 64, 100, 101, 640, 6400])
def test_blocked_distances_never_exceed_the_block(block_elements):
    """Every distance block handed out holds at most ``block_elements`` entries, every
    query-reference pair is computed exactly once, and the answer equals the unblocked one."""
    gen = torch.Generator().manual_seed(0)
    queries, refs = torch.randn(64, 3, generator=gen), torch.randn(100, 3, generator=gen)
    sizes = []

    def counting(q, r):
        out = squared_distances(q, r)
        sizes.append(out.numel())
        return out

    idx, _ = knn_search(queries, refs, 5, block_elements, distance=counting)
    assert max(sizes) <= block_elements
    assert sum(sizes) == 64 * 100
    full = torch.topk(squared_distances(queries, refs), 5, dim=1, largest=False).indices
    assert torch.equal(idx, full)


def test_block_shape_for_mnist_sized_evaluation():
    """10,000 queries x 60,000 references never form a block above the budget."""
    for budget in (1, 59_999, 60_000, 2**22, 2**24, 6 * 10**8, 10**12):
        rows, cols = block_shape(10_000, 60_000, budget)
        assert rows * cols <= max(budget, 1) and 1 <= rows <= 10_000 and 1 <= cols <= 60_000
    assert block_shape(10_000, 60_000, 2**24) == (279, 60_000)


def test_bad_block_and_k_are_rejected():
    q = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="block_elements must be an integer >= 1"):
        knn_search(q, q, 1, 0)
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 3\]"):
        knn_search(q, q, 4)


# --- the training step ------------------------------------------------------------


def test_neighbour_loss_counts_same_label_and_broadcasts_samples():
    same = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    khot = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    assert neighbour_loss(khot, same).tolist() == [-1.0, -1.0]
    assert neighbour_loss(torch.stack([khot, 1 - khot]), same).shape == (2, 2)


def test_candidates_are_distinct_and_never_queries():
    gen = torch.Generator().manual_seed(0)
    queries = torch.arange(0, 50)
    cand = draw_candidates(120, queries, 70, gen)
    assert len(cand) == 70 and len(set(cand.tolist())) == 70
    assert not set(cand.tolist()) & set(queries.tolist())


# Registered estimators that the learning check below leaves out, and why; each still runs
# through the kNN training loop in test_estimators_outside_the_learning_check_train_knn.
#   simple: its exact marginals walk the 100 candidates in a Python loop; the 132-step check
#     takes 61 s for it (about 2 s for the others), over the suite's time budget.
#   imle: its improvement at this budget, 0.006 and 0.017 (seeds 0, 1), is not separable from
#     zero on the 360 test images (one image is 0.003).
LEARNING_CHECK_EXCLUDED = {"simple", "imle"}


def test_every_estimator_is_covered():
    """Both ways: every registered estimator is in the learning check or explicitly excluded."""
    assert set(ESTIMATORS) | LEARNING_CHECK_EXCLUDED == set(available_estimators())
    assert not set(ESTIMATORS) & LEARNING_CHECK_EXCLUDED


@pytest.mark.parametrize("estimator", sorted(LEARNING_CHECK_EXCLUDED))
def test_estimators_outside_the_learning_check_train_knn(estimator, digits, tmp_path):
    """Two steps of the production loop (progress bar on): the estimator plugs into kNN."""
    task = tiny_task(
        nets={"digits": "mlp"},
        embedding_dim=16,
        epochs=1,
        steps_per_epoch=2,
        queries_per_step=20,
        candidates_per_step=20,
    )
    tau = 1.0 if takes_temperature(estimator) else None
    rows, curve, best = train_knn_run(digits, task, "digits", estimator, tau, 0, tmp_path / "c.pt")
    assert len(curve) == 2 and np.isfinite(curve.train_loss.iloc[1:]).all()  # untrained, epoch 1
    assert all(np.isfinite(row["value"]) for row in rows if isinstance(row["value"], float))
    assert all(torch.isfinite(w).all() for w in best["weights"].values() if w.is_floating_point())


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_training_improves_test_accuracy_over_untrained_net(estimator, digits, tmp_path):
    """132 SGD steps on digits, seed 0. Measured improvement of test accuracy (360 images)
    over the untrained net, seeds 0-3: relaxed, straight_through 0.042-0.056; neuralsort
    0.042-0.059; concrete 0.033-0.059; reinforce_loo 0.042-0.061; reinforce (lr 1e-4)
    0.020-0.025. We require 0.01 (4 images), half the smallest measured value."""
    tau = 1.0 if takes_temperature(estimator) else None
    rows, curve, best = train_knn_run(
        digits, tiny_task(), "digits", estimator, tau, 0, tmp_path / "ckpt.pt", progress=False
    )
    r = {row["metric"]: row["value"] for row in rows}
    assert r["test_accuracy"] - r["untrained_test_accuracy"] >= 0.01, r
    assert curve.epoch.tolist() == list(range(13))
    assert curve.val_accuracy.iloc[0] == r["untrained_val_accuracy"]
    assert r["val_accuracy"] == curve.val_accuracy.iloc[1:].max()
    assert best["epoch"] + 1 == r["best_epoch"]


def test_resume_continues_bit_for_bit(digits, tmp_path, capfd):
    """A run extended from its epoch-2 checkpoint equals an uninterrupted 3-epoch run."""
    task = tiny_task(
        nets={"digits": "mlp"},
        embedding_dim=16,
        epochs=3,
        steps_per_epoch=4,
        queries_per_step=30,
        candidates_per_step=30,
    )
    full_rows, full_curve, full_best = train_knn_run(
        digits, task, "digits", "reinforce", None, 1, tmp_path / "full.pt", progress=False
    )
    # the interrupted and the resumed run go through the production loop, progress bar and all
    train_knn_run(digits, {**task, "epochs": 2}, "digits", "reinforce", None, 1, tmp_path / "cut.pt")
    capfd.readouterr()
    rows, curve, best = train_knn_run(digits, task, "digits", "reinforce", None, 1, tmp_path / "cut.pt")
    assert f"resumed from {tmp_path / 'cut.pt'} at epoch 2" in capfd.readouterr().err  # not retrained
    cols = ["epoch", "train_loss", "train_topk_correct", "val_accuracy"]
    assert full_curve[cols].equals(curve[cols])
    assert best["epoch"] == full_best["epoch"]
    assert all(torch.equal(best["weights"][k], full_best["weights"][k]) for k in best["weights"])
    values = lambda rs: {r["metric"]: r["value"] for r in rs}  # noqa: E731
    assert values(rows) == values(full_rows)


def test_bad_images_are_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match=r"x_train must be images \[N, C, H, W\] or features \[N, D\]"):
        check_images(np.zeros((5, 8, 8), np.float32), np.zeros(5, np.int64), "train")
    with pytest.raises(ValueError, match="y_val must be integer labels"):
        check_images(np.zeros((5, 1, 8, 8), np.float32), np.zeros(5, np.float32), "val")


def test_feature_vectors_train_with_the_mlp(digits, tmp_path):
    """Bring-your-own data may be feature vectors [N, D]: they run as [N, D, 1, 1]."""
    from subsetgrad.bench.data import Dataset

    flat = Dataset(
        "flat",
        {k: (v.reshape(len(v), -1) if k.startswith("x_") else v) for k, v in digits.arrays.items()},
        {},
    )
    task = tiny_task(nets={"flat": "mlp"}, embedding_dim=16, epochs=1, steps_per_epoch=2)
    rows, _, _ = train_knn_run(flat, task, "flat", "relaxed", 1.0, 0, tmp_path / "c.pt", progress=False)
    assert {r["metric"] for r in rows} >= {"val_accuracy", "test_accuracy"}
    assert run_baselines(flat, task, "flat")[0]["value"] > 0.9


def test_too_few_training_images_is_an_error_before_training(digits, tmp_path):
    task = tiny_task(queries_per_step=1000, candidates_per_step=1000)
    with pytest.raises(ValueError, match="needs queries_per_step \\+ candidates_per_step = 2000"):
        train_knn_run(digits, task, "digits", "relaxed", 1.0, 0, tmp_path / "c.pt", progress=False)


def test_paper_nets_have_the_paper_sizes():
    net = build_embedding_net("mnist_convnet", (1, 28, 28), torch.zeros(1), torch.ones(1))
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 500)
    resnet = build_embedding_net("preact_resnet18", (3, 32, 32), torch.zeros(3), torch.ones(3)).eval()
    assert resnet(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    assert 11.0e6 < sum(p.numel() for p in resnet.parameters()) < 11.3e6  # ResNet-18 without classifier


# --- baselines, plan, config ------------------------------------------------------


def test_baselines_measure_raw_pixels_and_pca(digits):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    rows = run_baselines(digits, tiny_task(pca_components=20), "digits")
    got = {(r["estimator"], r["metric"]): r["value"] for r in rows}
    flat = {s: digits.x(s).reshape(len(digits.x(s)), -1) for s in ("train", "test")}
    sk = KNeighborsClassifier(n_neighbors=9, algorithm="brute").fit(flat["train"], digits.y("train"))
    assert got[("raw_pixels", "test_accuracy")] == pytest.approx(sk.score(flat["test"], digits.y("test")))
    pca = PCA(20, random_state=0).fit(flat["train"])
    sk = KNeighborsClassifier(n_neighbors=9, algorithm="brute").fit(
        pca.transform(flat["train"]), digits.y("train")
    )
    assert got[("pca20", "test_accuracy")] == pytest.approx(
        sk.score(pca.transform(flat["test"]), digits.y("test")), abs=1 / 360
    )
    assert got[("raw_pixels", "val_accuracy")] > 0.9


def test_planned_runs_give_untempered_estimators_one_run():
    task = tiny_task(estimators=["relaxed", "reinforce"], temperatures=[0.1, 16])
    runs = planned_runs(task, seeds=[0, 1])
    labels = sorted((r["estimator"], r["tau"], r["seed"]) for r in runs)
    assert labels == sorted(
        [
            ("relaxed", "tau0.1", "0"),
            ("relaxed", "tau0.1", "1"),
            ("relaxed", "tau16", "0"),
            ("relaxed", "tau16", "1"),
            ("reinforce", "notau", "0"),
            ("reinforce", "notau", "1"),
        ]
    )
    assert len(planned_runs({**task, "seeds": [5]}, seeds=[0, 1])) == 3


def test_run_config_holds_only_what_the_run_depends_on():
    from subsetgrad.bench.experiments.knn.plan import checkpoint_path, run_config

    task = tiny_task(estimator_options={"reinforce_loo": {"num_samples": 3}})
    other = {
        **task,
        "lr_by_estimator": {"reinforce": 0.5},
        "estimators": ["relaxed"],
        "estimator_options": {},
        "nets": {**task["nets"], "mnist": "mnist_convnet"},
    }
    assert run_config(task, "digits", "relaxed") == run_config(other, "digits", "relaxed")
    assert run_config(task, "digits", "reinforce")["lr_by_estimator"] == {"reinforce": 1e-4}
    assert run_config(task, "digits", "reinforce_loo")["estimator_options"] == {
        "reinforce_loo": {"num_samples": 3}
    }
    path = lambda t: checkpoint_path("ck", t, "digits", "relaxed", "tau1", 0)  # noqa: E731
    assert path(task).startswith("ck/digits/relaxed/tau1/seed0-")
    assert path({**task, "epochs": 50}) == path(task)  # a longer run extends the checkpoint
    assert path({**task, "lr": 0.1}) != path(task)  # other settings start afresh


def _config(**knn):
    import yaml

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["tasks"]["knn"].update(knn)
    return config


def test_default_config_is_valid():
    validate_config(_config(), SCHEMA)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"k": 100}, "k=100 must be smaller than candidates_per_step=100"),
        ({"nets": {}}, "dataset 'digits' has no embedding net"),
        ({"estimator_options": {"relaxed": {"tau": 2}}}, r"option\(s\) \['tau'\] are not allowed"),
        ({"estimator_options": {"reinforce_loo": {"num_samples": 1}}}, "num_samples must be an integer >= 2"),
        ({"lr_by_estimator": {"nope": 0.1}}, "lr_by_estimator': unknown estimator 'nope'"),
        ({"nets": {"digits": "resnet50"}}, "'resnet50' is not allowed"),
        ({"eval_block_elements": 0}, "eval_block_elements': 0 is below the minimum 1"),
        ({"normalization": {"digits": "minmax"}}, "normalization.digits': 'minmax' is not allowed"),
        ({"normalization": {"digits": {"mean": [0.5]}}}, "normalization.digits': .* is not allowed"),
        ({"normalization": {"digits": {"mean": [0.5], "std": [0]}}}, "stds finite and positive"),
        ({"augmentation": {"digits": ["rotate"]}}, "'rotate' is not allowed"),
        ({"forward_passes": "both"}, "forward_passes': 'both' is not allowed"),
        ({"candidate_sampling": "any"}, "candidate_sampling': 'any' is not allowed"),
        ({"mnist_convnet_output_relu": "yes"}, "mnist_convnet_output_relu': expected boolean"),
        ({"batchnorm_weight_init": "zeros"}, "batchnorm_weight_init': 'zeros' is not allowed"),
    ],
)
def test_bad_knn_config_names_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_config(**change), SCHEMA)


# --- the authors' inputs and steps: normalization, augmentation, forward passes ---------


def test_augmentation_is_a_seeded_crop_of_the_zero_padded_image_and_a_flip():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8) + 1.0  # no zeros, so padding is recognisable
    out = augment(x, ["random_crop", "horizontal_flip"], torch.Generator().manual_seed(3))
    again = augment(x, ["random_crop", "horizontal_flip"], torch.Generator().manual_seed(3))
    other = augment(x, ["random_crop", "horizontal_flip"], torch.Generator().manual_seed(4))
    assert torch.equal(out, again) and not torch.equal(out, other)
    p = CROP_PADDING
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    windows = {
        (i, top, left, flip)
        for i in range(64)
        for top in range(2 * p + 1)
        for left in range(2 * p + 1)
        for flip in (False, True)
        if torch.equal(
            out[i], (lambda w: w.flip(-1) if flip else w)(padded[i, :, top : top + 8, left : left + 8])
        )
    }
    assert {i for i, *_ in windows} == set(range(64))  # every image is a flipped or plain window
    assert len({(top, left) for _, top, left, _ in windows}) > 20  # offsets vary
    assert 0.2 < np.mean([flip for *_, flip in windows]) < 0.8
    flipped = augment(x, ["horizontal_flip"], gen)
    assert all(torch.equal(f, a) or torch.equal(f, a.flip(-1)) for f, a in zip(flipped, x))
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(x, ["rotate"], gen)


def test_channel_statistics_follow_the_config():
    x = torch.rand(10, 3, 4, 4)
    mean, std = channel_statistics({}, "d", x)
    assert torch.allclose(mean, x.mean((0, 2, 3))) and torch.allclose(std, x.std((0, 2, 3)))
    mean, std = channel_statistics({"normalization": {"d": "none"}}, "d", x)
    assert mean.tolist() == [0, 0, 0] and std.tolist() == [1, 1, 1]
    fixed = {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2023, 0.1994, 0.2010]}
    mean, std = channel_statistics({"normalization": {"d": fixed}}, "d", x)
    assert torch.allclose(mean, torch.tensor(fixed["mean"])) and torch.allclose(
        std, torch.tensor(fixed["std"])
    )
    with pytest.raises(ValueError, match="one mean and one std per channel: the images have 1"):
        channel_statistics({"normalization": {"d": fixed}}, "d", x[:, :1])


def test_default_settings_keep_the_run_config_and_its_checkpoint_name():
    """The new settings at their defaults leave a run's config (and so its checkpoint's hash)
    as it was before they existed; any other value changes it."""
    from subsetgrad.bench.experiments.knn.plan import checkpoint_path, run_config

    task = tiny_task()
    defaults = {
        **task,
        "normalization": {"digits": "train_stats"},
        "augmentation": {"mnist": ["random_crop"]},
        "forward_passes": "joint",
        "candidate_sampling": "distinct_from_queries",
        "mnist_convnet_output_relu": False,
        "preact_resnet18_final_bn_relu": True,
        "batchnorm_weight_init": "ones",
    }
    assert run_config(defaults, "digits", "relaxed") == run_config(task, "digits", "relaxed")
    path = lambda t: checkpoint_path("ck", t, "digits", "relaxed", "tau1", 0)  # noqa: E731
    for change in (
        {"normalization": {"digits": "none"}},
        {"augmentation": {"digits": ["horizontal_flip"]}},
        {"forward_passes": "separate"},
        {"candidate_sampling": "independent_pass"},
        {"mnist_convnet_output_relu": True},
        {"preact_resnet18_final_bn_relu": False},
        {"batchnorm_weight_init": "uniform"},
    ):
        changed = {**defaults, **change}
        assert path(changed) != path(task), change
        assert set(change) <= set(run_config(changed, "digits", "relaxed")), change


def test_authors_settings_train_deterministically(digits, tmp_path):
    """Raw pixels, crop + flip, a second pass for candidates and separate forward passes
    through a net with BatchNorm: a fixed seed gives the same run twice on CPU, and the
    settings change the run."""
    task = tiny_task(
        nets={"digits": "preact_resnet18"},
        epochs=1,
        steps_per_epoch=2,
        queries_per_step=20,
        candidates_per_step=20,
        normalization={"digits": "none"},
        augmentation={"digits": ["random_crop", "horizontal_flip"]},
        forward_passes="separate",
        candidate_sampling="independent_pass",
        preact_resnet18_final_bn_relu=False,
        batchnorm_weight_init="uniform",
    )
    runs = [
        train_knn_run(digits, t, "digits", "relaxed", 1.0, 0, tmp_path / f"c{i}.pt", progress=False)
        for i, t in enumerate([task, task, {**task, "forward_passes": "joint"}])
    ]
    (rows_a, curve_a, best_a), (rows_b, curve_b, best_b), (_, curve_c, _) = runs
    assert curve_a.drop(columns="epoch_time_s").equals(curve_b.drop(columns="epoch_time_s"))
    assert all(torch.equal(best_a["weights"][k], best_b["weights"][k]) for k in best_a["weights"])
    assert curve_a.train_loss.iloc[1] != curve_c.train_loss.iloc[1]  # one BatchNorm batch or two
    scales = [v for k, v in best_a["weights"].items() if k.endswith("bn1.weight")]
    assert scales and any(float(s.std()) > 0.1 for s in scales)  # drawn from U(0, 1), not all ones


def test_augmentation_of_feature_vectors_is_an_error(digits, tmp_path):
    from subsetgrad.bench.data import Dataset

    flat = Dataset(
        "flat",
        {k: (v.reshape(len(v), -1) if k.startswith("x_") else v) for k, v in digits.arrays.items()},
        {},
    )
    task = tiny_task(nets={"flat": "mlp"}, augmentation={"flat": ["horizontal_flip"]})
    with pytest.raises(ValueError, match="augmentation needs images"):
        train_knn_run(flat, task, "flat", "relaxed", 1.0, 0, tmp_path / "c.pt", progress=False)


def test_steps_per_epoch_may_be_given_per_dataset():
    from subsetgrad.bench.experiments.knn.plan import run_config, steps_per_epoch

    task = tiny_task(nets={"digits": "mlp", "other": "mlp"}, steps_per_epoch={"digits": 7})
    assert steps_per_epoch(task, "digits") == 7
    assert steps_per_epoch(task, "other") is None  # a full pass
    assert run_config(task, "digits", "relaxed")["steps_per_epoch"] == 7
    assert steps_per_epoch(tiny_task(steps_per_epoch=3), "digits") == 3


def test_epochs_may_be_given_per_dataset():
    from subsetgrad.bench.experiments.knn.plan import epochs, run_config

    task = tiny_task(nets={"digits": "mlp", "other": "mlp"}, epochs={"digits": 2, "other": 5})
    assert epochs(task, "digits") == 2 and epochs(task, "other") == 5
    assert run_config(task, "other", "relaxed")["epochs"] == 5
