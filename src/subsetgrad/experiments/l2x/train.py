"""Training of the black box and of the explainer + approximator (L2X objective).

Black box: cross-entropy on the labels (or, with ``soft_targets``, on the dataset's class
probabilities ``prob_<split>`` = P(y=1|x), as the L2X authors' code trains on its
synthetic data). ``train_on``: the training split (``train``) or training and validation
splits together (``train_val``: the authors trained on all 25,000 IMDB training reviews).
``checkpoint``, the epoch kept: lowest validation cross-entropy (``val_loss``, the
default), highest validation or test accuracy (``val_accuracy``; ``test_accuracy``, what
the authors' Keras ``ModelCheckpoint(monitor='val_acc')`` does, their validation data
being the test set), or the last epoch (``last``).

Explainer + approximator, for input x with black-box class distribution ``p(. | x)`` and
explainer logits ``w(x)``:

    z ~ estimator.sample(w(x))                       (k-hot, relaxed or exact)
    loss(z) = - sum_c p(c | x) log q(c | x, z)       (q: approximator on the selection)
    minimise estimator.surrogate(z, loss)            (its gradient is the estimator's)

``checkpoint``, the epoch kept: best validation *fidelity* (``val_fidelity``, the default:
the approximator, given the deterministic top-k selection, agrees with the black box's
predicted class) or lowest validation loss (``val_loss``: the objective above with the
deterministic top-k selection and without dropout, which is what Keras's
``ModelCheckpoint(monitor='val_loss')`` in the authors' code compares). Padding units get
logit ``-inf`` (never selected) unless ``select_padding`` is set (the authors' explainer
ranks every position, padding included; a selected padding unit contributes nothing).

Both loops checkpoint every epoch through :class:`subsetgrad.training.TrainingRun`
(model, optimiser, estimator state, best-so-far weights, every RNG), so a killed job
resumes where it stopped.
"""
from __future__ import annotations

import dataclasses

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...data import Dataset
from ...runtime import seed_everything
from ...training import TrainingRun
from .evaluate import explanation_mask, mask_padding, posthoc_agreement, predict
from .optim import make_optimizer
from .models import build_approximator, build_black_box, build_explainer, model_spec, unit_padding


@dataclass
class Settings:
    """One training loop's settings (a ``black_box``/``explainer`` config section)."""

    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"
    soft_targets: bool = False  # black box only: fit the dataset's P(y=1|x) (prob_<split>)
    train_on: str = "train"  # black box only: "train" or "train_val"
    checkpoint: str | None = None  # None: the loop's default (see the module docstring)
    select_padding: bool = False  # explainer only: may padding units be selected?
    steps_per_epoch: int | None = None  # None: one pass of the training split

    @classmethod
    def from_config(cls, section: dict) -> "Settings":
        return cls(**section)

    def make_optimizer(self, params):
        return make_optimizer(self.optimizer, params, self.lr)


BLACK_BOX_CHECKPOINTS = ("val_loss", "val_accuracy", "test_accuracy", "last")
EXPLAINER_CHECKPOINTS = ("val_fidelity", "val_loss")
TRAIN_ON = ("train", "train_val")


class BestState:
    """The best-so-far weights and score, saved with the checkpoint (``state_dict`` API).

    Higher scores are better; pass ``-loss`` for a loss. ``last`` keeps every epoch's
    weights (the final epoch is then restored)."""

    def __init__(self, *modules: torch.nn.Module):
        self.modules = modules
        self.score = -float("inf")
        self.epoch = -1
        self.weights = [copy.deepcopy(m.state_dict()) for m in modules]

    def update(self, score: float, epoch: int, last: bool = False) -> bool:
        if last or score > self.score:  # strictly better: ties keep the earlier epoch
            self.score, self.epoch = score, epoch
            self.weights = [copy.deepcopy(m.state_dict()) for m in self.modules]
            return True
        return False

    def restore(self) -> None:
        for m, w in zip(self.modules, self.weights):
            m.load_state_dict(w)

    def state_dict(self) -> dict:
        return {"score": self.score, "epoch": self.epoch, "weights": self.weights}

    def load_state_dict(self, state: dict) -> None:
        self.score, self.epoch, self.weights = state["score"], state["epoch"], state["weights"]


