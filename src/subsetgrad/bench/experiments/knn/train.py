"""Training one deep stochastic kNN run (NeuralSort's setup, any k-subset estimator).

Each step draws Q query images (a pass over the training split in random order)
and N candidate neighbours (``candidate_sampling``: uniformly from the rest of the
training split, or, as the authors do, the next N of a second, independent pass),
optionally augments them (``augmentation``: random crop after zero padding,
horizontal flip), embeds both with the net h (in one forward pass, or, as the
authors do, candidates and queries in two, so that each is its own BatchNorm
batch: ``forward_passes``), and scores candidate j for query q by

    s_qj = -||h(x_q) - h(x_j)||^2.

The estimator draws a k-subset of the candidates from PL-WOR(s_q) per query
(``khot``, ``[Q, N]`` or ``[m, Q, N]``), and the loss per sample is

    loss = -sum_j khot_j * 1[y_j = y_q],

minus the number of selected neighbours that share the query's label. The
estimator's ``surrogate`` turns it into the scalar whose gradient is its
estimate. After every epoch the net is evaluated by *hard* kNN (majority of the
k nearest training embeddings) on the validation split; the best epoch's
weights are kept and evaluated on the test split at the end.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from subsetgrad.bench.experiments.common import build_estimator
from subsetgrad.bench.experiments.knn.evaluate import embed, embedding_accuracy
from subsetgrad.bench.experiments.knn.networks import build_embedding_net
from subsetgrad.bench.experiments.knn.plan import epochs as epochs_for
from subsetgrad.bench.experiments.knn.plan import steps_per_epoch
from subsetgrad.bench.runtime import seed_everything
from subsetgrad.bench.training import TrainingRun

TASK = "knn"

#: Zero padding (pixels per side) before the random crop of the image's own size
#: (the authors' RandomCrop(32, padding=4) on CIFAR-10).
CROP_PADDING = 4
AUGMENTATIONS = ("random_crop", "horizontal_flip")


class BestWeights:
    """The best validation epoch's weights, saved inside every checkpoint so a
    resumed run still knows them (``state_dict`` / ``load_state_dict``)."""

    def __init__(self):
        self.accuracy = -math.inf
        self.epoch = -1
        self.weights: dict | None = None

    def offer(self, model: nn.Module, accuracy: float, epoch: int) -> bool:
        """Keep ``model``'s weights when ``accuracy`` is strictly better (earliest epoch wins ties)."""
        if accuracy > self.accuracy:
            self.accuracy, self.epoch = accuracy, epoch
            self.weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            return True
        return False

    def state_dict(self) -> dict:
        return {"accuracy": self.accuracy, "epoch": self.epoch, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.accuracy, self.epoch, self.weights = state["accuracy"], state["epoch"], state["weights"]


def learning_rate(task: dict, estimator_name: str) -> float:
    """``lr_by_estimator[estimator_name]`` when the config sets one, else ``lr``."""
    return float((task.get("lr_by_estimator") or {}).get(estimator_name, task["lr"]))


def check_images(x: np.ndarray, y: np.ndarray, split: str) -> None:
    """Clear errors for arrays that are neither images ``[N, C, H, W]`` nor feature
    vectors ``[N, D]``, or labels that are not integers ``0..C-1``."""
    if x.ndim not in (2, 4):
        raise ValueError(
            f"x_{split} must be images [N, C, H, W] or features [N, D]; got shape "
            f"{x.shape}. Reshape other arrays when preparing the dataset"
        )
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"y_{split} must be integer labels [N] matching x_{split}; got shape {y.shape}, dtype {y.dtype}"
        )
    if len(y) and y.min() < 0:
        raise ValueError(f"y_{split} has negative labels; labels must be 0..C-1")


def as_images(x: np.ndarray) -> torch.Tensor:
    """float32 ``[N, C, H, W]``; feature vectors ``[N, D]`` become ``[N, D, 1, 1]`` (one
    channel per feature, so each feature is standardised on its own; use the ``mlp`` net)."""
    t = torch.as_tensor(x, dtype=torch.float32)
    return t[:, :, None, None] if t.dim() == 2 else t


