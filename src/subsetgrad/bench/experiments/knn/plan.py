"""Which runs the kNN task makes, and the problems of its config the schema cannot express.

A run is (dataset, estimator, temperature, seed). Estimators without a temperature
(the REINFORCE family) run once per seed under the label
:data:`~subsetgrad.bench.experiments.common.NO_TEMPERATURE` instead of once per
temperature (:func:`~subsetgrad.bench.experiments.common.run_temperatures`).
"""

from __future__ import annotations

import math

from subsetgrad import available_estimators, estimator_class, make_estimator
from subsetgrad.bench.experiments.common import run_temperatures, tau_label
from subsetgrad.bench.experiments.knn.networks import NETS
from subsetgrad.bench.provenance import config_hash


def task_seeds(task: dict, seeds: list[int]) -> list[int]:
    """The task's own ``seeds`` when given, else the profile's."""
    return list(task.get("seeds") or seeds)


def planned_runs(task: dict, seeds: list[int]) -> list[dict]:
    """Wildcards ``{dataset, estimator, tau, seed}`` of every training run, as strings."""
    runs = []
    for dataset in task["datasets"]:
        for name in task["estimators"]:
            for label in map(tau_label, run_temperatures(name, task["temperatures"])):
                for seed in task_seeds(task, seeds):
                    runs.append({"dataset": dataset, "estimator": name, "tau": label, "seed": str(seed)})
    return runs


def run_paths(pattern: str, task: dict | None, seeds: list[int]) -> list[str]:
    """``pattern.format(**wildcards)`` for every planned run (empty when the task is off)."""
    if not task:
        return []
    return [pattern.format(**run) for run in planned_runs(task, seeds)]


#: Settings of one training run besides its net, estimator options and learning rate.
RUN_KEYS = (
    "embedding_dim",
    "k",
    "queries_per_step",
    "candidates_per_step",
    "epochs",
    "steps_per_epoch",
    "lr",
    "momentum",
    "weight_decay",
    "eval_batch_size",
    "eval_block_elements",
)
#: Settings that do not change a run's numbers up to the epoch reached (a longer run
#: extends a shorter one), so they are left out of its checkpoint's name.
RESUMABLE_KEYS = ("epochs", "eval_batch_size", "eval_block_elements")
#: Settings whose given value is what every run did before the setting existed: a run's
#: config holds them only at another value, so the checkpoints of such runs keep their names.
OPTIONAL_RUN_KEYS = {
    "forward_passes": "joint",
    "candidate_sampling": "distinct_from_queries",
    "mnist_convnet_output_relu": False,
    "preact_resnet18_final_bn_relu": True,
    "batchnorm_weight_init": "ones",
}
#: Allowed string values of ``tasks.knn.normalization.<dataset>``.
NORMALIZATIONS = ("train_stats", "none")


def run_config(task: dict, dataset: str, estimator: str) -> dict:
    """The part of ``tasks.knn`` one run depends on (its net, its estimator's options and
    learning rate), so that editing another run's settings does not invalidate it."""
    config = {key: task[key] for key in RUN_KEYS if key in task}
    config["steps_per_epoch"] = steps_per_epoch(task, dataset)
    config["epochs"] = epochs(task, dataset)
    config["nets"] = {dataset: task["nets"][dataset]}
    for key, default in OPTIONAL_RUN_KEYS.items():
        if task.get(key, default) != default:
            config[key] = task[key]
    normalization = (task.get("normalization") or {}).get(dataset, "train_stats")
    if normalization != "train_stats":
        config["normalization"] = {dataset: normalization}
    augmentation = (task.get("augmentation") or {}).get(dataset)
    if augmentation:
        config["augmentation"] = {dataset: list(augmentation)}
    options = (task.get("estimator_options") or {}).get(estimator)
    config["estimator_options"] = {estimator: options} if options else {}
    lr = (task.get("lr_by_estimator") or {}).get(estimator)
    config["lr_by_estimator"] = {estimator: lr} if lr is not None else {}
    return config


def for_dataset(value, dataset: str):
    """A setting given once for every dataset, or as a mapping per dataset (``None`` for a
    dataset the mapping omits)."""
    return value.get(dataset) if isinstance(value, dict) else value


def steps_per_epoch(task: dict, dataset: str) -> int | None:
    """``tasks.knn.steps_per_epoch`` for ``dataset``; None means one pass of the training split."""
    return for_dataset(task.get("steps_per_epoch"), dataset)


