"""Which runs the t-SNE task makes, how they are labelled, and the problems of its config
the schema cannot express.

A trained run is ``(dataset, dim, init, method, seed)``: ``init`` is ``scratch`` or
``pretrained`` (greedy layer-wise autoencoder pretraining, shared by every method of the
same dataset, dim and seed) and ``method`` a task method (``subset_sequence``, ``ptsne``)
or an estimator on the shared objective. A reference run (random projection, PCA; no
training) is ``(dataset, dim, seed)``. Each method has one temperature (``tau`` or
``estimator_tau``), not a grid, so the temperature is no part of a run's name.

Kept free of torch imports so that :mod:`subsetgrad.bench.config` imports it cheaply.
"""

from __future__ import annotations

from pathlib import Path

from subsetgrad.bench.provenance import config_hash

INITS = ("scratch", "pretrained")
#: Untrained reference embeddings evaluated next to the trained ones
#: (:data:`.evaluate.REFERENCES` computes them).
REFERENCE_NAMES = ("random_projection", "pca")
#: Task settings that choose which runs exist, not what any single run computes.
NOT_RUN_SETTINGS = ("datasets", "dims", "inits", "methods", "estimators", "seeds")


def task_seeds(task: dict, seeds: list[int]) -> list[int]:
    """The task's own ``seeds`` when given, else the profile's."""
    return list(task.get("seeds") or seeds)


def task_methods(task: dict) -> list[str]:
    """The task methods, then the estimators trained on the shared objective."""
    return list(task.get("methods", [])) + list(task.get("estimators", []))


def planned_runs(task: dict, seeds: list[int]) -> list[dict]:
    """Wildcards ``{dataset, dim, init, method, seed}`` of every training run, as strings."""
    return [
        {"dataset": dataset, "dim": str(dim), "init": init, "method": method, "seed": str(seed)}
        for dataset in task["datasets"]
        for dim in task["dims"]
        for init in task["inits"]
        for method in task_methods(task)
        for seed in task_seeds(task, seeds)
    ]


def planned_references(task: dict, seeds: list[int]) -> list[dict]:
    """Wildcards ``{dataset, dim, seed}`` of every reference run, as strings."""
    return [
        {"dataset": dataset, "dim": str(dim), "seed": str(seed)}
        for dataset in task["datasets"]
        for dim in task["dims"]
        for seed in task_seeds(task, seeds)
    ]


def run_paths(pattern: str, task: dict | None, seeds: list[int], references: bool = False) -> list[str]:
    """``pattern.format(**wildcards)`` for every planned training run (or reference run);
    empty when the task is off."""
    if not task:
        return []
    runs = planned_references(task, seeds) if references else planned_runs(task, seeds)
    return [pattern.format(**run) for run in runs]


def run_settings(task: dict, dataset: str) -> dict:
    """The part of ``tasks.tsne`` a run of ``dataset`` depends on (its own network only), so
    that adding a dataset, a dim or a method does not rerun the others."""
    settings = {key: value for key, value in task.items() if key not in (*NOT_RUN_SETTINGS, "networks")}
    return {**settings, "networks": {dataset: task["networks"][dataset]}}


def checkpoint_file(checkpoint_dir, task: dict, dataset: str, **identity) -> Path:
    """``<checkpoint_dir>/<hash>.pt``; the hash covers every setting the run's result depends
    on (the number of epochs included) and its identity, so a changed config never resumes
    from a stale checkpoint."""
    settings = {key: value for key, value in task.items() if key not in NOT_RUN_SETTINGS}
    settings["networks"] = task["networks"][dataset]
    return Path(checkpoint_dir) / f"{config_hash({**settings, **identity, 'dataset': dataset})}.pt"


def dataset_label(dataset: str, dim: int, init: str) -> str:
    """The ``dataset`` field of the metrics: ``<dataset>_d<d>`` (+ ``_pretrained``)."""
    return f"{dataset}_d{dim}" + ("_pretrained" if init == "pretrained" else "")


def split_dataset_label(label: str) -> tuple[str, int, str]:
    """Inverse of :func:`dataset_label`: ``(dataset, d, init)``."""
    init = "pretrained" if label.endswith("_pretrained") else "scratch"
    base = label[: -len("_pretrained")] if init == "pretrained" else label
    dataset, _, dim = base.rpartition("_d")
    return dataset, int(dim), init


def tsne_config_problems(config: dict) -> list[str]:
    """Batches too small for the objectives, and datasets without a network."""
    task = config.get("tasks", {}).get("tsne")
    if not task:
        return []
    b = task["batch_size"]
    problems = []
    # neighbours and affinities come from the other points of the same batch
    for key in ("k", "overlap_k"):
        if task[key] > b - 1:
            problems.append(
                f"config key 'tasks.tsne.{key}': {key}={task[key]} neighbours cannot "
                f"be drawn from the other {b - 1} points of a batch of {b}; choose "
                f"{key} <= batch_size - 1"
            )
    if task["perplexity"] > b - 1:
        problems.append(
            f"config key 'tasks.tsne.perplexity': {task['perplexity']} exceeds the "
            f"{b - 1} neighbours in a batch of {b}; choose perplexity <= batch_size - 1"
        )
    missing = [d for d in task["datasets"] if d not in task["networks"]]
    if missing:
        problems.append(
            f"config key 'tasks.tsne.networks': no hidden-layer sizes for dataset(s) "
            f"{', '.join(missing)}; add e.g. `{missing[0]}: [500, 500, 2000]`"
        )
    return problems
