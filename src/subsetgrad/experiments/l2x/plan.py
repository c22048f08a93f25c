"""Which L2X runs a config asks for, and the config checks the schema cannot express.

Runs are (dataset, estimator, tau, seed). An estimator that takes a temperature
(``"tau" in type(estimator).option_names``) runs once per configured temperature; one
that does not runs once, with the tau label ``none``. No estimator is named here.
"""
from __future__ import annotations

import math

from ...config import semantic_check
from ...estimators import available_estimators, make_estimator

NO_TAU = "none"


def estimator_takes_tau(name: str) -> bool:
    """Whether the estimator ``name`` accepts a temperature option."""
    return "tau" in type(make_estimator(name, 1)).option_names


def tau_label(tau: float | None) -> str:
    """Path-safe temperature label: ``0.5``, ``2``, ``1e-05``; ``none`` without one."""
    return NO_TAU if tau is None else f"{float(tau):g}"


def parse_tau(label: str) -> float | None:
    if label == NO_TAU:
        return None
    try:
        tau = float(label)
    except ValueError:
        raise ValueError(f"temperature label {label!r} is neither a number nor {NO_TAU!r}") from None
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"temperature must be positive and finite, got {label!r}")
    return tau


def build_estimator(name: str, k: int, tau: str | float | None, options: dict | None = None):
    """``make_estimator(name, k, **options[, tau])``: the temperature goes only to estimators
    that take one.

    A tempered estimator without a temperature, or an untempered one with a temperature,
    is a planning error and raises.
    """
    tau = parse_tau(tau) if isinstance(tau, str) else tau
    takes = estimator_takes_tau(name)
    if takes and tau is None:
        raise ValueError(f"estimator {name!r} takes a temperature; give one (tau label, not {NO_TAU!r})")
    if not takes and tau is not None:
        raise ValueError(f"estimator {name!r} takes no temperature; use the tau label {NO_TAU!r}")
    return make_estimator(name, k, **dict(options or {}), **({"tau": tau} if takes else {}))


def planned_runs(task: dict, seeds) -> list[dict]:
    """Every run of the task section ``task``: dicts with dataset, estimator, tau (label), seed."""
    runs = []
    for dataset in task["datasets"]:
        for estimator in task["estimators"]:
            taus = [tau_label(t) for t in task["temperatures"]] if estimator_takes_tau(estimator) \
                else [NO_TAU]
            for tau in taus:
                for seed in seeds:
                    runs.append({"dataset": dataset, "estimator": estimator, "tau": tau, "seed": seed})
    return runs


@semantic_check
def _l2x_settings_exist(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("l2x")
    if not task:
        return []
    problems = []
    settings = task.get("settings", {})
    for i, dataset in enumerate(task["datasets"]):
        if dataset not in settings:
            problems.append(f"config key 'tasks.l2x.datasets[{i}]': dataset {dataset!r} has no entry in "
                            f"'tasks.l2x.settings'; add settings.{dataset} with k, black_box and explainer")
    from ...data.l2x_synthetic import GENERATORS, NUM_FEATURES

    for dataset in task["datasets"]:
        k = settings.get(dataset, {}).get("k")
        if dataset in GENERATORS and isinstance(k, int) and k > NUM_FEATURES:
            problems.append(f"config key 'tasks.l2x.settings.{dataset}.k': k={k} is larger than the "
                            f"{NUM_FEATURES} features of {dataset}; choose k <= {NUM_FEATURES}")
    for dataset, section in settings.items():
        black_box = section.get("black_box") or {}
        chosen = black_box.get("checkpoint", "val_loss")
        if black_box.get("train_on") == "train_val" and str(chosen).startswith("val_"):
            problems.append(f"config key 'tasks.l2x.settings.{dataset}.black_box.checkpoint': "
                            f"{chosen!r} selects on the validation split, which train_on: train_val "
                            f"trains on; choose test_accuracy or last (or train_on: train)")
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
