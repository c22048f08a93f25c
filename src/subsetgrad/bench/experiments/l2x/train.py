"""Training one L2X run: the black box of a dataset and seed, or the explainer +
approximator of a (dataset, estimator, tau, seed), each then evaluated
(:mod:`.evaluate`). :func:`run_black_box` and :func:`run_explainer` are what the workflow's
scripts call.

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

Both loops checkpoint every epoch through :class:`subsetgrad.bench.training.TrainingRun`
(model, optimiser, estimator state, best-so-far weights, every RNG), so a killed job
resumes where it stopped.

Optimisers (``optimizer``): ``adam`` is ``torch.optim.Adam`` with its defaults; ``rmsprop``
is Keras's RMSprop (the L2X code's optimiser), which is ``torch.optim.RMSprop`` with
``alpha = rho = 0.9``, ``eps = 1e-7``, no momentum, not centred; ``keras_adam`` is Adam as
Keras 2.2.4 computes it (:class:`KerasAdam`), which torch does not offer.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from subsetgrad.bench.data import Dataset
from subsetgrad.bench.experiments.common import build_estimator, parse_tau_label
from subsetgrad.bench.experiments.l2x.evaluate import (
    evaluate_black_box,
    evaluate_explainer,
    example_page,
    explain,
    mask_padding,
    posthoc_agreement,
    predict,
)
from subsetgrad.bench.experiments.l2x.networks import (
    build_approximator,
    build_black_box,
    build_explainer,
    model_spec,
    unit_padding,
)
from subsetgrad.bench.runtime import seed_everything
from subsetgrad.bench.training import TrainingRun

TASK = "l2x"


class KerasAdam(torch.optim.Optimizer):
    """Adam as Keras 2.2.4 computes it (the optimiser of the L2X authors' word-level black
    box and sentence-level explainer), with Keras's defaults:

        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2,
        p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)

    with ``b1 = 0.9``, ``b2 = 0.999``, ``eps = 1e-7``. Keras adds ``eps`` to ``sqrt(v)``
    *before* the bias correction, so ``torch.optim.Adam`` cannot express it: the update is
    torch's with ``eps / sqrt(1 - b2^t)`` in place of ``eps``, which is how it is computed.
    """

    def __init__(
        self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-7
    ):
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {lr!r}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                m, v = state["exp_avg"], state["exp_avg_sq"]
                correction1 = 1 - beta1 ** state["step"]
                correction2 = 1 - beta2 ** state["step"]
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (v / correction2).sqrt_().add_(group["eps"] / math.sqrt(correction2))
                p.addcdiv_(m, denom, value=-group["lr"] / correction1)
        return loss


OPTIMIZERS = ("adam", "keras_adam", "rmsprop")


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The optimiser ``name`` (one of :data:`OPTIMIZERS`) over the trainable ``params``."""
    # Frozen parameters (the paper networks' second LSTM bias) never get a gradient; leaving
    # them out keeps the optimiser state to what is trained.
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("the optimiser got no trainable parameters")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":  # Keras's RMSprop(rho=0.9, epsilon=1e-7): no momentum, not centred
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7, momentum=0.0, centered=False)
    if name == "keras_adam":
        return KerasAdam(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


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
    def from_config(cls, section: dict) -> Settings:
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
    out = {
        "x": x if x.is_floating_point() else x.long(),
        "y": torch.from_numpy(np.ascontiguousarray(dataset.y(split))).long(),
    }
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
        yield order[start : start + batch_size]


def black_box_targets(dataset: Dataset, split: str, soft: bool, limit: int | None = None) -> torch.Tensor:
    """Training targets of the black box: class distributions ``[N, C]``.

    Labels become one-hot rows; ``soft`` uses the binary dataset's ``prob_<split>``
    (``P(y = 1 | x)``) instead.
    """
    if soft:
        key = f"prob_{split}"
        if key not in dataset.arrays:
            raise ValueError(
                f"black_box.soft_targets needs the array {key!r} (P(y=1|x)), which "
                f"dataset {dataset.name!r} lacks; set soft_targets: false for it"
            )
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


def train_black_box(
    dataset: Dataset,
    settings: Settings,
    seed: int,
    device: torch.device,
    checkpoint: str | Path,
    train_samples: int | None = None,
    context: dict | None = None,
    networks: str = "compact",
    init: str = "torch",
    test_samples: int | None = None,
):
    """Train the black box; return ``(model, spec, history, info)``; ``model`` holds the
    weights of the epoch ``settings.checkpoint`` selects (default: lowest validation
    cross-entropy)."""
    train_on = _choice(settings.train_on, TRAIN_ON, "black_box.train_on")
    select = _choice(settings.checkpoint or "val_loss", BLACK_BOX_CHECKPOINTS, "black_box.checkpoint")
    if train_on == "train_val" and select.startswith("val_"):
        raise ValueError(
            f"black_box.checkpoint {select!r} selects on the validation split, which "
            f"train_on 'train_val' trains on; use test_accuracy or last"
        )
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
    run = TrainingRun(
        checkpoint,
        {"model": model, "optimizer": optimizer, "best": best},
        {"data": data_gen},
        context=context,
        fingerprint={
            "settings": _resumable(settings),
            "seed": seed,
            "train_samples": train_samples,
            "dataset": dataset.name,
            "spec": repr(spec),
        },
    )
    run.resume()
    start = time.perf_counter()
    val_x = val["x"].to(device)
    for epoch in run.epochs(settings.epochs, desc="black box epochs"):
        model.train()
        total, count = 0.0, 0
        for step, idx in enumerate(
            _batches(len(train["x"]), settings.batch_size, data_gen, settings.steps_per_epoch)
        ):
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


def train_explainer(
    dataset: Dataset,
    black_box: torch.nn.Module,
    spec: dict,
    estimator,
    k: int,
    settings: Settings,
    seed: int,
    device: torch.device,
    checkpoint: str | Path,
    train_samples: int | None = None,
    context: dict | None = None,
):
    """Train explainer + approximator with ``estimator``; return
    ``(explainer, approximator, history, info)`` with the weights of the epoch
    ``settings.checkpoint`` selects (default: best validation fidelity)."""
    select = _choice(settings.checkpoint or "val_fidelity", EXPLAINER_CHECKPOINTS, "explainer.checkpoint")
    if k > spec["units"]:
        raise ValueError(
            f"k={k} is larger than the {spec['units']} selectable units of "
            f"{dataset.name}; choose k <= {spec['units']}"
        )
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
    run = TrainingRun(
        checkpoint,
        {
            "explainer": explainer,
            "approximator": approximator,
            "optimizer": optimizer,
            "estimator": estimator,
            "best": best,
        },
        {"data": data_gen, "noise": noise_gen},
        context=context,
        fingerprint={
            "settings": _resumable(settings),
            "seed": seed,
            "k": k,
            "estimator": repr(estimator),
            "train_samples": train_samples,
            "dataset": dataset.name,
            "spec": repr(spec),
        },
    )
    run.resume()
    start = time.perf_counter()
    for epoch in run.epochs(settings.epochs, desc="explainer epochs"):
        explainer.train()
        approximator.train()
        total, count = 0.0, 0
        for step, idx in enumerate(
            _batches(len(train["x"]), settings.batch_size, data_gen, settings.steps_per_epoch)
        ):
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
        scores = validate(
            explainer, approximator, black_box, val_x, val_bb, k, modality, settings.select_padding
        )
        best.update(scores["val_fidelity"] if select == "val_fidelity" else -scores["val_loss"], epoch)
        run.end_epoch(epoch, {"train_loss": total / count, **scores, "seconds": time.perf_counter() - start})
    best.restore()
    return explainer, approximator, run.history, {"best_epoch": best.epoch, "resumed": run.resumed}


@torch.no_grad()
def validate(
    explainer, approximator, black_box, x, black_box_probs, k, modality, select_padding: bool = False
) -> dict[str, float]:
    """Scores of the deterministic top-k explanations on ``x``: ``val_fidelity``,
    ``val_posthoc_accuracy`` and ``val_loss`` (cross-entropy of the approximator's
    prediction from the selection against the black box's class distribution)."""
    _, masks = explain(explainer, x, k, modality, select_padding=select_padding)
    approximator.eval()
    approx_logits = torch.cat(
        [approximator(x[i : i + 500], masks[i : i + 500]) for i in range(0, len(x), 500)]
    )
    black_box_class = black_box_probs.argmax(-1)
    fidelity = float((approx_logits.argmax(-1) == black_box_class).double().mean())
    loss = float(_soft_cross_entropy(approx_logits, black_box_probs).mean())
    posthoc = float(posthoc_agreement(black_box, x, masks, modality).double().mean())
    return {"val_fidelity": fidelity, "val_posthoc_accuracy": posthoc, "val_loss": loss}


# ----------------------------------------------------------------------------- one run
@dataclass
class JobResult:
    """What a job writes: a checkpoint dict, the training curve, tidy metric rows, extras."""

    checkpoint: dict
    curve: pd.DataFrame
    metrics: list[dict]
    extras: dict = field(default_factory=dict)


def run_black_box(
    dataset: Dataset, settings: dict, seed: int, device: torch.device, checkpoint_path
) -> JobResult:
    """Train and evaluate the black box of ``dataset`` (``settings``: the dataset's config;
    its ``networks`` and ``init`` choose the architecture family and initialisation)."""
    k = int(settings["k"])
    test_samples = settings.get("test_samples")
    black_box_settings = Settings.from_config(settings["black_box"])
    start = time.perf_counter()
    context = {"task": TASK, "dataset": dataset.name, "model": "black_box", "seed": seed}
    model, spec, history, info = train_black_box(
        dataset,
        black_box_settings,
        seed,
        device,
        checkpoint_path,
        settings.get("train_samples"),
        context,
        networks=settings.get("networks", "compact"),
        init=settings.get("init", "torch"),
        test_samples=test_samples,
    )
    common = {
        "task": TASK,
        "dataset": dataset.name,
        "k": k,
        "seed": seed,
        "wall_time_s": time.perf_counter() - start,
        "epochs": black_box_settings.epochs,
    }
    rows = evaluate_black_box(
        model,
        spec["modality"],
        split_tensors(dataset, "test", test_samples),
        k,
        seed,
        common,
        device,
        dataset.arrays.get("prob_test"),
    )
    rows.insert(3, {**common, "metric": "black_box_best_epoch", "value": info["best_epoch"]})
    checkpoint = {
        "spec": spec,
        "state_dict": {k_: v.cpu() for k_, v in model.state_dict().items()},
        "dataset": dataset.name,
        "seed": seed,
        "best_epoch": info["best_epoch"],
    }
    return JobResult(checkpoint, pd.DataFrame(history), _with_float_values(rows))


def load_black_box(checkpoint: dict, device: torch.device):
    """The black box of a :func:`run_black_box` checkpoint, in eval mode, and its spec."""
    model = build_black_box(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval(), checkpoint["spec"]


def run_explainer(
    dataset: Dataset,
    black_box_checkpoint: dict,
    settings: dict,
    estimator_name: str,
    tau: str,
    seed: int,
    device: torch.device,
    checkpoint_path,
    num_examples: int = 5,
    estimator_options: dict | None = None,
) -> JobResult:
    """Train and evaluate explainer + approximator for one estimator and temperature label
    (``tau0.5``, or ``notau`` for an estimator without a temperature); ``extras`` holds the
    page of ``num_examples`` example explanations (``examples_html``)."""
    k = int(settings["k"])
    estimator = build_estimator(estimator_name, k, tau, estimator_options)  # fails fast on a bad tau
    tau_value = parse_tau_label(tau)
    black_box, spec = load_black_box(black_box_checkpoint, device)
    modality = spec["modality"]
    context = {"task": TASK, "dataset": dataset.name, "estimator": estimator_name, "tau": tau, "seed": seed}
    explainer_settings = Settings.from_config(settings["explainer"])
    start = time.perf_counter()
    explainer, approximator, history, info = train_explainer(
        dataset,
        black_box,
        spec,
        estimator,
        k,
        explainer_settings,
        seed,
        device,
        checkpoint_path,
        settings.get("train_samples"),
        context,
    )
    common = {
        "task": TASK,
        "dataset": dataset.name,
        "estimator": estimator_name,
        "tau": tau_value if tau_value is not None else float("nan"),
        "k": k,
        "seed": seed,
        "wall_time_s": time.perf_counter() - start,
        "epochs": explainer_settings.epochs,
    }
    test = split_tensors(dataset, "test", settings.get("test_samples"))
    rows, shown = evaluate_explainer(
        explainer,
        approximator,
        black_box,
        modality,
        test,
        k,
        common,
        device,
        explainer_settings.select_padding,
    )
    rows.append({**common, "metric": "best_epoch", "value": info["best_epoch"]})
    page = example_page(
        f"L2X explanations: {dataset.name}, {estimator_name}, {tau}, seed={seed}, k={k}",
        black_box,
        test,
        shown,
        modality,
        num_examples,
        vocabulary=dataset.arrays.get("vocabulary", dataset.meta.get("vocabulary")),
        class_names=dataset.meta.get("class_names"),
    )
    checkpoint = {
        "explainer": {k_: v.cpu() for k_, v in explainer.state_dict().items()},
        "approximator": {k_: v.cpu() for k_, v in approximator.state_dict().items()},
        "spec": spec,
        "k": k,
        "dataset": dataset.name,
        "estimator": estimator_name,
        "tau": tau,
        "seed": seed,
        "best_epoch": info["best_epoch"],
    }
    return JobResult(checkpoint, pd.DataFrame(history), _with_float_values(rows), {"examples_html": page})


def _with_float_values(rows: list[dict]) -> list[dict]:
    """Metric values as plain floats (tensors or numpy scalars never reach the CSV)."""
    return [{**row, "value": float(row["value"])} for row in rows]
