"""Result figures from tidy metrics and training curves (style: :mod:`.style`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from subsetgrad.bench.results import style

#: Key columns a curve file may carry besides ``epoch`` and its metrics.
CURVE_KEYS = ("task", "dataset", "estimator", "tau", "k", "seed")
CURVE_STEP_COLUMNS = ("epoch", "step")


def _is_nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def metric_vs_temperature(
    frame: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    references: Mapping[str, str] | None = None,
):
    """Facets ``metric x dataset``: mean ± std over seeds of each metric against the
    temperature tau (log axis), one line per estimator. Estimators without a
    temperature are drawn as a dashed horizontal line with a ±std band.
    ``references``: metric -> a reference metric drawn in the same panel as a grey
    dotted line (e.g. the TV distance expected from sampling noise alone)."""
    style.apply_style()
    labels = dict(labels or {})
    present = list(dict.fromkeys(frame.metric)) if len(frame) else []
    metrics = [m for m in (metrics or present) if m in present]
    if not metrics:
        return style.placeholder("no metrics to plot yet")
    frame_all, frame = frame, frame[frame.metric.isin(metrics)]
    datasets = sorted(frame.dataset.fillna("").astype(str).unique())
    colors = style.estimator_colors(frame.estimator.dropna().unique())
    taus = frame.tau.dropna().astype(float)
    x_range = (taus.min(), taus.max()) if len(taus) else (0.1, 10.0)
    if x_range[0] == x_range[1]:
        x_range = (x_range[0] / 2, x_range[1] * 2)
    fig, axes = style.figure_grid(len(metrics), len(datasets), sharex=True)
    for i, metric in enumerate(metrics):
        for j, dataset in enumerate(datasets):
            ax = axes[i][j]
            data = frame[(frame.metric == metric) & (frame.dataset.fillna("").astype(str) == dataset)]
            for estimator, runs in data.groupby("estimator", sort=True):
                estimator = str(estimator)
                color = colors[estimator]
                tempered = runs[runs.tau.notna()]
                untempered = runs[runs.tau.isna()]
                if len(tempered):
                    stats = tempered.groupby("tau")["value"].agg(["mean", "std"]).reset_index()
                    ax.errorbar(
                        stats.tau,
                        stats["mean"],
                        yerr=stats["std"].fillna(0),
                        color=color,
                        marker="o",
                        ms=3.5,
                        capsize=2,
                        lw=1.2,
                        label=labels.get(estimator, estimator),
                    )
                if len(untempered):
                    mean, std = untempered.value.mean(), untempered.value.std()
                    ax.hlines(
                        mean,
                        *x_range,
                        colors=[color],
                        linestyles="--",
                        lw=1.2,
                        label=f"{labels.get(estimator, estimator)} (no τ)",
                    )
                    if not _is_nan(std):
                        ax.fill_between(x_range, mean - std, mean + std, color=color, alpha=0.15, lw=0)
            reference = (references or {}).get(metric)
            ref_rows = (
                frame_all[
                    (frame_all.metric == reference) & (frame_all.dataset.fillna("").astype(str) == dataset)
                ]
                if reference
                else []
            )
            if len(ref_rows):
                stats = ref_rows.groupby(ref_rows.tau.fillna(-1.0))["value"].mean()
                if (stats.index == -1.0).all():
                    ax.hlines(
                        stats.iloc[0],
                        *x_range,
                        colors=["0.4"],
                        linestyles=":",
                        lw=1.2,
                        label=labels.get(reference, reference),
                    )
                else:
                    stats = stats[stats.index != -1.0]
                    ax.plot(
                        stats.index,
                        stats.values,
                        color="0.4",
                        ls=":",
                        lw=1.2,
                        label=labels.get(reference, reference),
                    )
            ax.yaxis.get_major_formatter().set_useOffset(False)
            ax.set_xscale("log")
            if len(taus):  # ticks at the temperatures that ran, printed as numbers
                ticks = sorted(taus.unique())
                ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
                ax.minorticks_off()
            ax.set_title(labels.get(dataset, dataset) if i == 0 else "")
            ax.set_ylabel(labels.get(metric, metric) if j == 0 else "")
            ax.set_xlabel("temperature τ" if i == len(metrics) - 1 else "")
    return _finish(fig, axes, title)


def read_curves(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Training curves as tidy rows ``keys..., epoch, metric, value``.

    A curve file is either tidy (columns ``metric`` and ``value``) or wide (one
    numeric column per metric). ``epoch`` (or ``step``) is the x axis; the keys
    of :data:`CURVE_KEYS` identify the run: from the file's own columns, else
    from the run's ``metrics.csv`` in the same folder (where a key has one value).
    Time columns (``seconds``, ``*_time_s``) are not curves and are dropped.
    """
    frames = []
    for path in paths:
        curve = pd.read_csv(path)
        sibling = Path(path).with_name("metrics.csv")
        if any(k not in curve.columns for k in CURVE_KEYS) and sibling.is_file():
            run = pd.read_csv(sibling)
            for key in CURVE_KEYS:
                values = run[key].dropna().unique() if key in run.columns else []
                if key not in curve.columns and len(values) == 1:
                    curve[key] = values[0]
        curve = curve.drop(columns=[c for c in curve.columns if c == "seconds" or c.endswith("_time_s")])
        step = next((c for c in CURVE_STEP_COLUMNS if c in curve.columns), None)
        if step is None:
            raise ValueError(f"curve file {path} has neither of the columns {CURVE_STEP_COLUMNS}")
        curve = curve.rename(columns={step: "epoch"})
        keys = [c for c in CURVE_KEYS if c in curve.columns]
        if not {"metric", "value"} <= set(curve.columns):
            value_columns = [
                c
                for c in curve.columns
                if c not in (*keys, "epoch", *CURVE_STEP_COLUMNS)
                and pd.api.types.is_numeric_dtype(curve[c])
                and not pd.api.types.is_bool_dtype(curve[c])
            ]  # flags, e.g. `selected`
            curve = curve.melt(
                id_vars=keys + ["epoch"], value_vars=value_columns, var_name="metric", value_name="value"
            )
        for key in CURVE_KEYS:
            if key not in curve.columns:
                curve[key] = np.nan
        frames.append(curve[list(CURVE_KEYS) + ["epoch", "metric", "value"]])
    if not frames:
        return pd.DataFrame(columns=list(CURVE_KEYS) + ["epoch", "metric", "value"])
    return pd.concat(frames, ignore_index=True)


