"""Comparisons of estimators a reviewer can check: per task and dataset, the mean with its
confidence interval over seeds and a paired test against the best estimator; across all
task-dataset cells, average ranks with the Friedman test and a critical-difference diagram.

The statistics are in :mod:`.statistics`; this module chooses what is compared. Each
training task contributes one metric per task-dataset cell (:class:`Compared`, one per
task in :data:`subsetgrad.bench.results.specs.COMPARED`). An
estimator with a temperature is compared at one temperature per cell: the one with the
best mean validation score where the task records one (kNN), else the one with the best
mean of the compared metric itself, which favours tempered estimators and is said so in
the notes. The ranking keeps the estimators measured in every cell (Friedman's test needs
complete blocks) and names the ones it leaves out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from subsetgrad.bench.results import statistics

#: Defaults of the config's ``comparison`` section.
DEFAULTS = {"confidence": 0.95, "paired_test": "t", "alpha": 0.05}


def settings(config: dict) -> dict:
    """The ``comparison`` section of ``config`` with its defaults filled in."""
    return {**DEFAULTS, **(config.get("comparison") or {})}


def paired_test_fits_the_seeds(config: dict) -> list[str]:
    """A config check: the chosen paired test can reject with the configured seeds, so that a
    profile never runs only to find every test left out of its tables."""
    test = settings(config)["paired_test"]
    seeds = config.get("seeds") or []
    needed = statistics.MINIMUM_SEEDS.get(test)
    if needed is None or len(seeds) >= needed or len(seeds) < 2:
        return []  # one seed: no test at all, which the tables say; that is a budget, not an error
    return [
        f"config key 'comparison.paired_test': {test!r} needs at least {needed} seeds to reach "
        f"significance, but 'seeds' has {len(seeds)}; choose paired_test: t (needs "
        f"{statistics.MINIMUM_SEEDS['t']}) or add seeds"
    ]


@dataclass(frozen=True)
class Compared:
    """What one task contributes to the ranking: ``frame(metrics, config)`` returns tidy
    rows ``cell, estimator, tau, seed, value`` of the compared ``metric``."""

    metric: str
    better: str
    frame: Callable[[pd.DataFrame, dict], pd.DataFrame]
    #: how the frame leaves one temperature per estimator and cell: ``validation`` (the frame
    #: keeps the one with the best validation score), ``metric`` (the best mean of the compared
    #: metric itself is taken), ``single`` (the task runs one temperature)
    selection: str

    def description(self) -> str:
        """What the ranking reads of this task, for the table notes."""
        how = {
            "validation": "τ chosen on validation",
            "metric": "τ chosen on this metric itself",
            "single": "one τ run",
        }[self.selection]
        return f"{self.metric} ({'higher' if self.better == 'max' else 'lower'} is better; {how})"


def cell_scores(
    metrics: pd.DataFrame, config: dict, compared_by_task: Mapping[str, Compared]
) -> pd.DataFrame:
    """One score per (cell, estimator): the mean over seeds at the estimator's chosen
    temperature. Columns ``cell, task, estimator, tau, n_seeds, score, better``."""
    records = []
    for task, compared in compared_by_task.items():
        if task not in config.get("tasks", {}):
            continue
        frame = compared.frame(metrics, config)
        if frame.empty:
            continue
        means = (
            frame.assign(tau=frame.tau.astype(float).fillna(-1.0))
            .groupby(["cell", "estimator", "tau"])["value"]
            .agg(["mean", "size"])
            .reset_index()
        )
        for (cell, estimator), runs in means.groupby(["cell", "estimator"], sort=True):
            chosen = runs.loc[runs["mean"].idxmax() if compared.better == "max" else runs["mean"].idxmin()]
            records.append(
                {
                    "cell": cell,
                    "task": task,
                    "estimator": estimator,
                    "tau": np.nan if chosen.tau == -1.0 else chosen.tau,
                    "n_seeds": int(chosen["size"]),
                    "score": float(chosen["mean"]),
                    "better": compared.better,
                }
            )
    return pd.DataFrame(records, columns=["cell", "task", "estimator", "tau", "n_seeds", "score", "better"])


@dataclass
class Ranking:
    """The Friedman ranking of the estimators measured in every cell."""

    result: statistics.FriedmanResult
    scores: pd.DataFrame
    left_out: list[str]
    #: task -> what is ranked and how its temperature was chosen (:meth:`Compared.description`)
    selections: dict[str, str]

    def notes(self) -> list[str]:
        result, notes = self.result, []
        if result.reason:
            notes.append(f"No Friedman test: {result.reason}.")
        else:
            verdict = "differ" if result.p <= result.alpha else "do not differ significantly"
            notes.append(
                f"Friedman χ² = {result.statistic:.2f} (k = {len(result.estimators)} estimators, "
                f"N = {len(result.cells)} cells, {len(result.estimators) - 1} d.f.), p = {result.p:.3g}: "
                f"the average ranks {verdict} at α = {result.alpha:g}. Nemenyi critical difference "
                f"of average ranks: {result.critical_difference:.2f}."
            )
        if self.left_out:
            notes.append(f"Left out (not measured in every cell): {', '.join(self.left_out)}.")
        ranked = [task for task in self.selections if task in set(self.scores.task)]
        how = "; ".join(f"{task}: {self.selections[task]}" for task in ranked) or "no task ranked"
        notes.append(f"Score per cell: the mean over seeds at one temperature per estimator; {how}.")
        return notes


def ranking(metrics: pd.DataFrame, config: dict, compared_by_task: Mapping[str, Compared]) -> Ranking:
    """Average ranks, Friedman test and Nemenyi critical difference over every task-dataset
    cell of the tasks in ``compared_by_task`` (:data:`subsetgrad.bench.results.specs.COMPARED`)."""
    alpha = settings(config)["alpha"]
    scores = cell_scores(metrics, config, compared_by_task)
    cells = list(dict.fromkeys(scores.cell))
    complete = [e for e, rows in scores.groupby("estimator", sort=True) if set(rows.cell) == set(cells)]
    left_out = sorted(set(scores.estimator) - set(complete))
    scores = scores[scores.estimator.isin(complete)]
    table = scores.pivot(index="cell", columns="estimator", values="score").reindex(cells)
    better = [scores.loc[scores.cell == c, "better"].iloc[0] for c in cells]
    result = statistics.friedman(
        {e: table[e].tolist() for e in complete}, cells, better=better or "max", alpha=alpha
    )
    selections = {task: compared.description() for task, compared in compared_by_task.items()}
    return Ranking(result, scores, left_out, selections)
