"""One L2X job end to end: train, evaluate, and return everything a workflow rule writes.

``run_black_box``: the black box of one dataset and seed (``networks`` and ``init`` of the
dataset's settings choose its architecture family and initialisation), its test accuracy
and two reference explanations evaluated like the real ones: ``random_selection`` (k units
drawn uniformly without replacement per test sample, padding excluded whatever the
explainer's ``select_padding``: a reference that never wastes a pick) and, where the dataset
has ground truth, ``true_features`` (the true features as the explanation).

``run_explainer``: explainer + approximator for one (dataset, estimator, tau, seed);
metrics on the test set: ``posthoc_accuracy`` with ``_ci_low``/``_ci_high`` (95% Wilson),
``approximator_fidelity``, and with ground truth ``median_rank`` (mean over samples of
the median rank of the true features) and ``tpr_at_k``.

Every metric row follows :data:`subsetgrad.metrics.METRIC_COLUMNS` with task ``l2x``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ...data import Dataset
from .evaluate import (examples_html, mask_padding, median_true_rank, posthoc_accuracy,
                       predict, true_positive_rate, wilson_interval)
from .models import build_black_box, keep_units, unit_padding
from .plan import build_estimator, parse_tau
from .train import Settings, explain, split_tensors, train_black_box, train_explainer

TASK = "l2x"


@dataclass
class JobResult:
    """What a job writes: a checkpoint dict, the training curve, tidy metric rows, extras."""

    checkpoint: dict
    curve: pd.DataFrame
    metrics: list[dict]
    extras: dict = field(default_factory=dict)


def _test_limit(settings: dict) -> int | None:
    return settings.get("test_samples")


def _explanation_rows(common: dict, black_box, test: dict, masks: torch.Tensor, modality: str,
                      logits: torch.Tensor | None = None) -> list[dict]:
    rows = []
    ph = posthoc_accuracy(black_box, test["x"], masks, modality)
    rows += [{**common, "metric": "posthoc_accuracy", "value": ph["value"]},
             {**common, "metric": "posthoc_accuracy_ci_low", "value": ph["low"]},
             {**common, "metric": "posthoc_accuracy_ci_high", "value": ph["high"]}]
    if "mask" in test:
        if logits is not None:
            rows.append({**common, "metric": "median_rank",
                         "value": float(median_true_rank(logits.cpu(), test["mask"]).mean())})
        rows.append({**common, "metric": "tpr_at_k",
                     "value": float(true_positive_rate(masks.cpu(), test["mask"]).mean())})
    return rows


def run_black_box(dataset: Dataset, settings: dict, seed: int, device: torch.device,
                  checkpoint_path) -> JobResult:
    """Train and evaluate the black box of ``dataset`` (``settings``: the dataset's config)."""
    k = int(settings["k"])
    start = time.perf_counter()
    context = {"task": TASK, "dataset": dataset.name, "model": "black_box", "seed": seed}
    model, spec, history, info = train_black_box(
        dataset, Settings.from_config(settings["black_box"]), seed, device, checkpoint_path,
        settings.get("train_samples"), context, networks=settings.get("networks", "compact"),
        init=settings.get("init", "torch"), test_samples=_test_limit(settings))
    wall = time.perf_counter() - start
    test = split_tensors(dataset, "test", _test_limit(settings))
    x_test = test["x"].to(device)
    probs = predict(model, x_test).cpu()
    correct = int((probs.argmax(-1) == test["y"]).sum())
    low, high = wilson_interval(correct, len(test["y"]))
    epochs = Settings.from_config(settings["black_box"]).epochs
    common = {"task": TASK, "dataset": dataset.name, "k": k, "seed": seed,
              "wall_time_s": wall, "epochs": epochs}
    rows = [{**common, "metric": "black_box_test_accuracy", "value": correct / len(test["y"])},
            {**common, "metric": "black_box_test_accuracy_ci_low", "value": low},
            {**common, "metric": "black_box_test_accuracy_ci_high", "value": high},
            {**common, "metric": "black_box_best_epoch", "value": info["best_epoch"]}]
    if "prob_test" in dataset.arrays:  # the Bayes classifier's accuracy, for scale
        prob = dataset.arrays["prob_test"][:len(test["y"])]
        bayes = float(((prob > 0.5).astype(np.int64) == test["y"].numpy()).mean())
        rows.append({**common, "metric": "bayes_test_accuracy", "value": bayes})

    modality = spec["modality"]
    # Reference explanation 1: k units uniformly at random (padding excluded).
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(test["x"].shape[:2], generator=gen)
    scores = mask_padding(scores, unit_padding(test["x"], modality), k)
    random_masks = torch.zeros_like(scores).scatter(-1, scores.topk(k, -1).indices, 1.0)
    x_dev = {**test, "x": x_test}
    rows += _explanation_rows({**common, "estimator": "random_selection"}, model, x_dev,
                              random_masks.to(device), modality, scores.to(device))
    if "mask" in test:  # Reference explanation 2: the true features.
        truth = test["mask"].float()
        rows += _explanation_rows({**common, "estimator": "true_features"}, model, x_dev,
                                  truth.to(device), modality)
    checkpoint = {"spec": spec, "state_dict": {k_: v.cpu() for k_, v in model.state_dict().items()},
                  "dataset": dataset.name, "seed": seed, "best_epoch": info["best_epoch"]}
    return JobResult(checkpoint, pd.DataFrame(history), _with_cpu_values(rows))


def load_black_box(checkpoint: dict, device: torch.device):
    model = build_black_box(checkpoint["spec"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval(), checkpoint["spec"]


def run_explainer(dataset: Dataset, black_box_checkpoint: dict, settings: dict, estimator_name: str,
                  tau: str, seed: int, device: torch.device, checkpoint_path,
                  num_examples: int = 5, estimator_options: dict | None = None) -> JobResult:
    """Train and evaluate explainer + approximator for one estimator and temperature."""
    k = int(settings["k"])
    estimator = build_estimator(estimator_name, k, tau, estimator_options)  # fails fast on a bad tau
    black_box, spec = load_black_box(black_box_checkpoint, device)
    modality = spec["modality"]
    tau_value = parse_tau(tau)
    context = {"task": TASK, "dataset": dataset.name, "estimator": estimator_name, "tau": tau,
               "seed": seed}
    explainer_settings = Settings.from_config(settings["explainer"])
    start = time.perf_counter()
    explainer, approximator, history, info = train_explainer(
        dataset, black_box, spec, estimator, k, explainer_settings, seed, device, checkpoint_path,
        settings.get("train_samples"), context)
    wall = time.perf_counter() - start

    test = split_tensors(dataset, "test", _test_limit(settings))
    x_test = test["x"].to(device)
    logits, masks = explain(explainer, x_test, k, modality,
                            select_padding=explainer_settings.select_padding)
    common = {"task": TASK, "dataset": dataset.name, "estimator": estimator_name,
              "tau": tau_value if tau_value is not None else float("nan"), "k": k, "seed": seed,
              "wall_time_s": wall, "epochs": explainer_settings.epochs}
    rows = _explanation_rows(common, black_box, {**test, "x": x_test}, masks, modality, logits)
    with torch.no_grad():
        approximator.eval()
        approx_class = torch.cat([approximator(x_test[i:i + 500], masks[i:i + 500]).argmax(-1)
                                  for i in range(0, len(x_test), 500)])
        full_class = predict(black_box, x_test).argmax(-1)
    rows.append({**common, "metric": "approximator_fidelity",
                 "value": float((approx_class == full_class).double().mean())})
    rows.append({**common, "metric": "best_epoch", "value": info["best_epoch"]})

    shown = min(num_examples, len(x_test))
    with torch.no_grad():
        kept_class = black_box(keep_units(x_test[:shown], masks[:shown], modality)).argmax(-1)
    vocabulary = dataset.arrays.get("vocabulary", dataset.meta.get("vocabulary"))
    page = examples_html(
        f"L2X explanations: {dataset.name}, {estimator_name}, tau={tau}, seed={seed}, k={k}",
        test["x"][:shown].numpy(), masks[:shown].cpu().numpy(), modality,
        full_pred=full_class[:shown].cpu().numpy(), kept_pred=kept_class.cpu().numpy(),
        labels=test["y"][:shown].numpy(), vocabulary=vocabulary,
        true_mask=test["mask"][:shown].numpy() if "mask" in test else None,
        class_names=dataset.meta.get("class_names"))
    checkpoint = {
        "explainer": {k_: v.cpu() for k_, v in explainer.state_dict().items()},
        "approximator": {k_: v.cpu() for k_, v in approximator.state_dict().items()},
        "spec": spec, "k": k, "dataset": dataset.name, "estimator": estimator_name, "tau": tau,
        "seed": seed, "best_epoch": info["best_epoch"],
    }
    return JobResult(checkpoint, pd.DataFrame(history), _with_cpu_values(rows), {"examples_html": page})


def _with_cpu_values(rows: list[dict]) -> list[dict]:
    """Metric values as plain floats (tensors or numpy scalars never reach the CSV)."""
    return [{**row, "value": float(row["value"])} for row in rows]