def training_curves(
    curves: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    share_y: bool = True,
):
    """Facets ``(dataset, metric) x estimator``: mean over seeds (band: ±std) of each
    curve against the epoch, one line per temperature. ``share_y``: one y scale per
    row, for tasks whose estimators optimise the same loss (not where methods differ)."""
    style.apply_style()
    labels = dict(labels or {})
    curves = curves.dropna(subset=["value"])
    present = list(dict.fromkeys(curves.metric)) if len(curves) else []
    metrics = [m for m in (metrics or present) if m in present]
    if not metrics:
        return style.placeholder("no training curves yet")
    curves = curves[curves.metric.isin(metrics)].copy()
    curves["dataset"] = curves.dataset.fillna("").astype(str)
    curves["estimator"] = curves.estimator.fillna("").astype(str)
    panels = [
        (d, m)
        for d in sorted(curves.dataset.unique())
        for m in metrics
        if len(curves[(curves.dataset == d) & (curves.metric == m)])
    ]
    estimators = sorted(curves.estimator.unique())
    taus = sorted(curves.tau.dropna().astype(float).unique())
    tau_colors = dict(zip(taus, sns.color_palette("viridis", max(len(taus), 1))))
    fig, axes = style.figure_grid(
        len(panels), len(estimators), sharex=True, sharey="row" if share_y else False
    )
    for i, (dataset, metric) in enumerate(panels):
        for j, estimator in enumerate(estimators):
            ax = axes[i][j]
            data = curves[
                (curves.dataset == dataset) & (curves.metric == metric) & (curves.estimator == estimator)
            ]
            for tau, runs in data.groupby(data.tau.fillna(-1.0), sort=True):
                stats = runs.groupby("epoch")["value"].agg(["mean", "std"]).reset_index()
                color = tau_colors.get(tau, "0.3")
                label = "no τ" if tau == -1.0 else f"τ = {tau:g}"
                ax.plot(stats.epoch, stats["mean"], color=color, lw=1.2, label=label)
                ax.fill_between(
                    stats.epoch,
                    stats["mean"] - stats["std"].fillna(0),
                    stats["mean"] + stats["std"].fillna(0),
                    color=color,
                    alpha=0.15,
                    lw=0,
                )
            if i == 0:
                ax.set_title(labels.get(estimator, estimator))
            ax.set_ylabel(f"{labels.get(dataset, dataset)}\n{labels.get(metric, metric)}" if j == 0 else "")
            ax.set_xlabel("epoch" if i == len(panels) - 1 else "")
    return _finish(fig, axes, title)


