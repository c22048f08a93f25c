"""Workflow jobs of the t-SNE task: the thin Snakemake scripts call these, and they only
load inputs, call :mod:`.train`, :mod:`.figures` and write outputs.

Every file is written atomically; checkpoints live outside the declared outputs
(``checkpoint_dir``) under the name :func:`.plan.checkpoint_file` gives them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from subsetgrad.bench.data import load_dataset
from subsetgrad.bench.experiments.tsne.figures import scatter_figure
from subsetgrad.bench.experiments.tsne.plan import checkpoint_file
from subsetgrad.bench.experiments.tsne.train import pretrain, reference_runs, save_embedding, train_run
from subsetgrad.bench.io import save_figure, torch_save, write_csv, write_json
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device


def pretrain_job(
    *,
    data_path,
    dataset: str,
    task: dict,
    dim: int,
    seed: int,
    device: str,
    weights_path,
    history_path,
    checkpoint_dir,
) -> None:
    data = load_dataset(data_path)
    dev = resolve_device(device)
    ckpt = checkpoint_file(checkpoint_dir, task, dataset, stage="pretrain", d=dim, seed=seed)
    state, history = pretrain(data, dataset, task, dim, seed, dev, ckpt)
    torch_save(
        {
            "state_dict": state,
            "dataset": dataset,
            "d": dim,
            "seed": seed,
            "hidden": task["networks"][dataset],
        },
        weights_path,
    )
    write_csv(history_path, pd.DataFrame(history))


def _load_pretrained(path, dataset: str, dim: int, seed: int) -> dict:
    saved = torch.load(path, map_location="cpu", weights_only=True)  # plain data only, never code
    if (saved["dataset"], saved["d"], saved["seed"]) != (dataset, dim, seed):
        raise ValueError(
            f"{path} holds pretrained weights of {saved['dataset']} d={saved['d']} "
            f"seed={saved['seed']}, not {dataset} d={dim} seed={seed}; delete it"
        )
    return saved["state_dict"]


def train_job(
    *,
    data_path,
    dataset: str,
    task: dict,
    dim: int,
    init: str,
    method: str,
    seed: int,
    device: str,
    pretrained_path,
    metrics_path,
    embedding_path,
    history_path,
    provenance_path,
    checkpoint_dir,
) -> pd.DataFrame:
    data = load_dataset(data_path)
    dev = resolve_device(device)
    state = _load_pretrained(pretrained_path, dataset, dim, seed) if pretrained_path else None
    ckpt = checkpoint_file(
        checkpoint_dir, task, dataset, stage="train", d=dim, init=init, method=method, seed=seed
    )
    result = train_run(
        data,
        dataset,
        task,
        method=method,
        dim=dim,
        init=init,
        seed=seed,
        device=dev,
        checkpoint_path=ckpt,
        pretrained_state=state,
    )
    prov = provenance(
        {"tsne": task, "dataset": dataset, "d": dim, "init": init, "method": method},
        seed=seed,
        device=str(dev),
    )
    save_embedding(embedding_path, result, data)
    write_csv(history_path, pd.DataFrame(result.history))
    write_json(provenance_path, prov)
    frame = write_metrics(metrics_path, result.metrics, prov)
    print(frame[["dataset", "estimator", "metric", "value", "wall_time_s"]].to_string(index=False))
    return frame


def reference_job(
    *, data_path, dataset: str, dim: int, seed: int, metrics_path, embedding_paths: dict, provenance_path
) -> pd.DataFrame:
    data = load_dataset(data_path)
    results = reference_runs(data, dataset, dim, seed)
    prov = provenance(
        {"tsne_reference": sorted(results), "dataset": dataset, "d": dim}, seed=seed, device="cpu"
    )
    for name, path in embedding_paths.items():
        save_embedding(path, results[name], data)
    write_json(provenance_path, prov)
    rows = [row for result in results.values() for row in result.metrics]
    frame = write_metrics(metrics_path, rows, prov)
    print(frame[["dataset", "estimator", "metric", "value"]].to_string(index=False))
    return frame


def summary_job(*, metrics_paths, metrics_out) -> pd.DataFrame:
    """Every run's and reference's tidy metrics in one file."""
    metrics = pd.concat([pd.read_csv(p) for p in metrics_paths], ignore_index=True)
    write_csv(metrics_out, metrics)
    return metrics


def scatter_job(*, embedding_paths, methods, title: str, png, pdf) -> None:
    embeddings = {}
    for method, path in zip(methods, embedding_paths):
        with np.load(path) as saved:
            if saved["test"].shape[1] != 2:
                raise ValueError(
                    f"{path}: a scatter plot needs a 2-d embedding, got {saved['test'].shape[1]} dimensions"
                )
            embeddings[method] = (saved["test"], saved["y_test"])
    fig = scatter_figure(embeddings, title)
    save_figure(fig, png, pdf)
