"""Which tables and figures each task contributes, built from the tidy metrics.

Every table builder takes the profile's aggregated metrics (all tasks) and the
workflow config, and returns a :class:`~.tables.ResultTable`. A metric that a
task does not (yet) write is skipped, so a table shows what exists and marks
expected runs that are absent as ``missing``. Table names are fixed per task
(:func:`table_names`) so that the workflow knows its outputs before any run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from subsetgrad import estimator_class
from subsetgrad.bench.experiments.common import run_temperatures
from subsetgrad.bench.experiments.study import settings_for, study_swept_option
from subsetgrad.bench.results import comparison
from subsetgrad.bench.results.published import published
from subsetgrad.bench.results.tables import ResultTable, key_label, summary_table

#: Display names of keys and values, shared by tables and figures.
LABELS = {
    "tau": "τ",
    "estimator": "estimator",
    "dataset": "dataset",
    "metric": "metric",
    "method": "method",
    "dimension": "d",
    "tv_distance": "TV distance",
    "tv_distance_expected_by_chance": "TV expected by chance (N samples)",
    "theorem1_agreement": "top-k(relaxed) = top-k(w + g)",
    "posthoc_accuracy": "post-hoc accuracy",
    "median_rank": "median rank",
    "bias": "bias (1 − cos)",
    "variance": "variance of cos",
    "test_accuracy": "test accuracy",
    "val_accuracy": "validation accuracy",
    "train_loss": "training loss",
    "train_topk_correct": "top-k neighbours with the query's label",
    "raw_pixels": "kNN raw pixels (ours)",
    "random_selection": "random selection (reference)",
    "true_features": "true features (oracle)",
    "tpr_at_k": "true-positive rate at k",
    "approximator_fidelity": "approximator fidelity",
    "val_fidelity": "validation fidelity",
    "val_posthoc_accuracy": "validation post-hoc accuracy",
    "one_nn_error": "1-NN error",
    "trustworthiness_12": "T(12)",
    "loss": "training loss",
    "subset_sequence": "subset sequence (paper)",
    "ptsne": "parametric t-SNE (KL)",
    "random_projection": "random projection",
    "pca": "PCA",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
    "weights4": "w ∝ [1, 2, 3, 4]",
    "l2x_xor": "XOR",
    "l2x_orange_skin": "orange skin",
    "l2x_nonlinear_additive": "nonlinear additive",
    "l2x_switch": "switch",
    "imdb_word": "IMDB word",
    "imdb_sentence": "IMDB sentence",
    "newsgroups20_w100": "20 Newsgroups",
}


#: Title of every table (also the heading of its README section).
TITLES = {
    "l2x_posthoc": "Feature selection (L2X): post-hoc accuracy per estimator and temperature",
    "l2x_median_rank": "Feature selection (L2X): median rank of the true features (synthetic datasets)",
    "tsne_quality": "Parametric t-SNE: 1-NN error and trustworthiness T(12) per method and dimension",
    "synthetic_tv": "Synthetic check: total-variation distance per temperature",
    "synthetic_checks": "Synthetic check: every measured quantity per temperature",
    "knn_accuracy": "Deep stochastic kNN: test accuracy (%), temperature chosen on validation",
    "study_bias": "Estimator study: bias against the exact gradient of the estimator's own family",
    "study_variance": "Estimator study: variance of single-sample gradient directions",
    "l2x_comparison": "Feature selection (L2X): post-hoc accuracy with confidence intervals and paired tests",
    "knn_comparison": "Deep stochastic kNN: test accuracy (%) with confidence intervals and paired tests",
    "tsne_comparison": "Parametric t-SNE: 1-NN error with confidence intervals and paired tests",
    "estimator_ranks": "Estimators ranked across every task-dataset cell (Friedman test)",
}


def label(value: str) -> str:
    """Display name of a key or value (unknown ones print as they are)."""
    match = re.fullmatch(r"pca(\d+)", str(value))
    if match:
        return f"kNN + PCA {match.group(1)} (ours)"
    match = re.fullmatch(r"n(\d+)_k(\d+)_([a-z]+)", str(value))  # an estimator-study problem
    if match:
        return f"n={match.group(1)}, k={match.group(2)}, {match.group(3)}"
    return LABELS.get(str(value), str(value))


def _labels_for(frame: pd.DataFrame) -> dict[str, str]:
    values = set()
    for column in ("estimator", "dataset", "metric"):
        if column in frame:
            values |= set(frame[column].dropna().astype(str))
    return {**LABELS, **{v: label(v) for v in values}}


def _tau_key(tau: float | None) -> float:
    return math.nan if tau is None else float(tau)


def expected_estimator_rows(task: dict) -> list[tuple]:
    """``(estimator, tau)`` for every configured run of a training task: tempered estimators
    once per temperature, the others once (:func:`~subsetgrad.bench.experiments.common.run_temperatures`)."""
    temperatures = list(task.get("temperatures", []))
    return [
        (estimator, _tau_key(tau))
        for estimator in task.get("estimators", [])
        for tau in run_temperatures(estimator, temperatures)
    ]


def expected_study_rows(task: dict) -> list[tuple]:
    """``(estimator, swept value)`` for every setting of the estimator study, whose ``tau``
    column holds each estimator's own swept option (:func:`study_swept_option`)."""
    settings = settings_for(task.get("estimators", []), task.get("temperatures", []))
    return [(s.estimator, _tau_key(s.temperature)) for s in settings]