def split_tensors(dataset: Dataset, split: str, limit: int | None = None) -> dict[str, torch.Tensor]:
    """``x``, ``y`` (and ``mask`` = true features where the dataset has them) as tensors."""
    x = torch.from_numpy(np.ascontiguousarray(dataset.x(split)))
    # Token ids may be stored compactly (int32); embeddings need int64.
    out = {"x": x if x.is_floating_point() else x.long(),
           "y": torch.from_numpy(np.ascontiguousarray(dataset.y(split))).long()}
    if f"mask_{split}" in dataset.arrays:
        out["mask"] = torch.from_numpy(dataset.arrays[f"mask_{split}"]).bool()
    if limit is not None:
        out = {key: value[:limit] for key, value in out.items()}
    return out


def dataset_spec(dataset: Dataset, networks: str = "compact", init: str = "torch") -> dict:
    """Model spec (modality, units, classes, vocabulary size) for a dataset, checked.

    The vocabulary size of token inputs is the largest of: the ``vocabulary`` array's
    length, meta ``vocab_size`` / ``num_words``, and the largest token id + 1 (so an
    embedding never sees an id out of range).
    """
    x = dataset.x("train")
    num_classes = int(dataset.meta.get("num_classes", int(dataset.y("train").max()) + 1))
    vocab = None
    if not str(x.dtype).startswith("float"):
        candidates = [int(max(dataset.x(s).max() for s in ("train", "val", "test"))) + 1]
        if "vocabulary" in dataset.arrays:
            candidates.append(len(dataset.arrays["vocabulary"]))
        candidates += [int(dataset.meta[key]) for key in ("vocab_size", "num_words") if key in dataset.meta]
        vocab = max(candidates)
    return model_spec(x, num_classes, vocab, networks, init)


def _batches(n: int, batch_size: int, generator: torch.Generator, steps: int | None = None):
    """Index batches of one epoch: a fresh shuffle, cut after ``steps`` batches when given
    (for a budget where even one pass of the training split does not fit)."""
    order = torch.randperm(n, generator=generator)
    starts = range(0, n, batch_size)
    for start in starts if steps is None else starts[:steps]:
        yield order[start:start + batch_size]


