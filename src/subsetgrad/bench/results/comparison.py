"""Comparisons of estimators a reviewer can check: per task and dataset, the mean with its
confidence interval over seeds and a paired test against the best estimator; across all
task-dataset cells, average ranks with the Friedman test and a critical-difference diagram.

The statistics are in :mod:`.statistics`; this module chooses what is compared. Each
training task contributes one metric per task-dataset cell (:data:`COMPARED`). An
estimator with a temperature is compared at one temperature per cell: the one with the
best mean validation score where the task records one (kNN), else the one with the best
mean of the compared metric itself, which favours tempered estimators and is said so in
the notes. The ranking keeps the estimators measured in every cell (Friedman's test needs
complete blocks) and names the ones it leaves out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from subsetgrad.bench.results import statistics

#: Defaults of the config's ``comparison`` section.
DEFAULTS = {"confidence": 0.95, "paired_test": "t", "alpha": 0.05}


def settings(config: dict) -> dict:
    """The ``comparison`` section of ``config`` with its defaults filled in."""
    return {**DEFAULTS, **(config.get("comparison") or {})}


@dataclass(frozen=True)
class Compared:
    """What one task contributes to the ranking: ``frame(metrics, config)`` returns tidy
    rows ``cell, estimator, tau, seed, value`` of the compared ``metric``."""

    metric: str
    better: str
    frame: Callable[[pd.DataFrame, dict], pd.DataFrame]
    #: the temperature is chosen on validation (else: on the compared metric itself)
    selection: str


def _label(value) -> str:
    from subsetgrad.bench.results.specs import label

    return label(str(value))


def _l2x_frame(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    frame = metrics[(metrics.task == "l2x") & (metrics.metric == "posthoc_accuracy")].copy()
    frame = frame[~frame.estimator.isin(("random_selection", "true_features"))]
    frame["cell"] = "L2X " + frame.dataset.map(_label)
    return frame


def _knn_frame(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    from subsetgrad.bench.results.specs import _best_tau_on_validation

    frame = _best_tau_on_validation(metrics[metrics.task == "knn"], "val_accuracy", "test_accuracy")
    frame = frame[frame.seed.notna()].copy()  # the untrained kNN baselines have no seed
    frame["cell"] = "kNN " + frame.dataset.map(_label)
    return frame


def _tsne_frame(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    from subsetgrad.bench.results.specs import tsne_frame

    frame = tsne_frame(metrics)
    frame = frame[(frame.metric == "one_nn_error") & frame.seed.notna()].copy()
    frame = frame[~frame.estimator.isin(("random_projection", "pca"))]  # untrained references
    frame["cell"] = ("t-SNE " + frame.dataset.map(_label) + " d=" + frame.dimension.astype("Int64").astype(str)
                     + np.where(frame["init"] == "pretrained", " pretrained", ""))
    return frame


COMPARED: dict[str, Compared] = {
    "l2x": Compared("posthoc_accuracy", "max", _l2x_frame, selection="test"),
    "knn": Compared("test_accuracy", "max", _knn_frame, selection="validation"),
    "tsne": Compared("one_nn_error", "min", _tsne_frame, selection="single"),
}


def cell_scores(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One score per (cell, estimator): the mean over seeds at the estimator's chosen
    temperature. Columns ``cell, task, estimator, tau, n_seeds, score, better``."""
    records = []
    for task, compared in COMPARED.items():
        if task not in config.get("tasks", {}):
            continue
        frame = compared.frame(metrics, config)
        if frame.empty:
            continue
        means = (frame.assign(tau=frame.tau.astype(float).fillna(-1.0))
                 .groupby(["cell", "estimator", "tau"])["value"].agg(["mean", "size"]).reset_index())
        for (cell, estimator), runs in means.groupby(["cell", "estimator"], sort=True):
            chosen = runs.loc[runs["mean"].idxmax() if compared.better == "max" else runs["mean"].idxmin()]
            records.append({"cell": cell, "task": task, "estimator": estimator,
                            "tau": np.nan if chosen.tau == -1.0 else chosen.tau, "n_seeds": int(chosen["size"]),
                            "score": float(chosen["mean"]), "better": compared.better})
    return pd.DataFrame(records, columns=["cell", "task", "estimator", "tau", "n_seeds", "score", "better"])


@dataclass
class Ranking:
    """The Friedman ranking of the estimators measured in every cell."""

    result: statistics.FriedmanResult
    scores: pd.DataFrame
    left_out: list[str]

    def notes(self) -> list[str]:
        result, notes = self.result, []
        if result.reason:
            notes.append(f"No Friedman test: {result.reason}.")
        else:
            verdict = "differ" if result.p <= result.alpha else "do not differ significantly"
            notes.append(f"Friedman χ² = {result.statistic:.2f} (k = {len(result.estimators)} estimators, "
                         f"N = {len(result.cells)} cells, {len(result.estimators) - 1} d.f.), p = {result.p:.3g}: "
                         f"the average ranks {verdict} at α = {result.alpha:g}. Nemenyi critical difference "
                         f"of average ranks: {result.critical_difference:.2f}.")
        if self.left_out:
            notes.append(f"Left out (not measured in every cell): {', '.join(self.left_out)}.")
        selection = sorted(set(self.scores.task))
        notes.append("Score per cell: the mean over seeds at one temperature per estimator, chosen on "
                     "validation accuracy for knn and on the compared metric itself elsewhere "
                     f"(tasks ranked: {', '.join(selection) if selection else 'none'}).")
        return notes


def ranking(metrics: pd.DataFrame, config: dict) -> Ranking:
    """Average ranks, Friedman test and Nemenyi critical difference over every task-dataset cell."""
    alpha = settings(config)["alpha"]
    scores = cell_scores(metrics, config)
    cells = list(dict.fromkeys(scores.cell))
    complete = [e for e, rows in scores.groupby("estimator", sort=True) if set(rows.cell) == set(cells)]
    left_out = sorted(set(scores.estimator) - set(complete))
    scores = scores[scores.estimator.isin(complete)]
    table = scores.pivot(index="cell", columns="estimator", values="score").reindex(cells)
    better = [scores.loc[scores.cell == c, "better"].iloc[0] for c in cells]
    result = statistics.friedman({e: table[e].tolist() for e in complete}, cells, better=better or "max",
                                 alpha=alpha)
    return Ranking(result, scores, left_out)