def _published_beside(
    table: str, metric: str, datasets, unit: str = "fraction"
) -> tuple[pd.DataFrame, list[str]]:
    """Published rows of the datasets this profile runs (a published number is shown only beside
    a measurement of the same dataset), and a note naming the published datasets not run here."""
    rows = published(table, metric, unit=unit)
    shown = rows[rows.dataset.isin(list(datasets))]
    others = sorted(set(rows.dataset) - set(shown.dataset))
    notes = []
    if others:
        sources = "; ".join(sorted(set(rows.source)))
        notes.append(
            f"Published numbers exist for {', '.join(label(d) for d in others)} ({sources}; "
            f"src/subsetgrad/bench/results/published.csv); this profile does not run "
            f"{'it' if len(others) == 1 else 'them'}."
        )
    return shown, notes


def _task_metrics(metrics: pd.DataFrame, task: str, metric: str | list[str]) -> pd.DataFrame:
    names = [metric] if isinstance(metric, str) else list(metric)
    return metrics[(metrics.task == task) & metrics.metric.isin(names)]


# ----------------------------------------------------------------------------- synthetic
def synthetic_tv(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["synthetic"]
    frame = _task_metrics(metrics, "synthetic", "tv_distance")
    temperatures = [float(t) for t in task["temperatures"]]
    bound = published("synthetic", "tv_distance")
    # the published bound holds for every temperature: one reference cell per column
    reference = pd.DataFrame([{**row, "tau": t} for _, row in bound.iterrows() for t in temperatures])
    return summary_table(
        frame,
        name="synthetic_tv",
        title=TITLES["synthetic_tv"],
        rows=["estimator"],
        columns=["tau"],
        better="min",
        expected_rows=["relaxed"],
        expected_columns=temperatures,
        published=reference,
        digits=4,
        labels=_labels_for(frame),
        notes=[
            f"{task['num_samples']:,} relaxed samples per temperature and seed, w ∝ {task['weights']}, "
            f"k = {task['k']}."
        ],
    )


def synthetic_checks(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["synthetic"]
    frame = metrics[metrics.task == "synthetic"]
    return summary_table(
        frame,
        name="synthetic_checks",
        title=TITLES["synthetic_checks"],
        rows=["metric"],
        columns=["tau"],
        better=None,
        expected_columns=[float(t) for t in task["temperatures"]],
        digits=4,
        labels=_labels_for(frame),
        notes=["No bold: the rows are different quantities."],
    )


# ----------------------------------------------------------------------------- l2x
#: Explanations the L2X black-box job evaluates like the learned ones: references, not methods.
L2X_REFERENCES = ("random_selection", "true_features")


def _l2x_rows(task: dict, frame: pd.DataFrame) -> list[tuple]:
    present = set(frame.estimator.dropna())
    return expected_estimator_rows(task) + [(r, math.nan) for r in L2X_REFERENCES if r in present]


def l2x_posthoc(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["l2x"]
    frame = _task_metrics(metrics, "l2x", "posthoc_accuracy")
    datasets = list(task.get("datasets", []))
    reference, published_notes = _published_beside("l2x", "posthoc_accuracy", datasets)
    return summary_table(
        frame,
        name="l2x_posthoc",
        title=TITLES["l2x_posthoc"],
        rows=["estimator", "tau"],
        columns=["dataset"],
        better="max",
        expected_rows=_l2x_rows(task, frame),
        expected_columns=datasets,
        published=reference,
        digits=3,
        labels=_labels_for(frame),
        unranked=L2X_REFERENCES,
        notes=[
            "Post-hoc accuracy: agreement of the black box on the k selected features alone with "
            "its prediction on the full input, on the test split. References are never bold.",
            *published_notes,
        ],
    )


def l2x_median_rank(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["l2x"]
    frame = _task_metrics(metrics, "l2x", "median_rank")
    settings = task.get("settings", {})
    observed = sorted(set(frame.dataset.dropna()))
    optimum = ", ".join(f"{label(d)} {(settings[d]['k'] + 1) / 2:g}" for d in observed if d in settings)
    return summary_table(
        frame,
        name="l2x_median_rank",
        title=TITLES["l2x_median_rank"],
        rows=["estimator", "tau"],
        columns=["dataset"],
        better="min",
        expected_rows=_l2x_rows(task, frame),
        expected_columns=[d for d in task.get("datasets", []) if d in observed],
        digits=2,
        labels=_labels_for(frame),
        unranked=L2X_REFERENCES,
        notes=[
            "Median rank of the true features in the explainer's per-sample ranking, mean over "
            "test samples (lower is better; the optimum is (k + 1) / 2"
            + (f": {optimum}" if optimum else "")
            + "). L2X (Chen et al. 2018) reports it only as box plots, so no published row."
        ],
    )


# ----------------------------------------------------------------------------- knn
def _best_tau_on_validation(frame: pd.DataFrame, select: str, report: str) -> pd.DataFrame:
    """Rows of ``report`` at the temperature with the best mean ``select`` over seeds,
    per (dataset, estimator); estimators without a temperature are kept as they are."""
    keys = ["dataset", "estimator"]
    chosen = []
    selection = frame[frame.metric == select]
    for (dataset, estimator), runs in frame[frame.metric == report].groupby(keys, dropna=False):
        if runs.tau.isna().all():
            chosen.append(runs)
            continue
        scores = selection[(selection.dataset == dataset) & (selection.estimator == estimator)]
        scores = scores.groupby("tau")["value"].mean()
        if scores.empty:  # no validation score: do not pick a temperature by the test set
            continue
        chosen.append(runs[runs.tau == scores.idxmax()])
    return pd.concat(chosen, ignore_index=True) if chosen else frame.iloc[:0]


def _knn_test_accuracy(metrics: pd.DataFrame) -> pd.DataFrame:
    """kNN test accuracy at each estimator's temperature chosen on validation accuracy."""
    return _best_tau_on_validation(metrics[metrics.task == "knn"], "val_accuracy", "test_accuracy")


def knn_accuracy(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["knn"]
    frame = _knn_test_accuracy(metrics)
    baselines = sorted(set(frame.loc[frame.seed.isna(), "estimator"]))
    expected = [*baselines, *task.get("estimators", [])]
    datasets = list(task.get("datasets", []))
    reference, published_notes = _published_beside("knn", "accuracy", datasets, unit="percent")
    return summary_table(
        frame,
        name="knn_accuracy",
        title=TITLES["knn_accuracy"],
        rows=["estimator"],
        columns=["dataset"],
        better="max",
        expected_rows=expected,
        expected_columns=datasets,
        published=reference,
        digits=1,
        scale=100.0,
        annotate="tau",
        labels=_labels_for(frame),
        notes=[
            "τ in a cell: the temperature with the best mean validation accuracy; "
            "the '(ours)' kNN rows use no training and no seed.",
            *published_notes,
        ],
    )


# ----------------------------------------------------------------------------- tsne
TSNE_METRICS = {"one_nn_error": "min", "trustworthiness_12": "max"}
TSNE_REFERENCES = ("random_projection", "pca")


def tsne_frame(metrics: pd.DataFrame, config: dict | None = None) -> pd.DataFrame:
    """t-SNE rows with the metrics' ``dataset`` label ``<dataset>_d<d>[_pretrained]`` split
    into ``dataset``, ``dimension`` and ``init``."""
    frame = metrics[metrics.task == "tsne"].copy()
    parsed = frame.dataset.astype(str).str.extract(r"^(?P<base>.+)_d(?P<dim>\d+)(?P<pre>_pretrained)?$")
    matched = parsed.base.notna()
    frame.loc[matched, "dataset"] = parsed.base[matched]
    frame["dimension"] = pd.to_numeric(parsed.dim, errors="coerce")
    frame["init"] = parsed.pre.notna().map({True: "pretrained", False: "scratch"})
    return frame


def _tsne_trained_one_nn_error(metrics: pd.DataFrame) -> pd.DataFrame:
    """The 1-NN error of every seeded (trained) t-SNE run, the compared t-SNE score."""
    frame = tsne_frame(metrics)
    return frame[(frame.metric == "one_nn_error") & frame.seed.notna()]


def tsne_quality(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["tsne"]
    frame = tsne_frame(metrics)
    frame = frame[frame.metric.isin(TSNE_METRICS)]
    methods = list(task.get("methods", [])) + list(task.get("estimators", []))
    references = [r for r in TSNE_REFERENCES if r in set(frame.estimator)]
    expected_rows = [(m, init) for m in methods for init in task.get("inits", ["scratch"])]
    expected_rows += [(r, "scratch") for r in references]
    expected_columns = [
        (d, dim, m) for d in task.get("datasets", []) for dim in task.get("dims", []) for m in TSNE_METRICS
    ]
    return summary_table(
        frame,
        name="tsne_quality",
        title=TITLES["tsne_quality"],
        rows=["estimator", "init"],
        columns=["dataset", "dimension", "metric"],
        better=TSNE_METRICS,
        expected_rows=expected_rows,
        expected_columns=expected_columns,
        digits=3,
        labels=_labels_for(frame),
        notes=[
            "1-NN error of the test embedding (classifier fit on the training embedding; lower is "
            "better) and trustworthiness T(12) of the test embedding (higher is better). "
            "init: network trained from scratch or after autoencoder pretraining; random "
            "projection and PCA are untrained references."
        ],
    )


# ----------------------------------------------------------------------------- study
STUDY_QUANTITIES = {"bias": "min", "variance": "min"}


def study_own_family(metrics: pd.DataFrame, config: dict | None = None) -> pd.DataFrame:
    """Study rows against the estimator's own target family, renamed to ``bias``/``variance``."""
    frame = metrics[metrics.task == "study"].copy()
    targets = {}
    for name in frame.estimator.dropna().unique():
        try:
            targets[name] = estimator_class(name).target
        except ValueError:  # a run of an estimator no longer registered has no known family
            targets[name] = None
    own = {
        (est, f"{quantity}_vs_{target}"): quantity
        for est, target in targets.items()
        for quantity in STUDY_QUANTITIES
    }
    frame["metric"] = [own.get((e, m)) for e, m in zip(frame.estimator, frame.metric)]
    return frame.dropna(subset=["metric"])


def _study_table(metrics: pd.DataFrame, config: dict, quantity: str) -> ResultTable:
    """One study quantity (``bias`` or ``variance``) per estimator setting and problem."""
    task = config["tasks"]["study"]
    frame = study_own_family(metrics, config)
    frame = frame[frame.metric == quantity]
    datasets = [f"n{task['n']}_k{k}_{loss}" for k in task.get("k", []) for loss in task.get("losses", [])]
    swept = {e: study_swept_option(e) for e in task.get("estimators", [])}
    not_tau = sorted(e for e, option in swept.items() if option not in (None, "tau"))
    notes = [
        {
            "bias": "bias = 1 − cos(mean of the single-sample estimates, exact gradient of the "
            "estimator's own target family); lower is better.",
            "variance": "variance over single-sample estimates of their cosine with the exact gradient "
            "of the estimator's own target family; lower is better.",
        }[quantity],
        "Problems n<items>_k<subset size>_<loss>; exact gradients by enumeration.",
    ]
    if not_tau:
        notes.append(
            f"For {', '.join(not_tau)} the τ column holds its own swept option "
            f"({', '.join(sorted({swept[e] for e in not_tau}))})."
        )
    name = f"study_{quantity}"
    return summary_table(
        frame,
        name=name,
        title=TITLES[name],
        rows=["estimator", "tau"],
        columns=["dataset"],
        better=STUDY_QUANTITIES[quantity],
        expected_rows=expected_study_rows(task),
        expected_columns=datasets,
        digits=3,
        labels=_labels_for(frame),
        notes=notes,
    )


def study_bias(metrics: pd.DataFrame, config: dict) -> ResultTable:
    return _study_table(metrics, config, "bias")


def study_variance(metrics: pd.DataFrame, config: dict) -> ResultTable:
    return _study_table(metrics, config, "variance")


# ----------------------------------------------------------------------------- comparisons
def _comparison_table(frame: pd.DataFrame, config: dict, name: str, **kwargs) -> ResultTable:
    chosen = comparison.settings(config)
    return summary_table(
        frame,
        name=name,
        title=TITLES[name],
        interval=chosen["confidence"],
        paired=chosen["paired_test"],
        alpha=chosen["alpha"],
        labels=_labels_for(frame),
        **kwargs,
    )


def l2x_comparison(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["l2x"]
    frame = _task_metrics(metrics, "l2x", "posthoc_accuracy")
    return _comparison_table(
        frame,
        config,
        "l2x_comparison",
        rows=["estimator", "tau"],
        columns=["dataset"],
        better="max",
        expected_rows=_l2x_rows(task, frame),
        expected_columns=list(task.get("datasets", [])),
        digits=3,
        unranked=L2X_REFERENCES,
        notes=["References are neither bold nor tested."],
    )


def knn_comparison(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["knn"]
    frame = _knn_test_accuracy(metrics)
    baselines = sorted(set(frame.loc[frame.seed.isna(), "estimator"]))
    return _comparison_table(
        frame,
        config,
        "knn_comparison",
        rows=["estimator"],
        columns=["dataset"],
        better="max",
        expected_rows=[*baselines, *task.get("estimators", [])],
        expected_columns=list(task.get("datasets", [])),
        digits=1,
        scale=100.0,
        annotate="tau",
        unranked=baselines,
        notes=[
            "τ in a cell: the temperature with the best mean validation accuracy. The untrained kNN "
            "rows have no seed: neither bold nor tested."
        ],
    )


def tsne_comparison(metrics: pd.DataFrame, config: dict) -> ResultTable:
    task = config["tasks"]["tsne"]
    frame = _tsne_trained_one_nn_error(metrics)
    methods = list(task.get("methods", [])) + list(task.get("estimators", []))
    return _comparison_table(
        frame,
        config,
        "tsne_comparison",
        rows=["estimator", "init"],
        columns=["dataset", "dimension"],
        better="min",
        expected_rows=[(m, i) for m in methods for i in task.get("inits", ["scratch"])],
        expected_columns=[(d, dim) for d in task.get("datasets", []) for dim in task.get("dims", [])],
        digits=3,
        unranked=TSNE_REFERENCES,
        notes=[
            "1-NN error of the test embedding (lower is better). Random projection and PCA are "
            "untrained references: neither bold nor tested."
        ],
    )


def _ranked_l2x(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    frame = _task_metrics(metrics, "l2x", "posthoc_accuracy")
    frame = frame[~frame.estimator.isin(L2X_REFERENCES)].copy()
    frame["cell"] = "L2X " + frame.dataset.map(label)
    return frame


def _ranked_knn(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    frame = _knn_test_accuracy(metrics)
    frame = frame[frame.seed.notna()].copy()  # the untrained kNN baselines have no seed
    frame["cell"] = "kNN " + frame.dataset.map(label)
    return frame


def _ranked_tsne(metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
    frame = _tsne_trained_one_nn_error(metrics)
    frame = frame[~frame.estimator.isin(TSNE_REFERENCES)].copy()
    pretrained = np.where(frame["init"] == "pretrained", " pretrained", "")
    frame["cell"] = (
        "t-SNE " + frame.dataset.map(label) + " d=" + frame.dimension.astype("Int64").astype(str) + pretrained
    )
    return frame


#: What each training task contributes to the estimator ranking: one metric per task-dataset cell.
COMPARED: dict[str, comparison.Compared] = {
    "l2x": comparison.Compared("posthoc_accuracy", "max", _ranked_l2x, selection="metric"),
    "knn": comparison.Compared("test_accuracy", "max", _ranked_knn, selection="validation"),
    "tsne": comparison.Compared("one_nn_error", "min", _ranked_tsne, selection="single"),
}


def estimator_ranking(metrics: pd.DataFrame, config: dict) -> comparison.Ranking:
    """The Friedman ranking of the estimators over every task-dataset cell of :data:`COMPARED`."""
    return comparison.ranking(metrics, config, COMPARED)


#: The name of the ranking's column of average ranks.
AVERAGE_RANK = "average rank"


class RankTable(ResultTable):
    """Scores per estimator (rows) and task-dataset cell (columns) with each score's rank,
    and a last column of average ranks (bold: the best)."""

    def cell_text(self, cell: pd.Series, fmt: str = "markdown") -> str:
        average = cell[self.col_keys[0]] == AVERAGE_RANK
        text = f"{cell['mean']:.2f}" if average else self._number(cell["mean"])
        if cell.best:
            text = {"markdown": f"**{text}**", "html": f"<b>{text}</b>", "text": text}[fmt]
        return text if average else f"{text} ({int(cell.n_seeds)}; {cell.annotation})"

    def legend(self) -> str:
        return (
            "Cells: the estimator's score in the task-dataset cell (mean over seeds; n = number of "
            "seeds; its rank in the cell, 1 = best); last column: average rank over the cells, "
            "bold: best."
        )


def estimator_ranks(metrics: pd.DataFrame, config: dict) -> RankTable:
    result = estimator_ranking(metrics, config)
    friedman = result.result
    records = []
    for i, estimator in enumerate(friedman.estimators):
        for j, cell in enumerate(friedman.cells):
            row = result.scores[(result.scores.cell == cell) & (result.scores.estimator == estimator)].iloc[0]
            tau = "" if pd.isna(row.tau) else f"τ={key_label(row.tau)}; "
            records.append(
                {
                    "estimator": estimator,
                    "cell": cell,
                    "mean": row.score,
                    "std": float("nan"),
                    "n_seeds": int(row.n_seeds),
                    "annotation": f"{tau}rank {friedman.ranks[j, i]:g}",
                    "best": friedman.ranks[j, i] == 1,
                }
            )
        average = friedman.average_ranks[estimator]
        records.append(
            {
                "estimator": estimator,
                "cell": AVERAGE_RANK,
                "mean": average,
                "std": float("nan"),
                "n_seeds": len(friedman.cells),
                "annotation": "",
                "best": average == min(friedman.average_ranks.values()),
            }
        )
    order = sorted(friedman.estimators, key=lambda e: friedman.average_ranks[e])
    cells = pd.DataFrame(
        records, columns=["estimator", "cell", "mean", "std", "n_seeds", "annotation", "best"]
    )
    cells = cells.sort_values("estimator", key=lambda s: s.map(order.index), kind="stable").reset_index(
        drop=True
    )
    cells = cells.assign(source="measured", relation="=", citation="")
    return RankTable(
        name="estimator_ranks",
        title=TITLES["estimator_ranks"],
        row_keys=["estimator"],
        col_keys=["cell"],
        cells=cells,
        digits=3,
        notes=result.notes(),
        labels=_labels_for(cells.assign(dataset="")),
    )


@dataclass
class TaskResults:
    """A task's tables (name -> builder) and the metrics its figures plot."""

    task: str
    tables: dict[str, Callable[[pd.DataFrame, dict], ResultTable]]
    temperature_metrics: list[str] = field(default_factory=list)
    curve_metrics: list[str] = field(default_factory=list)
    #: one y scale per row of training curves (False where methods optimise different losses)
    curves_share_y: bool = True
    #: metric -> reference metric drawn in its panel of the temperature figure
    references: dict[str, str] = field(default_factory=dict)
    #: rows the temperature figure plots (default: the task's rows as they are)
    figure_frame: Callable[[pd.DataFrame, dict], pd.DataFrame] | None = None

    def temperature_frame(self, metrics: pd.DataFrame, config: dict) -> pd.DataFrame:
        if self.figure_frame is not None:
            return self.figure_frame(metrics, config)
        return metrics[metrics.task == self.task]


TASK_RESULTS: dict[str, TaskResults] = {
    "l2x": TaskResults(
        "l2x",
        {"l2x_posthoc": l2x_posthoc, "l2x_median_rank": l2x_median_rank, "l2x_comparison": l2x_comparison},
        temperature_metrics=["posthoc_accuracy", "median_rank"],
        curve_metrics=["train_loss", "val_fidelity", "val_posthoc_accuracy"],
    ),
    "tsne": TaskResults(
        "tsne",
        {"tsne_quality": tsne_quality, "tsne_comparison": tsne_comparison},
        temperature_metrics=[],
        curve_metrics=["loss"],
        curves_share_y=False,
    ),
    "synthetic": TaskResults(
        "synthetic",
        {"synthetic_tv": synthetic_tv, "synthetic_checks": synthetic_checks},
        temperature_metrics=["tv_distance", "theorem1_agreement"],
        references={"tv_distance": "tv_distance_expected_by_chance"},
    ),
    "knn": TaskResults(
        "knn",
        {"knn_accuracy": knn_accuracy, "knn_comparison": knn_comparison},
        temperature_metrics=["test_accuracy", "val_accuracy"],
        curve_metrics=["val_accuracy", "train_loss", "train_topk_correct"],
    ),
    "study": TaskResults(
        "study",
        {"study_bias": study_bias, "study_variance": study_variance},
        temperature_metrics=list(STUDY_QUANTITIES),
        figure_frame=study_own_family,
    ),
}


#: The table of each task shown in the README (every table is in the profile's results
#: document); the others are diagnostics or a second view of the same runs.
HEADLINE_TABLES = (
    "synthetic_tv",
    "l2x_posthoc",
    "knn_accuracy",
    "tsne_quality",
    "study_bias",
    "estimator_ranks",
)


#: Tables and figures across tasks, made when at least one task of :data:`COMPARED`
#: is enabled; their "task" in the results document is this name.
ACROSS_TASKS = "comparison"
ACROSS_TASK_TABLES = {"estimator_ranks": estimator_ranks}
#: The critical-difference diagram of the estimator ranking (results/<profile>/figures/<name>.png).
CRITICAL_DIFFERENCE_FIGURE = "critical_difference"


def across_task_tables(tasks) -> list[str]:
    """The cross-task tables of a profile whose enabled tasks are ``tasks``."""
    return list(ACROSS_TASK_TABLES) if set(tasks) & set(COMPARED) else []


def table_names(task: str) -> list[str]:
    if task == ACROSS_TASKS:
        return list(ACROSS_TASK_TABLES)
    return list(TASK_RESULTS[task].tables) if task in TASK_RESULTS else []


def build_table(name: str, metrics: pd.DataFrame, config: dict) -> ResultTable:
    if name in ACROSS_TASK_TABLES:
        return ACROSS_TASK_TABLES[name](metrics, config)
    for spec in TASK_RESULTS.values():
        if name in spec.tables:
            return spec.tables[name](metrics, config)
    raise KeyError(
        f"unknown table {name!r}; known: {sorted(n for s in TASK_RESULTS.values() for n in s.tables)}"
    )


def task_of_table(name: str) -> str:
    if name in ACROSS_TASK_TABLES:
        return ACROSS_TASKS
    for spec in TASK_RESULTS.values():
        if name in spec.tables:
            return spec.task
    raise KeyError(name)


def build_title(name: str) -> str:
    return TITLES[name]