def black_box_targets(dataset: Dataset, split: str, soft: bool, limit: int | None = None) -> torch.Tensor:
    """Training targets of the black box: class distributions ``[N, C]``.

    Labels become one-hot rows; ``soft`` uses the binary dataset's ``prob_<split>``
    (``P(y = 1 | x)``) instead.
    """
    if soft:
        key = f"prob_{split}"
        if key not in dataset.arrays:
            raise ValueError(f"black_box.soft_targets needs the array {key!r} (P(y=1|x)), which "
                             f"dataset {dataset.name!r} lacks; set soft_targets: false for it")
        p = torch.from_numpy(np.asarray(dataset.arrays[key], dtype=np.float32))[:limit]
        return torch.stack([1 - p, p], dim=-1)
    y = torch.from_numpy(np.asarray(dataset.y(split))).long()[:limit]
    return F.one_hot(y, int(dataset.meta.get("num_classes", int(y.max()) + 1))).float()


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ``-sum_c target_c log softmax(logits)_c``."""
    return -(target * torch.log_softmax(logits, -1)).sum(-1)


def _resumable(settings: Settings) -> str:
    """The settings a checkpoint must share to be resumed: all but the epoch count,
    so that a longer run may continue a shorter one."""
    return repr(dataclasses.replace(settings, epochs=0))


def _choice(value, allowed, key: str):
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def train_black_box(dataset: Dataset, settings: Settings, seed: int, device: torch.device,
                    checkpoint: str | Path, train_samples: int | None = None,
                    context: dict | None = None, networks: str = "compact", init: str = "torch",
                    test_samples: int | None = None):
    """Train the black box; return ``(model, spec, history, info)``; ``model`` holds the
    weights of the epoch ``settings.checkpoint`` selects (default: lowest validation
    cross-entropy)."""
    train_on = _choice(settings.train_on, TRAIN_ON, "black_box.train_on")
    select = _choice(settings.checkpoint or "val_loss", BLACK_BOX_CHECKPOINTS, "black_box.checkpoint")
    if train_on == "train_val" and select.startswith("val_"):
        raise ValueError(f"black_box.checkpoint {select!r} selects on the validation split, which "
                         f"train_on 'train_val' trains on; use test_accuracy or last")
    spec = dataset_spec(dataset, networks, init)
    train = split_tensors(dataset, "train", train_samples)
    val = split_tensors(dataset, "val")
    target_train = black_box_targets(dataset, "train", settings.soft_targets, train_samples)
    target_val = black_box_targets(dataset, "val", settings.soft_targets)
    if train_on == "train_val":
        train = {key: torch.cat([train[key], val[key]]) for key in ("x", "y")}
        target_train = torch.cat([target_train, target_val])
    test = split_tensors(dataset, "test", test_samples) if select == "test_accuracy" else None
    seed_everything(seed)
    model = build_black_box(spec).to(device)
    optimizer = settings.make_optimizer(model.parameters())
    best = BestState(model)
    data_gen = torch.Generator().manual_seed(seed)
    run = TrainingRun(checkpoint, {"model": model, "optimizer": optimizer, "best": best},
                      {"data": data_gen}, context=context,
                      fingerprint={"settings": _resumable(settings), "seed": seed,
                                   "train_samples": train_samples, "dataset": dataset.name,
                                   "spec": repr(spec)})
    run.resume()
    start = time.perf_counter()
    val_x = val["x"].to(device)
    for epoch in run.epochs(settings.epochs, desc="black box epochs"):
        model.train()
        total, count = 0.0, 0
        for step, idx in enumerate(_batches(len(train["x"]), settings.batch_size, data_gen,
                                            settings.steps_per_epoch)):
            xb, target = train["x"][idx].to(device), target_train[idx].to(device)
            loss = _soft_cross_entropy(model(xb), target).mean()
            run.check_finite(loss, epoch, step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        probs = predict(model, val_x).cpu()
        val_loss = float(-(target_val * torch.log(probs.clamp_min(1e-12))).sum(-1).mean())
        val_accuracy = float((probs.argmax(-1) == val["y"]).double().mean())
        record = {"train_loss": total / count, "val_loss": val_loss, "val_accuracy": val_accuracy}
        if test is not None:
            test_probs = predict(model, test["x"].to(device)).cpu()
            record["test_accuracy"] = float((test_probs.argmax(-1) == test["y"]).double().mean())
        score = -val_loss if select == "val_loss" else record.get(select, 0.0)
        best.update(score, epoch, last=select == "last")
        run.end_epoch(epoch, {**record, "seconds": time.perf_counter() - start})
    best.restore()
    return model, spec, run.history, {"best_epoch": best.epoch, "resumed": run.resumed}


def train_explainer(dataset: Dataset, black_box: torch.nn.Module, spec: dict, estimator, k: int,
                    settings: Settings, seed: int, device: torch.device, checkpoint: str | Path,
                    train_samples: int | None = None, context: dict | None = None):
    """Train explainer + approximator with ``estimator``; return
    ``(explainer, approximator, history, info)`` with the weights of the epoch
    ``settings.checkpoint`` selects (default: best validation fidelity)."""
    select = _choice(settings.checkpoint or "val_fidelity", EXPLAINER_CHECKPOINTS,
                     "explainer.checkpoint")
    if k > spec["units"]:
        raise ValueError(f"k={k} is larger than the {spec['units']} selectable units of "
                         f"{dataset.name}; choose k <= {spec['units']}")
    modality = spec["modality"]
    train = split_tensors(dataset, "train", train_samples)
    val = split_tensors(dataset, "val")
    black_box = black_box.to(device).eval()
    for p in black_box.parameters():
        p.requires_grad_(False)
    # The black box is fixed: its predicted distributions are the targets.
    target_train = predict(black_box, train["x"].to(device)).cpu()
    val_x = val["x"].to(device)
    val_bb = predict(black_box, val_x)

    seed_everything(seed)
    explainer = build_explainer(spec).to(device)
    approximator = build_approximator(spec, k).to(device)
    estimator = estimator.to(device)
    optimizer = settings.make_optimizer(list(explainer.parameters()) + list(approximator.parameters()))
    best = BestState(explainer, approximator)
    data_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
    run = TrainingRun(checkpoint, {"explainer": explainer, "approximator": approximator,
                                   "optimizer": optimizer, "estimator": estimator, "best": best},
                      {"data": data_gen, "noise": noise_gen}, context=context,
                      fingerprint={"settings": _resumable(settings), "seed": seed, "k": k,
                                   "estimator": repr(estimator), "train_samples": train_samples,
                                   "dataset": dataset.name, "spec": repr(spec)})
    run.resume()
    start = time.perf_counter()
    for epoch in run.epochs(settings.epochs, desc="explainer epochs"):
        explainer.train()
        approximator.train()
        total, count = 0.0, 0
        for step, idx in enumerate(_batches(len(train["x"]), settings.batch_size, data_gen,
                                            settings.steps_per_epoch)):
            xb, target = train["x"][idx].to(device), target_train[idx].to(device)
            logits = explainer(xb)
            if not settings.select_padding:
                logits = mask_padding(logits, unit_padding(xb, modality), k)
            sample = estimator.sample(logits, generator=noise_gen)
            log_q = torch.log_softmax(approximator(xb, sample.khot), -1)  # [(m,) B, C]
            loss_per_sample = -(target * log_q).sum(-1)
            loss = estimator.surrogate(sample, loss_per_sample)
            run.check_finite(loss, epoch, step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        scores = validate(explainer, approximator, black_box, val_x, val_bb, k, modality,
                          settings.select_padding)
        best.update(scores["val_fidelity"] if select == "val_fidelity" else -scores["val_loss"], epoch)
        run.end_epoch(epoch, {"train_loss": total / count, **scores,
                              "seconds": time.perf_counter() - start})
    best.restore()
    return explainer, approximator, run.history, {"best_epoch": best.epoch, "resumed": run.resumed}


@torch.no_grad()
def explain(explainer: torch.nn.Module, x: torch.Tensor, k: int, modality: str,
            batch_size: int = 500, select_padding: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Explainer logits (padding at -inf unless ``select_padding``) and the test-time k-hot
    explanations, ``[N, n]`` each."""
    explainer.eval()
    chunks = []
    for i in range(0, len(x), batch_size):
        logits = explainer(x[i:i + batch_size])
        if not select_padding:
            logits = mask_padding(logits, unit_padding(x[i:i + batch_size], modality), k)
        chunks.append(logits)
    logits = torch.cat(chunks)
    return logits, explanation_mask(logits, k)


@torch.no_grad()
def validate(explainer, approximator, black_box, x, black_box_probs, k, modality,
             select_padding: bool = False) -> dict[str, float]:
    """Scores of the deterministic top-k explanations on ``x``: ``val_fidelity``,
    ``val_posthoc_accuracy`` and ``val_loss`` (cross-entropy of the approximator's
    prediction from the selection against the black box's class distribution)."""
    _, masks = explain(explainer, x, k, modality, select_padding=select_padding)
    approximator.eval()
    approx_logits = torch.cat([approximator(x[i:i + 500], masks[i:i + 500])
                               for i in range(0, len(x), 500)])
    black_box_class = black_box_probs.argmax(-1)
    fidelity = float((approx_logits.argmax(-1) == black_box_class).double().mean())
    loss = float(_soft_cross_entropy(approx_logits, black_box_probs).mean())
    posthoc = float(posthoc_agreement(black_box, x, masks, modality).double().mean())
    return {"val_fidelity": fidelity, "val_posthoc_accuracy": posthoc, "val_loss": loss}
