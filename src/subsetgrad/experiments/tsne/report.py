"""The t-SNE table (mean and spread over seeds) and the 2-d scatter figure."""
from __future__ import annotations

import numpy as np
import pandas as pd

METRICS = ("one_nn_error", "trustworthiness_12")


def split_dataset_label(label: str) -> tuple[str, int, str]:
    """Inverse of :func:`.run.dataset_label`: ``(dataset, d, init)``."""
    init = "pretrained" if label.endswith("_pretrained") else "scratch"
    base = label[: -len("_pretrained")] if init == "pretrained" else label
    dataset, _, dim = base.rpartition("_d")
    return dataset, int(dim), init


def results_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, d, init, method): mean and std over seeds of each metric,
    the number of seeds and the mean wall time per run."""
    frame = metrics[metrics.metric.isin(METRICS)].copy()
    parts = frame.dataset.map(split_dataset_label)
    frame["data"] = [p[0] for p in parts]
    frame["d"] = [p[1] for p in parts]
    frame["init"] = [p[2] for p in parts]
    from .evaluation import REFERENCES

    frame.loc[frame.estimator.isin(list(REFERENCES)), "init"] = "none"  # untrained: no init
    keys = ["data", "d", "init", "estimator"]
    wide = frame.pivot_table(index=keys + ["seed"], columns="metric", values="value").reset_index()
    wall = frame.groupby(keys + ["seed"])["wall_time_s"].first().reset_index()
    wide = wide.merge(wall, on=keys + ["seed"])
    aggregations = {}
    for metric in METRICS:
        aggregations[f"{metric}_mean"] = (metric, "mean")
        aggregations[f"{metric}_std"] = (metric, "std")
    aggregations["n_seeds"] = ("seed", "nunique")
    aggregations["wall_time_s_mean"] = ("wall_time_s", "mean")
    table = wide.groupby(keys).agg(**aggregations).reset_index()
    table = table.rename(columns={"data": "dataset", "estimator": "method"})
    return table.sort_values(["dataset", "d", "init", "one_nn_error_mean"]).reset_index(drop=True)


def table_markdown(table: pd.DataFrame) -> str:
    """``mean ± std`` cells, as in the paper's Table 3 (1-NN error and T(12))."""
    def cell(mean, std):
        return f"{mean:.3f}" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"

    rows = pd.DataFrame({
        "dataset": table.dataset, "d": table.d, "init": table.init, "method": table.method,
        "1-NN error": [cell(m, s) for m, s in zip(table.one_nn_error_mean, table.one_nn_error_std)],
        "T(12)": [cell(m, s) for m, s in zip(table.trustworthiness_12_mean, table.trustworthiness_12_std)],
        "seeds": table.n_seeds, "wall time per run (s)": table.wall_time_s_mean.round(1),
    })
    return rows.to_markdown(index=False) + "\n"


def scatter_figure(embeddings: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """One panel per method: the 2-d test embedding coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(embeddings)
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, name in zip(axes.flat, names):
        points, labels = embeddings[name]
        size = 4.0 if points.shape[0] < 3000 else 0.5
        ax.scatter(points[:, 0], points[:, 1], c=cmap(np.asarray(labels) % 10), s=size,
                   linewidths=0, rasterized=True)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    classes = np.unique(np.concatenate([np.asarray(labels) for _, labels in embeddings.values()]))
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=cmap(c % 10), label=str(c))
               for c in classes]
    fig.legend(handles=handles, title="class", loc="center right", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.94, 1))
    return fig