def channel_statistics(task: dict, dataset: str, x_train: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel ``(mean, std)`` the net standardises its input with, from
    ``tasks.knn.normalization[dataset]``: ``train_stats`` (the default: the training
    split's own statistics), ``none`` (raw pixels in [0, 1]: mean 0, std 1) or fixed
    ``{mean: [...], std: [...]}`` with one value per channel."""
    spec = (task.get("normalization") or {}).get(dataset, "train_stats")
    channels = x_train.shape[1]
    if spec == "train_stats":
        return x_train.mean(dim=(0, 2, 3)), x_train.std(dim=(0, 2, 3))
    if spec == "none":
        return torch.zeros(channels), torch.ones(channels)
    if not isinstance(spec, dict) or set(spec) != {"mean", "std"}:
        raise ValueError(
            f"tasks.knn.normalization.{dataset} must be train_stats, none or "
            f"{{mean: [...], std: [...]}}; got {spec!r}"
        )
    mean = torch.as_tensor(spec["mean"], dtype=torch.float32)
    std = torch.as_tensor(spec["std"], dtype=torch.float32)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(
            f"tasks.knn.normalization.{dataset} needs one mean and one std per channel: "
            f"the images have {channels}, the config gives {len(mean)} and {len(std)}"
        )
    return mean, std


def augment(x: Tensor, ops: list[str], generator: torch.Generator) -> Tensor:
    """Per image: a random crop of the image's size from the image zero-padded by
    :data:`CROP_PADDING` pixels (``random_crop``), then a left-right flip with
    probability 1/2 (``horizontal_flip``), in that order as in torchvision.

    Offsets and flips are drawn on the CPU ``generator`` and then moved to ``x``'s
    device, so a seed gives the same images on every device. Padding is applied to
    the raw pixels, before the net standardises them, as the authors' transform does.
    """
    unknown = set(ops) - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(f"unknown augmentation(s) {sorted(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
    n, c, h, w = x.shape
    if "random_crop" in ops:
        p = CROP_PADDING
        top = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        left = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        rows = (top[:, None] + torch.arange(h)).to(x.device)[:, None, :, None]
        cols = (left[:, None] + torch.arange(w)).to(x.device)[:, None, None, :]
        images = torch.arange(n, device=x.device)[:, None, None, None]
        channels = torch.arange(c, device=x.device)[None, :, None, None]
        x = F.pad(x, (p, p, p, p))[images, channels, rows, cols]
    if "horizontal_flip" in ops:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    return x


def neighbour_loss(khot: Tensor, same_label: Tensor) -> Tensor:
    """``-sum_j khot_j 1[y_j = y_q]`` per query (and per sample for multi-sample estimators)."""
    return -(khot * same_label).sum(-1)


def draw_candidates(num_train: int, queries: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` distinct training indices, none of them among ``queries``
    (a query is never its own neighbour)."""
    order = torch.randperm(num_train, generator=generator)
    is_query = torch.zeros(num_train, dtype=torch.bool)
    is_query[queries] = True
    return order[~is_query[order]][:count]


def train_knn_run(
    data,
    task: dict,
    dataset: str,
    estimator_name: str,
    tau: float | None,
    seed: int,
    checkpoint_path: str | Path,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[list[dict], pd.DataFrame, dict]:
    """Train (or resume) one run; return ``(metrics_rows, curve, best_weights)``.

    ``data``: a :class:`subsetgrad.bench.data.Dataset` with image splits. ``task``: the
    ``tasks.knn`` config section. The checkpoint at ``checkpoint_path`` is written
    after every epoch and picked up by a rerun.
    """
    start = time.perf_counter()
    device = torch.device(device)
    for split in ("train", "val", "test"):
        check_images(data.x(split), data.y(split), split)
    k, q_size, n_size = task["k"], task["queries_per_step"], task["candidates_per_step"]
    num_train = len(data.y("train"))
    if num_train < q_size + n_size:
        raise ValueError(
            f"dataset {dataset!r} has {num_train} training images but each step needs "
            f"queries_per_step + candidates_per_step = {q_size + n_size} distinct ones; "
            f"lower them in tasks.knn"
        )
    batch, block = task["eval_batch_size"], task["eval_block_elements"]
    augmentation = list((task.get("augmentation") or {}).get(dataset) or [])
    if augmentation and data.x("train").ndim != 4:
        raise ValueError(
            f"tasks.knn.augmentation.{dataset}: augmentation needs images [N, C, H, W]; "
            f"{dataset!r} holds feature vectors {data.x('train').shape}"
        )
    separate_passes = task.get("forward_passes", "joint") == "separate"
    independent_candidates = task.get("candidate_sampling", "distinct_from_queries") == "independent_pass"

    data_gen = seed_everything(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 7919)
    x_train = as_images(data.x("train")).to(device)
    y_train = torch.as_tensor(data.y("train"), dtype=torch.long).to(device)
    x_val = as_images(data.x("val")).to(device)
    y_val = torch.as_tensor(data.y("val"), dtype=torch.long)
    x_test = as_images(data.x("test")).to(device)
    y_test = torch.as_tensor(data.y("test"), dtype=torch.long)

    mean, std = channel_statistics(task, dataset, x_train)
    model = build_embedding_net(
        task["nets"][dataset],
        tuple(x_train.shape[1:]),
        mean.to(device),
        std.to(device),
        task.get("embedding_dim", 64),
        mnist_convnet_output_relu=task.get("mnist_convnet_output_relu", False),
        preact_resnet18_final_bn_relu=task.get("preact_resnet18_final_bn_relu", True),
    ).to(device)
    if task.get("batchnorm_weight_init", "ones") == "uniform":
        # PyTorch before 1.2 (the authors' 1.1) drew BatchNorm scales from U(0, 1); now they start at 1
        for layer in model.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.weight is not None:
                nn.init.uniform_(layer.weight, 0.0, 1.0)
    estimator = build_estimator(
        estimator_name, k, tau, (task.get("estimator_options") or {}).get(estimator_name)
    ).to(device)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=learning_rate(task, estimator_name),
        momentum=task["momentum"],
        weight_decay=task["weight_decay"],
    )
    # The untrained net is deterministic in the seed, so it can be evaluated again on resume.
    untrained_train = embed(model, x_train, batch)
    untrained_val = embedding_accuracy(
        model, x_train, y_train, x_val, y_val, k, batch, block, untrained_train
    )
    untrained_test = embedding_accuracy(
        model, x_train, y_train, x_test, y_test, k, batch, block, untrained_train
    )
    del untrained_train

    best = BestWeights()
    context = {"dataset": dataset, "estimator": estimator_name, "tau": tau, "seed": seed}
    run = TrainingRun(
        checkpoint_path,
        {"model": model, "optimizer": optimizer, "estimator": estimator, "best": best},
        {"data": data_gen, "noise": noise_gen},
        context,
    )
    run.resume()
    # None: the best weights were chosen before a resume, so their embedding must be recomputed
    best_train_embedding = None
    steps = steps_per_epoch(task, dataset) or math.ceil(num_train / q_size)
    epochs = epochs_for(task, dataset)
    model.train()
    desc = f"knn {dataset} {estimator_name} tau={tau} seed={seed}"
    # one loop with or without the bar, so that tests run the resume path production runs
    for epoch in run.epochs(epochs, desc=desc, progress=progress):
        epoch_start = time.perf_counter()
        passes = math.ceil(steps * q_size / num_train)
        order = torch.cat([torch.randperm(num_train, generator=data_gen) for _ in range(passes)])
        if independent_candidates:
            candidate_passes = math.ceil(steps * n_size / num_train)
            candidate_order = torch.cat(
                [torch.randperm(num_train, generator=data_gen) for _ in range(candidate_passes)]
            )
        loss_sum = torch.zeros((), device=device)
        correct_sum = torch.zeros((), device=device)
        for step in range(steps):
            queries = order[step * q_size : (step + 1) * q_size]
            if independent_candidates:
                # the authors' second shuffled loader: a query may be among its own candidates
                candidates = candidate_order[step * n_size : (step + 1) * n_size]
            else:
                candidates = draw_candidates(num_train, queries, n_size, data_gen)
            index = torch.cat([queries, candidates]).to(device)
            x = x_train[index]
            if augmentation:
                x = augment(x, augmentation, data_gen)
            if separate_passes:
                # candidates first, then queries, as the authors: two BatchNorm batches
                h_c = model(x[q_size:])
                h_q = model(x[:q_size])
            else:
                h = model(x)
                h_q, h_c = h[:q_size], h[q_size:]
            scores = -(h_q.unsqueeze(1) - h_c.unsqueeze(0)).pow(2).sum(-1)  # [Q, N]
            # a diverging net overflows the distances before the loss turns NaN
            run.check_finite(scores.detach().sum(), epoch, step)
            same_label = y_train[index[:q_size]].unsqueeze(1) == y_train[index[q_size:]].unsqueeze(0)
            same_label = same_label.to(scores.dtype)
            sample = estimator.sample(scores, generator=noise_gen)
            loss = estimator.surrogate(sample, neighbour_loss(sample.khot, same_label))
            run.check_finite(loss, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                nearest = torch.topk(scores, k, dim=-1).indices
                correct_sum += torch.gather(same_label, 1, nearest).mean()
                loss_sum += neighbour_loss(sample.khot.detach(), same_label).mean()
        train_embedding = embed(model, x_train, batch)
        val_acc = embedding_accuracy(model, x_train, y_train, x_val, y_val, k, batch, block, train_embedding)
        if best.offer(model, val_acc, epoch):
            best_train_embedding = train_embedding  # reused by the test evaluation of these weights
        run.end_epoch(
            epoch,
            {
                "train_loss": float(loss_sum) / steps,
                "train_topk_correct": float(correct_sum) / steps,
                "val_accuracy": val_acc,
                "epoch_time_s": time.perf_counter() - epoch_start,
            },
        )

    if best.weights is None:
        raise RuntimeError(f"run {context} finished without a single epoch; set tasks.knn.epochs >= 1")
    model.load_state_dict(best.weights)
    test_acc = embedding_accuracy(
        model, x_train, y_train, x_test, y_test, k, batch, block, best_train_embedding
    )
    history = run.history
    # wall time of the whole run: the epochs' times (also those before a resume) plus this
    # process's set-up and final evaluation
    wall = sum(h["epoch_time_s"] for h in history[: run.start_epoch]) + (time.perf_counter() - start)
    common = {
        "task": TASK,
        "dataset": dataset,
        "estimator": estimator_name,
        "tau": math.nan if tau is None else float(tau),
        "k": k,
        "seed": seed,
        "wall_time_s": wall,
        "epochs": len(history),
    }
    values = {
        "val_accuracy": best.accuracy,
        "test_accuracy": test_acc,
        "best_epoch": float(best.epoch + 1),
        "untrained_val_accuracy": untrained_val,
        "untrained_test_accuracy": untrained_test,
        "final_train_topk_correct": history[-1]["train_topk_correct"],
    }
    rows = [{**common, "metric": name, "value": float(value)} for name, value in values.items()]
    curve = pd.DataFrame(
        [
            {
                "epoch": 0,
                "train_loss": math.nan,
                "train_topk_correct": math.nan,
                "val_accuracy": untrained_val,
                "epoch_time_s": math.nan,
            }
        ]
        + [{**h, "epoch": h["epoch"] + 1} for h in history]
    )
    curve.insert(0, "seed", seed)
    curve.insert(0, "tau", common["tau"])
    curve.insert(0, "estimator", estimator_name)
    curve.insert(0, "dataset", dataset)
    print(
        f"{desc}: best val {best.accuracy:.4f} (epoch {best.epoch + 1}), test {test_acc:.4f}, "
        f"untrained val {untrained_val:.4f}, {wall:.1f} s",
        file=sys.stderr,
    )
    return rows, curve, best.state_dict()