def epochs(task: dict, dataset: str) -> int:
    """``tasks.knn.epochs`` for ``dataset`` (one number, or a mapping naming every dataset)."""
    value = for_dataset(task["epochs"], dataset)
    if value is None:
        raise ValueError(f"tasks.knn.epochs gives no number of epochs for dataset {dataset!r}")
    return value


def baseline_config(task: dict) -> dict:
    """The part of ``tasks.knn`` the baselines depend on."""
    return {key: task[key] for key in ("k", "eval_block_elements", "pca_components")}


def checkpoint_path(root: str, task: dict, dataset: str, estimator: str, tau: str, seed: int | str) -> str:
    """``<root>/<dataset>/<estimator>/<tau>/seed<s>-<hash>.pt``, the hash over the run's
    settings: a run whose settings changed starts afresh instead of resuming a checkpoint
    written under other settings."""
    config = run_config(task, dataset, estimator)
    kept = {key: value for key, value in config.items() if key not in RESUMABLE_KEYS}
    return f"{root}/{dataset}/{estimator}/{tau}/seed{seed}-{config_hash(kept)}.pt"


def knn_config_problems(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("knn")
    if not task:
        return []
    key = "config key 'tasks.knn"
    problems = []
    if task["k"] >= task["candidates_per_step"]:
        problems.append(
            f"{key}.k': k={task['k']} must be smaller than candidates_per_step="
            f"{task['candidates_per_step']} (the estimator picks k of the candidates)"
        )
    nets = task.get("nets") or {}
    for dataset in task["datasets"]:
        if dataset not in nets:
            problems.append(
                f"{key}.nets': dataset {dataset!r} has no embedding net; add "
                f"'{dataset}: <net>' with <net> one of {', '.join(sorted(NETS))}"
            )
        if isinstance(task["epochs"], dict) and dataset not in task["epochs"]:
            problems.append(
                f"{key}.epochs': dataset {dataset!r} has no number of epochs; add "
                f"'{dataset}: <epochs>' or give one number for every dataset"
            )
    for name, options in (task.get("estimator_options") or {}).items():
        if name not in available_estimators():
            problems.append(
                f"{key}.estimator_options': unknown estimator {name!r}; choose from "
                f"{', '.join(available_estimators())}"
            )
            continue
        allowed = set(estimator_class(name).option_names) - {"tau"}
        unknown = set(options) - allowed
        if unknown:
            problems.append(
                f"{key}.estimator_options.{name}': option(s) {sorted(unknown)} are not "
                f"allowed (the temperature comes from 'temperatures'); allowed: "
                f"{sorted(allowed) or '(none)'}"
            )
            continue
        try:
            make_estimator(name, task["k"], **options)
        except ValueError as err:
            problems.append(f"{key}.estimator_options.{name}': {err}")
    for name in task.get("lr_by_estimator") or {}:
        if name not in available_estimators():
            problems.append(
                f"{key}.lr_by_estimator': unknown estimator {name!r}; choose from "
                f"{', '.join(available_estimators())}"
            )
    for tau in task["temperatures"]:
        if not math.isfinite(tau):
            problems.append(f"{key}.temperatures': {tau} is not finite")
    for dataset, spec in (task.get("normalization") or {}).items():
        problems += _normalization_problems(f"{key}.normalization.{dataset}'", spec)
    return problems


def _normalization_problems(key: str, spec) -> list[str]:
    """A normalization is ``train_stats``, ``none`` or ``{mean: [...], std: [...]}`` with one
    finite mean and one positive std per channel."""
    usage = f"use {' or '.join(NORMALIZATIONS)} or {{mean: [...], std: [...]}} (one value per channel)"
    if isinstance(spec, str):
        return [] if spec in NORMALIZATIONS else [f"{key}: {spec!r} is not allowed; {usage}"]
    if not isinstance(spec, dict) or set(spec) != {"mean", "std"}:
        return [f"{key}: {spec!r} is not allowed; {usage}"]
    mean, std = spec["mean"], spec["std"]
    numbers = lambda v: (
        isinstance(v, list)
        and len(v) > 0  # noqa: E731
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
    )
    if not numbers(mean) or not numbers(std):
        return [f"{key}: mean and std must be non-empty lists of numbers, got {spec!r}"]
    if len(mean) != len(std):
        return [f"{key}: mean has {len(mean)} value(s) but std has {len(std)}; give one per channel"]
    if not all(math.isfinite(m) for m in mean) or not all(math.isfinite(v) and v > 0 for v in std):
        return [f"{key}: the means must be finite and the stds finite and positive, got {spec!r}"]
    return []