def _finish(fig, axes, title: str | None):
    """One legend for all panels (each label once, right of the grid), title, tight layout."""
    handles = {}
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def critical_difference(result, labels: Mapping[str, str] | None = None, title: str | None = None):
    """Critical-difference diagram of a :class:`~.statistics.FriedmanResult`: the estimators'
    average ranks on a rank axis (1 = best, at the left), the Nemenyi critical difference as
    a bar above the axis, and a thick line joining each group of estimators whose average
    ranks differ by less than it. Without a Friedman test (too few estimators or cells) it
    says why instead."""
    import matplotlib.pyplot as plt

    style.apply_style()
    labels = dict(labels or {})
    if result.reason:
        return style.placeholder(f"no critical-difference diagram: {result.reason}")
    ordered = sorted(result.estimators, key=lambda e: result.average_ranks[e])
    k = len(ordered)
    half = math.ceil(k / 2)
    groups = result.indistinguishable_groups()
    top_label = -0.35 - 0.16 * len(groups)  # the first name sits below every group's bar
    bottom = top_label - 0.42 * (half - 1) - 0.3
    fig, ax = plt.subplots(figsize=(7.0, 0.75 * (1.25 - bottom) + 0.7))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(bottom, 1.25)
    ax.axis("off")
    ax.hlines(0, 1, k, color="0.2", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.12, color="0.2", lw=1)
        ax.text(r, 0.22, str(r), ha="center", va="bottom", fontsize=8)
    colors = style.estimator_colors(ordered)
    for i, estimator in enumerate(ordered):
        rank = result.average_ranks[estimator]
        left = i < half
        depth = top_label - 0.42 * (i if left else k - 1 - i)
        x_text = 0.55 if left else k + 0.45
        ax.plot([rank, rank, x_text], [0, depth, depth], color=colors[estimator], lw=1)
        ax.text(
            x_text,
            depth + 0.04,
            f"{labels.get(estimator, estimator)} ({rank:.2f})",
            ha="left" if left else "right",
            va="bottom",
            fontsize=8,
        )
    cd = result.critical_difference
    ax.hlines(0.8, 1, 1 + cd, color="0.2", lw=1.5)
    ax.vlines([1, 1 + cd], 0.72, 0.88, color="0.2", lw=1.5)
    ax.text(
        1 + cd / 2,
        0.92,
        f"CD = {cd:.2f} (Nemenyi, α = {result.alpha:g})",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    for j, group in enumerate(groups):
        low, high = result.average_ranks[group[0]], result.average_ranks[group[-1]]
        ax.hlines(-0.2 - 0.16 * j, low - 0.03, high + 0.03, color="0.1", lw=3)
    subtitle = (
        f"average ranks over {len(result.cells)} cells; Friedman p = {result.p:.3g}; "
        "joined: not significantly different"
    )
    fig.suptitle(f"{title}\n{subtitle}" if title else subtitle, fontsize=9)
    fig.tight_layout()
    return fig
