"""Which L2X runs a config asks for, and the config checks the schema cannot express.

Runs are (dataset, estimator, tau, seed); the tau label and the temperatures an estimator
runs at are every task's (:mod:`subsetgrad.bench.experiments.common`): ``tau<value>`` per
configured temperature, or ``notau`` once for an estimator that takes none. No estimator is
named here.
"""

from __future__ import annotations

from subsetgrad import available_estimators, make_estimator
from subsetgrad.bench.experiments.common import run_temperatures, tau_label


def planned_runs(task: dict, seeds) -> list[dict]:
    """Every run of the task section ``task``: dicts with dataset, estimator, tau (label), seed."""
    runs = []
    for dataset in task["datasets"]:
        for estimator in task["estimators"]:
            for tau in map(tau_label, run_temperatures(estimator, task["temperatures"])):
                for seed in seeds:
                    runs.append({"dataset": dataset, "estimator": estimator, "tau": tau, "seed": seed})
    return runs


def l2x_settings_exist(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("l2x")
    if not task:
        return []
    problems = []
    settings = task.get("settings", {})
    for i, dataset in enumerate(task["datasets"]):
        if dataset not in settings:
            problems.append(
                f"config key 'tasks.l2x.datasets[{i}]': dataset {dataset!r} has no entry in "
                f"'tasks.l2x.settings'; add settings.{dataset} with k, black_box and explainer"
            )
    from subsetgrad.bench.data.l2x_synthetic import GENERATORS, NUM_FEATURES

    for dataset in task["datasets"]:
        k = settings.get(dataset, {}).get("k")
        if dataset in GENERATORS and isinstance(k, int) and k > NUM_FEATURES:
            problems.append(
                f"config key 'tasks.l2x.settings.{dataset}.k': k={k} is larger than the "
                f"{NUM_FEATURES} features of {dataset}; choose k <= {NUM_FEATURES}"
            )
    for dataset, section in settings.items():
        black_box = section.get("black_box") or {}
        chosen = black_box.get("checkpoint", "val_loss")
        if black_box.get("train_on") == "train_val" and str(chosen).startswith("val_"):
            problems.append(
                f"config key 'tasks.l2x.settings.{dataset}.black_box.checkpoint': "
                f"{chosen!r} selects on the validation split, which train_on: train_val "
                f"trains on; choose test_accuracy or last (or train_on: train)"
            )
    for name, options in (task.get("estimator_options") or {}).items():
        key = f"config key 'tasks.l2x.estimator_options.{name}'"
        if name not in available_estimators():
            problems.append(f"{key}: unknown estimator; choose from {', '.join(available_estimators())}")
        elif "tau" in options:
            problems.append(f"{key}: tau comes from 'tasks.l2x.temperatures', not from estimator_options")
        else:
            try:
                make_estimator(name, 1, **options)
            except ValueError as err:
                problems.append(f"{key}: {err}")
    return problems
