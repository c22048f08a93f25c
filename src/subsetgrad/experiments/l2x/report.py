"""The L2X results table and figure, from the tidy metrics of every run."""
from __future__ import annotations

import numpy as np
import pandas as pd

#: Explanation quality metrics, in table order (higher is better except median_rank).
QUALITY = ("posthoc_accuracy", "median_rank", "tpr_at_k")
REFERENCES = ("random_selection", "true_features")


def _run_label(estimator: str, tau: float) -> str:
    return estimator if pd.isna(tau) else f"{estimator} (t={tau:g})"


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, estimator, tau): mean and std over seeds of each quality
    metric, the number of seeds, and the mean training wall time."""
    rows = metrics[metrics.metric.isin(QUALITY) & metrics.estimator.notna()].copy()
    rows["tau_key"] = rows.tau.fillna(-1.0)
    grouped = rows.groupby(["dataset", "estimator", "tau_key", "metric"]).value
    stats = grouped.agg(["mean", "std", "count"]).unstack("metric")
    stats.columns = [f"{metric}_{stat}" for stat, metric in stats.columns]
    wall = rows.groupby(["dataset", "estimator", "tau_key"]).wall_time_s.mean().rename("wall_time_s")
    table = stats.join(wall).reset_index()
    table["tau"] = table.tau_key.where(table.tau_key >= 0)
    count_cols = [c for c in table.columns if c.endswith("_count")]
    table["n_seeds"] = table[count_cols].max(axis=1).astype(int)
    ordered = ["dataset", "estimator", "tau", "n_seeds"]
    for metric in QUALITY:
        ordered += [c for c in (f"{metric}_mean", f"{metric}_std") if c in table.columns]
    table = table[ordered + ["wall_time_s"]]
    # References last within each dataset, estimators alphabetically, then by temperature.
    table["_ref"] = table.estimator.isin(REFERENCES)
    table = table.sort_values(["dataset", "_ref", "estimator", "tau"], na_position="first")
    return table.drop(columns="_ref").reset_index(drop=True)


def black_box_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """Black-box test accuracy per dataset (mean, std, seeds) and the Bayes accuracy."""
    names = ["black_box_test_accuracy", "bayes_test_accuracy"]
    rows = metrics[metrics.metric.isin(names)]
    table = rows.groupby(["dataset", "metric"]).value.agg(["mean", "std", "count"]).unstack("metric")
    table.columns = [f"{metric}_{stat}" for stat, metric in table.columns]
    return table.reset_index()


def _fmt(mean, std, digits=3) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_markdown(table: pd.DataFrame, black_box: pd.DataFrame) -> str:
    """Markdown: mean ± std over seeds (n seeds per row)."""
    shown = pd.DataFrame({
        "dataset": table.dataset,
        "estimator": table.estimator,
        "tau": table.tau.map(lambda t: "" if pd.isna(t) else f"{t:g}"),
        "seeds": table.n_seeds,
    })
    for metric in QUALITY:
        if f"{metric}_mean" in table:
            shown[metric] = [_fmt(m, s, 2 if metric == "median_rank" else 3)
                             for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])]
    shown["train_s"] = table.wall_time_s.map(lambda v: f"{v:.1f}")
    bb = pd.DataFrame({"dataset": black_box.dataset})
    for metric in ("black_box_test_accuracy", "bayes_test_accuracy"):
        if f"{metric}_mean" in black_box:
            bb[metric] = [_fmt(m, s) for m, s in zip(black_box[f"{metric}_mean"], black_box[f"{metric}_std"])]
    return ("## L2X: explanation quality on the test set (mean ± std over seeds)\n\n"
            "post-hoc accuracy: the black box's agreement with itself when given only the k "
            "selected units; median_rank: mean over samples of the median rank of the true "
            "features (optimum (t+1)/2; random (d+1)/2); tpr_at_k: fraction of true features "
            "among the top k. random_selection / true_features: reference explanations.\n\n"
            + shown.to_markdown(index=False) + "\n\n## Black boxes\n\n"
            + bb.to_markdown(index=False) + "\n")


def plot_summary(metrics: pd.DataFrame):
    """Post-hoc accuracy (top) and median rank of the true features (bottom, where known)
    per dataset and estimator; dots are seeds, bars their mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    rows = metrics[metrics.metric.isin(("posthoc_accuracy", "median_rank")) & metrics.estimator.notna()]
    rows = rows.assign(run=[_run_label(e, t) for e, t in zip(rows.estimator, rows.tau)])
    datasets = sorted(rows.dataset.unique())
    panels = [m for m in ("posthoc_accuracy", "median_rank") if (rows.metric == m).any()]
    labels = sorted(rows.run.unique(), key=lambda r: (r.split(" ")[0] in REFERENCES, r))
    fig, axes = plt.subplots(len(panels), len(datasets), squeeze=False,
                             figsize=(max(3.0, 0.28 * len(labels)) * len(datasets), 3.2 * len(panels)))
    palette = dict(zip(labels, sns.color_palette("tab20", len(labels))))
    for col, dataset in enumerate(datasets):
        for row, metric in enumerate(panels):
            ax = axes[row][col]
            data = rows[(rows.dataset == dataset) & (rows.metric == metric)]
            if data.empty:
                ax.set_visible(False)
                continue
            present = [label for label in labels if label in set(data.run)]
            x = np.arange(len(present))
            means = [data[data.run == label].value.mean() for label in present]
            ax.bar(x, means, color=[palette[label] for label in present], alpha=0.6)
            for i, label in enumerate(present):
                values = data[data.run == label].value.to_numpy()
                ax.plot(np.full(len(values), i), values, "k.", ms=3)
            ax.set_xticks(x, present, rotation=70, ha="right", fontsize=6)
            if metric == "posthoc_accuracy":
                low = max(0.0, float(data.value.min()) - 0.05)
                ax.set_ylim(low, 1.0)
            ax.set_title(f"{dataset}: {metric.replace('_', ' ')}", fontsize=8)
    fig.tight_layout()
    return fig
