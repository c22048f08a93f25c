"""The L2X figure, from the tidy metrics of every run (its tables come from
:mod:`subsetgrad.bench.results`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Explanations the black-box job evaluates like the learned ones, drawn after the estimators.
REFERENCES = ("random_selection", "true_features")


def _run_label(estimator: str, tau: float) -> str:
    return estimator if pd.isna(tau) else f"{estimator} (t={tau:g})"


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
    fig, axes = plt.subplots(
        len(panels),
        len(datasets),
        squeeze=False,
        figsize=(max(3.0, 0.28 * len(labels)) * len(datasets), 3.2 * len(panels)),
    )
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
