"""Training one t-SNE run: (pretrained) network, training by one method, evaluation on test;
and the untrained reference runs, scored the same way.

A run is identified by ``(dataset, d, init, method, seed)``; ``init`` is
``scratch`` or ``pretrained`` (greedy layer-wise autoencoder pretraining, shared by
every method of the same dataset, d and seed). Every epoch ends with an atomic
checkpoint (:class:`subsetgrad.bench.training.TrainingRun`), so a killed run resumes
bit for bit.

Which weights are evaluated is ``tasks.tsne.checkpoint``: ``last`` (the final
epoch's) or ``lowest_train_loss``, the authors' Keras
``ModelCheckpoint(monitor='loss', save_best_only=True)``: the weights at the end
of the epoch whose mean training loss (the mean of its batch losses, computed
while the weights moved) is strictly lowest so far, so the first of equal minima
wins.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from subsetgrad.bench.data import Dataset
from subsetgrad.bench.experiments.tsne.evaluate import REFERENCES, embed, embedding_metrics
from subsetgrad.bench.experiments.tsne.networks import build_network, pretrain_autoencoder
from subsetgrad.bench.experiments.tsne.objectives import make_objective, method_k, method_tau
from subsetgrad.bench.experiments.tsne.plan import INITS, dataset_label
from subsetgrad.bench.runtime import seed_everything
from subsetgrad.bench.training import TrainingRun

CHECKPOINTS = ("last", "lowest_train_loss")
TASK = "tsne"


def features(data: Dataset, split: str) -> np.ndarray:
    """Inputs of a split as float32 vectors ``[n, dim]`` (images are flattened)."""
    x = np.asarray(data.x(split))
    width = int(np.prod(x.shape[1:]))  # explicit: reshape(0, -1) fails on an empty split
    return x.reshape(x.shape[0], width).astype(np.float32)


def training_inputs(data: Dataset) -> np.ndarray:
    """The task trains on every non-test point: ``train`` then ``val``.

    The paper's splits have no validation part (MNIST 60,000 / 10,000, 20 Newsgroups
    15,000 / 1,242) and the authors select weights by training loss only, so a
    prepared dataset's validation split (MNIST's 5,000, ``mnist_test_small``'s
    1,000) joins training.
    """
    return np.concatenate([features(data, "train"), features(data, "val")])


def training_labels(data: Dataset) -> np.ndarray:
    return np.concatenate([np.asarray(data.y("train")), np.asarray(data.y("val"))])


def check_training_data(data: Dataset, dataset: str, task: dict) -> None:
    """Fail before training when the train split cannot fill one batch or test is too small."""
    n_train = data.x("train").shape[0] + data.x("val").shape[0]
    if n_train < task["batch_size"]:
        raise ValueError(
            f"dataset {dataset!r} has {n_train} training points but "
            f"tasks.tsne.batch_size is {task['batch_size']}; lower batch_size"
        )
    n_test = data.x("test").shape[0]
    if n_test <= 2 * 12:
        raise ValueError(
            f"dataset {dataset!r} has {n_test} test points; trustworthiness T(12) needs more than 24"
        )


def _seconds_of(history: list[dict]) -> float:
    return float(sum(h.get("seconds", 0.0) for h in history))


def pretrain(
    data: Dataset, dataset: str, task: dict, dim: int, seed: int, device: torch.device, checkpoint_path
) -> tuple[dict, list[dict]]:
    """Greedy layer-wise autoencoder pretraining of the run's network.

    Returns ``(state_dict on CPU, per-layer history)``. The network is initialised
    exactly as a ``scratch`` run of the same seed initialises it.
    """
    check_training_data(data, dataset, task)
    x = torch.as_tensor(training_inputs(data), device=device)
    seed_everything(seed)
    net = build_network(x.shape[1], task["networks"][dataset], dim).to(device)
    generator = torch.Generator().manual_seed(seed)
    history = pretrain_autoencoder(
        net,
        x,
        epochs=task["pretrain_epochs"],
        batch_size=task["batch_size"],
        lr=task["pretrain_lr"],
        generator=generator,
        checkpoint_path=checkpoint_path,
        rmsprop_rho=float(task["pretrain_rmsprop_rho"]),
        rmsprop_eps=float(task["pretrain_rmsprop_eps"]),
        context={"task": TASK, "stage": "pretrain", "dataset": dataset, "d": dim, "seed": seed},
    )
    return {k: v.detach().cpu() for k, v in net.state_dict().items()}, history


class LowestLossWeights:
    """The network's weights at the end of the epoch with the lowest mean training loss.

    A ``state_dict``/``load_state_dict`` object, so the training checkpoint carries it
    and a resumed run selects exactly as an uninterrupted one.
    """

    def __init__(self, net: torch.nn.Module):
        self.net = net
        self.loss = math.inf
        self.epoch: int | None = None
        self.weights: dict | None = None

    def update(self, epoch: int, loss: float) -> None:
        if loss < self.loss:  # strict, as Keras' np.less: the first of equal minima is kept
            self.loss, self.epoch = loss, epoch
            self.weights = {k: v.detach().clone() for k, v in self.net.state_dict().items()}

    def restore(self) -> int:
        """Load the selected weights into the network; return their epoch."""
        if self.weights is None:
            raise RuntimeError("no epoch has finished, so there are no weights to select")
        self.net.load_state_dict(self.weights)
        return self.epoch

    def state_dict(self) -> dict:
        return {"loss": self.loss, "epoch": self.epoch, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.loss, self.epoch, self.weights = state["loss"], state["epoch"], state["weights"]


@dataclass
class RunResult:
    train_embedding: np.ndarray
    test_embedding: np.ndarray
    history: list[dict]
    metrics: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0
    selected_epoch: int | None = None


def run_metrics(train_embedding, test_embedding, data: Dataset) -> dict[str, float]:
    """The metrics of a run's embeddings: 1-NN error fit on every training point (train and
    val), trustworthiness on the test split."""
    return embedding_metrics(
        train_embedding, training_labels(data), features(data, "test"), test_embedding, data.y("test")
    )


def metric_rows(
    values: dict[str, float],
    *,
    dataset: str,
    dim: int,
    init: str,
    method: str,
    tau: float | None,
    k: int | None,
    seed: int,
    wall_time_s: float,
    epochs: int | None,
) -> list[dict]:
    common = {
        "task": TASK,
        "dataset": dataset_label(dataset, dim, init),
        "estimator": method,
        "tau": float("nan") if tau is None else float(tau),
        "k": float("nan") if k is None else k,
        "seed": seed,
        "wall_time_s": wall_time_s,
        "epochs": float("nan") if epochs is None else epochs,
    }
    return [{**common, "metric": name, "value": float(value)} for name, value in values.items()]


def train_run(
    data: Dataset,
    dataset: str,
    task: dict,
    *,
    method: str,
    dim: int,
    init: str,
    seed: int,
    device: torch.device,
    checkpoint_path,
    pretrained_state: dict | None = None,
) -> RunResult:
    """Train the network of ``dataset`` with ``method`` and evaluate it on the test split.

    The returned history marks the evaluated epoch (``selected``; see ``checkpoint``
    in the module docstring).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if task["checkpoint"] not in CHECKPOINTS:
        raise ValueError(f"tasks.tsne.checkpoint must be one of {CHECKPOINTS}, got {task['checkpoint']!r}")
    if (init == "pretrained") != (pretrained_state is not None):
        raise ValueError("a pretrained run needs the pretrained weights, a scratch run none")
    check_training_data(data, dataset, task)
    x_train_np = training_inputs(data)
    x_train = torch.as_tensor(x_train_np, device=device)
    seed_everything(seed)
    net = build_network(x_train.shape[1], task["networks"][dataset], dim).to(device)
    if pretrained_state is not None:
        net.load_state_dict(pretrained_state)
    objective = make_objective(method, task).to(device)
    # Keras' Adam adds its eps (default 1e-7) to sqrt(v_t) before the bias correction,
    # torch's after it; with eps this small the two agree to within rounding.
    optimizer = torch.optim.Adam(net.parameters(), lr=task["lr"], eps=float(task["adam_eps"]))
    shuffle = torch.Generator().manual_seed(seed)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    context = {"task": TASK, "dataset": dataset, "d": dim, "init": init, "method": method, "seed": seed}
    stateful = {"net": net, "optimizer": optimizer, "objective": objective}
    lowest = LowestLossWeights(net) if task["checkpoint"] == "lowest_train_loss" else None
    if lowest is not None:
        stateful["lowest_loss_weights"] = lowest
    run = TrainingRun(checkpoint_path, stateful, {"shuffle": shuffle, "noise": noise}, context=context)
    run.resume()
    n, batch = x_train.shape[0], task["batch_size"]
    steps = n // batch  # the incomplete last batch is dropped; shuffling changes it every epoch
    for epoch in run.epochs(task["epochs"], desc=f"{method} {dataset} d={dim} {init} seed={seed}"):
        start = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        total = 0.0
        for step in range(steps):
            xb = x_train[order[step * batch : (step + 1) * batch]]
            loss = objective(xb, net(xb), noise)
            run.check_finite(loss, epoch, step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if lowest is not None:
            lowest.update(epoch, total / steps)  # before the checkpoint, which saves it
        run.end_epoch(epoch, {"loss": total / steps, "seconds": time.perf_counter() - start})
    selected = lowest.restore() if lowest is not None else task["epochs"] - 1
    history = [{**h, "selected": h["epoch"] == selected} for h in run.history]
    start = time.perf_counter()
    train_embedding = embed(net, x_train_np, device)
    test_embedding = embed(net, features(data, "test"), device)
    values = run_metrics(train_embedding, test_embedding, data)
    wall = _seconds_of(run.history) + time.perf_counter() - start
    rows = metric_rows(
        values,
        dataset=dataset,
        dim=dim,
        init=init,
        method=method,
        tau=method_tau(method, task),
        k=method_k(method, task),
        seed=seed,
        wall_time_s=wall,
        epochs=task["epochs"],
    )
    return RunResult(train_embedding, test_embedding, history, rows, wall, selected)


def reference_runs(data: Dataset, dataset: str, dim: int, seed: int) -> dict[str, RunResult]:
    """Untrained reference embeddings (random projection, PCA) with the same metrics."""
    out = {}
    x_train, x_test = training_inputs(data), features(data, "test")
    for name, project in REFERENCES.items():
        start = time.perf_counter()
        train_embedding, test_embedding = project(x_train, x_test, dim, seed)
        values = run_metrics(train_embedding, test_embedding, data)
        wall = time.perf_counter() - start
        rows = metric_rows(
            values,
            dataset=dataset,
            dim=dim,
            init="scratch",
            method=name,
            tau=None,
            k=None,
            seed=seed,
            wall_time_s=wall,
            epochs=None,
        )
        out[name] = RunResult(train_embedding, test_embedding, [], rows, wall)
    return out


def save_embedding(path, result: RunResult, data: Dataset) -> None:
    """``train``/``test`` embeddings and labels in one npz (atomic)."""
    from subsetgrad.bench.io import atomic_path

    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                train=result.train_embedding.astype(np.float32),
                test=result.test_embedding.astype(np.float32),
                y_train=training_labels(data),
                y_test=data.y("test"),
            )
