"""The kNN task's figures, from the runs' tidy metrics and curves. Its results tables are
built by :mod:`subsetgrad.bench.results` (``knn_accuracy``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _tau_text(tau: float) -> str:
    return "-" if pd.isna(tau) else f"{tau:g}"


def _test_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """What the bars show: per (dataset, estimator, tau) the mean and std over seeds of the
    test accuracy, and ``kind`` (``baseline``: the untrained rows, which have no seed; they
    come first within each dataset)."""
    test = metrics[metrics.metric == "test_accuracy"]
    keys = ["dataset", "estimator", "tau"]
    grouped = test.groupby(keys, dropna=False).value
    bars = grouped.agg(test_accuracy_mean="mean", test_accuracy_std="std").reset_index()
    baselines = set(test.loc[test.seed.isna(), "estimator"])
    bars.insert(1, "kind", np.where(bars.tau.isna() & bars.estimator.isin(baselines), "baseline", "trained"))
    bars = bars.sort_values(
        ["dataset", "kind", "estimator", "tau"],
        na_position="first",
        key=lambda s: s.map({"baseline": 0, "trained": 1}) if s.name == "kind" else s,
    )
    return bars.reset_index(drop=True)


def plot_accuracy(metrics: pd.DataFrame):
    """Test accuracy per estimator and temperature (bars, std over seeds) with baseline lines,
    from the task's tidy metrics (trained runs and baselines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    table = _test_accuracy(metrics)
    sns.set_theme(style="whitegrid", context="paper")
    datasets = list(dict.fromkeys(table.dataset))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 3.6), squeeze=False)
    palette = sns.color_palette()
    for ax, dataset in zip(axes[0], datasets):
        d = table[table.dataset == dataset]
        trained, baselines = d[d.kind == "trained"], d[d.kind == "baseline"]
        labels = [
            f"{r.estimator}\n{'t=' + _tau_text(r.tau) if not pd.isna(r.tau) else ''}".strip()
            for r in trained.itertuples()
        ]
        x = np.arange(len(trained))
        colours = [
            palette[list(dict.fromkeys(trained.estimator)).index(e) % len(palette)] for e in trained.estimator
        ]
        spread = trained.test_accuracy_std  # std over seeds; none with a single seed
        ax.bar(
            x,
            trained.test_accuracy_mean,
            color=colours,
            capsize=2,
            yerr=None if spread.isna().all() else spread.fillna(0.0),
        )
        values = list(trained.test_accuracy_mean) + list(baselines.test_accuracy_mean)
        for i, r in enumerate(baselines.itertuples()):
            ax.axhline(
                r.test_accuracy_mean,
                color="0.3",
                lw=1,
                ls=["--", ":", "-."][i % 3],
                label=f"kNN {r.estimator.replace('_', ' ')} ({100 * r.test_accuracy_mean:.1f}%)",
            )
        low = min(v for v in values if not math.isnan(v))
        ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(values) + 0.02))
        ax.set_xticks(x, labels, rotation=60, fontsize=7)
        ax.set_ylabel(
            "test accuracy (kNN in embedding)"
            + ("\nbars: std over seeds" if not trained.test_accuracy_std.isna().all() else "")
        )
        ax.set_title(f"{dataset}: deep stochastic kNN")
        if len(baselines):
            ax.legend(frameon=False, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_curves(curves: pd.DataFrame):
    """Validation accuracy and train top-k correctness per epoch (mean over seeds); colour =
    estimator, line style = temperature. (For this loss, linear in the k-hot, relaxed and
    straight_through give identical gradients, so their lines coincide.)"""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    estimators = list(dict.fromkeys(curves.estimator))
    taus = sorted(curves.tau.dropna().unique())
    palette = sns.color_palette("tab10", max(len(estimators), 1))
    styles = ["-", "--", ":", "-."]
    datasets = list(dict.fromkeys(curves.dataset))
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 6), squeeze=False, sharex="col")
    for col, dataset in enumerate(datasets):
        d = curves[curves.dataset == dataset]
        mean = (
            d.groupby(["estimator", "tau", "epoch"], dropna=False)
            .agg(val=("val_accuracy", "mean"), train=("train_topk_correct", "mean"))
            .reset_index()
        )
        for (estimator, tau), r in mean.groupby(["estimator", "tau"], dropna=False):
            colour = palette[estimators.index(estimator) % len(palette)]
            style = "-" if pd.isna(tau) else styles[taus.index(tau) % len(styles)]
            label = estimator if pd.isna(tau) else f"{estimator} t={_tau_text(tau)}"
            axes[0][col].plot(r.epoch, r.val, label=label, lw=1, color=colour, ls=style)
            axes[1][col].plot(r.epoch, r.train, label=label, lw=1, color=colour, ls=style)
        axes[0][col].set_title(f"{dataset}")
        axes[0][col].set_ylabel("validation kNN accuracy")
        axes[1][col].set_ylabel("train: share of the k nearest\ncandidates with the query's label")
        axes[1][col].set_xlabel("epoch (0 = untrained)")
    axes[0][-1].legend(frameon=False, fontsize=6, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    return fig


__all__ = ["plot_accuracy", "plot_curves"]
