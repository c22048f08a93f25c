"""Estimator study: bias, variance, error and cost of every estimator
against exact gradients on enumerable k-subset problems.

A *problem* is ``n`` items, subset size ``k``, logits ``w ~ N(0, I)`` and a loss
``f`` of the k-hot ``z`` (all drawn from the seed):

* ``linear``:    ``f(z) = c . z`` with ``c ~ N(0, I)``;
* ``squared``:   ``f(z) = ||z - b||^2`` with ``b ~ U(0, 1)^n`` (SIMPLE's toy loss; on
  k-hot z it is linear, but relaxed estimators evaluate it at soft z);
* ``nonlinear``: ``f(z) = sin(3 s) + s^2`` with ``s = c . z / sqrt(k)``.

The objective is ``E_{z ~ p_w}[f(z)]`` and its exact gradient is computed by
autograd through the enumerated subset probabilities of either family:
``subset_probs`` (PL-WOR, Gumbel-top-k) and ``cb_subset_probs`` (conditional
Bernoulli). Each estimator targets one family (its class attribute ``target``);
every estimate is compared with *both* exact gradients and the rows say which
(``reference_family``), so a cross-family comparison is never mistaken for the
estimator's own.

For ``M`` single-sample gradient estimates ``g_1..g_M`` (one batched call: the
logits are expanded to a leaf of shape ``[M, n]``, so row m's gradient is the
m-th independent estimate) and an exact gradient ``g*``:

* ``bias = 1 - cos(mean_m g_m, g*)``;
* ``variance = Var_m cos(g_m, g*)`` (``cos = 0`` for a zero estimate);
* ``mean_cosine = mean_m cos(g_m, g*)``: how well one estimate points (a degenerate
  estimator that returns 0 has variance 0 but mean cosine 0);
* ``mse = mean_m ||g_m - g*||^2`` (scale-dependent: I-MLE's ``(z - z') / lambda`` is
  not on the scale of the true gradient, so compare it by the cosine metrics);
* ``bias_noise_floor = tr(P S P) / (2 M ||mean_m g_m||^2)`` with ``S`` the sample
  covariance of the g_m and ``P`` the projection orthogonal to ``g*``: the expected
  ``bias`` from M samples alone of an estimator with this covariance whose mean
  points along ``g*`` (to second order), so a bias well above the floor is real,
  one near it is Monte Carlo error;
* ``time_per_gradient_s``: wall time of a batched sample + surrogate + backward
  divided by its batch size, the fastest of ``TIMING_BATCHES`` batches (like
  ``timeit``: other processes only ever add time).

Temperatures: :func:`study_swept_option` decides, for every estimator, which option
the study sweeps over its temperature grid: the class attribute
``temperature_option`` when it defines one (I-MLE sweeps ``lambda_``, its
temperature-like knob, and keeps its default ``tau``), else ``tau`` when it takes
one (:func:`subsetgrad.takes_temperature`), else none (one setting). The metrics
column ``tau`` holds the swept value, whichever option it is. Every estimator first runs one
untimed warm-up batch that is discarded, so stateful estimators (REINFORCE's
moving-average baseline) are measured in steady state and one-off costs are not
timed.

Tidy metrics: ``task = "study"``, ``dataset = "n{n}_k{k}_{loss}"``, and the metric
name carries the reference family: ``bias_vs_cb``, ``variance_vs_pl_wor``, ...
(``<quantity>_vs_<family>``), plus ``time_per_gradient_s``.
"""

from __future__ import annotations

import math
import re
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from subsetgrad import Estimator, available_estimators, estimator_class, make_estimator, takes_temperature
from subsetgrad.cb import cb_subset_probs
from subsetgrad.exact import MAX_SUBSETS, expected_loss, subset_probs

LOSS_NAMES = ("linear", "squared", "nonlinear")
#: Exact subset probabilities of each family, by enumeration.
FAMILY_PROBS = {"pl_wor": subset_probs, "cb": cb_subset_probs}
FAMILIES = tuple(FAMILY_PROBS)
QUANTITIES = ("bias", "bias_noise_floor", "variance", "mean_cosine", "mse")
TIME_METRIC = "time_per_gradient_s"
#: Gradients drawn per estimator call; larger M is split into calls of this size.
MAX_BATCH = 10_000
#: The M gradients are drawn in this many batches (at least); the fastest one is the cost.
TIMING_BATCHES = 4
WARMUP_GRADIENTS = 256
_DATASET = re.compile(r"^n(\d+)_k(\d+)_([a-z]+)$")


# --- problems and exact gradients -----------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """An enumerable k-subset problem: logits ``[n]`` and a loss of k-hot ``z [..., n]``."""

    n: int
    k: int
    loss: str
    logits: Tensor
    coefficients: Tensor

    @property
    def dataset(self) -> str:
        return dataset_name(self.n, self.k, self.loss)

    def loss_fn(self, z: Tensor) -> Tensor:
        c = self.coefficients.to(z.dtype)
        if self.loss == "linear":
            return (z * c).sum(-1)
        if self.loss == "squared":
            return ((z - c) ** 2).sum(-1)
        s = (z * c).sum(-1) / math.sqrt(self.k)
        return torch.sin(3 * s) + s**2


def dataset_name(n: int, k: int, loss: str) -> str:
    return f"n{n}_k{k}_{loss}"


def parse_dataset(name: str) -> tuple[int, int, str]:
    """``"n10_k5_linear"`` -> ``(10, 5, "linear")``; a clear error otherwise."""
    match = _DATASET.match(name)
    if not match or match.group(3) not in LOSS_NAMES:
        raise ValueError(
            f"study dataset {name!r} is not of the form n<n>_k<k>_<loss> with loss in {', '.join(LOSS_NAMES)}"
        )
    return int(match.group(1)), int(match.group(2)), match.group(3)


def check_dataset_in_config(name: str, task: dict) -> tuple[int, int, str]:
    """Parse ``name`` and check that the ``tasks.study`` section asks for that problem."""
    n, k, loss = parse_dataset(name)
    if n != task["n"] or k not in task["k"] or loss not in task["losses"]:
        raise ValueError(
            f"study dataset {name!r} is not in the config (tasks.study: n={task['n']}, "
            f"k={task['k']}, losses={task['losses']}); request one of its problems"
        )
    return n, k, loss


def _check_problem(n: int, k: int, loss: str) -> None:
    if loss not in LOSS_NAMES:
        raise ValueError(f"unknown study loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}")
    if not 2 <= n or not 1 <= k <= n:
        raise ValueError(f"the study needs 1 <= k <= n and n >= 2, got n={n}, k={k}")
    if math.comb(n, k) > MAX_SUBSETS:
        raise ValueError(
            f"C(n={n}, k={k}) = {math.comb(n, k)} subsets is too many to enumerate "
            f"(at most {MAX_SUBSETS}); choose a smaller n"
        )


def make_problem(n: int, k: int, loss: str, seed: int, device: torch.device | str = "cpu") -> Problem:
    """The problem of ``seed`` (drawn on the CPU, so identical on every device), in float64."""
    _check_problem(n, k, loss)
    gen = torch.Generator().manual_seed(int(seed))
    logits = torch.randn(n, generator=gen, dtype=torch.float64)
    if loss == "squared":
        coefficients = torch.rand(n, generator=gen, dtype=torch.float64)
    else:
        coefficients = torch.randn(n, generator=gen, dtype=torch.float64)
    return Problem(n, k, loss, logits.to(device), coefficients.to(device))


def exact_gradient(problem: Problem, family: str) -> Tensor:
    """``d/dw E_{z ~ family(w)}[f(z)]`` by autograd through the enumerated probabilities."""
    if family not in FAMILY_PROBS:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    w = problem.logits.detach().clone().requires_grad_()
    subsets, probs = FAMILY_PROBS[family](w, problem.k)
    value = expected_loss(probs, subsets, problem.loss_fn, problem.n)
    (grad,) = torch.autograd.grad(value, w)
    return grad


# --- estimator settings ---------------------------------------------------------------------
def study_swept_option(name: str) -> str | None:
    """The option the study sweeps over its temperature grid for estimator ``name``.

    The class's own ``temperature_option`` when it declares one (I-MLE: ``lambda_``,
    whose scale, not ``tau``, sets its bias here), else ``tau`` for an estimator that
    takes a temperature, else ``None`` (one setting). Only the study sweeps a declared
    option; the other tasks sweep ``tau`` (:func:`subsetgrad.takes_temperature`).
    """
    declared = getattr(estimator_class(name), "temperature_option", None)
    if declared:
        return declared
    return "tau" if takes_temperature(name) else None


@dataclass(frozen=True)
class Setting:
    """One estimator at one temperature (``temperature`` is None when it has none)."""

    estimator: str
    option: str | None = None
    temperature: float | None = None

    def options(self) -> dict:
        return {self.option: self.temperature} if self.option else {}

    def stream(self, seed: int) -> int:
        """A seed for this setting's sampling, stable when other settings are added."""
        return zlib.crc32(f"{seed}/{self.estimator}/{self.temperature}".encode())


def settings_for(estimators, temperatures) -> list[Setting]:
    unknown = sorted(set(estimators) - set(available_estimators()))
    if unknown:
        raise ValueError(
            f"unknown estimator(s) {', '.join(unknown)}; choose from {', '.join(available_estimators())}"
        )
    out = []
    for name in estimators:
        option = study_swept_option(name)
        if option is None:
            out.append(Setting(name))
        else:
            out.extend(Setting(name, option, float(t)) for t in temperatures)
    return out


# --- measuring ------------------------------------------------------------------------------
def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def per_sample_gradients(
    estimator: Estimator,
    logits: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    count: int,
    generator: torch.Generator | None = None,
    max_batch: int = MAX_BATCH,
) -> tuple[Tensor, float]:
    """``count`` independent single-sample gradient estimates ``[count, n]`` and the
    fastest wall time per gradient over the batches of at most ``max_batch`` rows.

    Each call expands the logits to a leaf ``[M, n]`` and differentiates ``M`` times
    the surrogate (a mean over the M rows and the estimator's own ``num_samples``):
    row m's gradient is then the m-th estimate, and each row's sample receives the
    incoming gradient ``dL/dz`` of its own loss. Scaling the surrogate rather than
    its gradient matters for estimators that are not linear in ``dL/dz`` (I-MLE's
    target ``w - lambda dL/dz``): with a mean over M rows they would see ``dL/dz / M``.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    n = logits.shape[-1]
    grads, per_gradient = [], math.inf
    for start in range(0, count, max_batch):
        size = min(max_batch, count - start)
        rows = logits.detach().expand(size, n).clone().requires_grad_()
        _synchronize(rows.device)
        tic = time.perf_counter()
        sample = estimator.sample(rows, generator=generator)
        surrogate = estimator.surrogate(sample, loss_fn(sample.khot))
        (grad,) = torch.autograd.grad(surrogate * size, rows, allow_unused=True)
        _synchronize(rows.device)
        per_gradient = min(per_gradient, (time.perf_counter() - tic) / size)
        grads.append(torch.zeros_like(rows) if grad is None else grad.detach())
    return torch.cat(grads), per_gradient


def _cosine(x: Tensor, reference: Tensor) -> Tensor:
    """Cosine similarity of each row of ``x`` with ``reference``; 0 for a zero row."""
    norms = x.norm(dim=-1) * reference.norm()
    dots = x @ reference
    return torch.where(
        norms > 0, dots / torch.where(norms > 0, norms, torch.ones_like(norms)), torch.zeros_like(dots)
    )


def gradient_metrics(grads: Tensor, exact: Tensor) -> dict[str, float]:
    """``QUANTITIES`` of estimates ``[M, n]`` against ``exact [n]`` (see the module docstring)."""
    m = grads.shape[0]
    if m < 2:
        raise ValueError("gradient_metrics needs at least 2 estimates")
    mean = grads.mean(0)
    cos = _cosine(grads, exact)
    direction = exact / exact.norm()
    centred = grads - mean
    orthogonal = centred - (centred @ direction).unsqueeze(-1) * direction
    # the scale of the mean estimate (not of g*) sets how much noise tilts its direction
    scale = mean.norm() ** 2
    floor = (orthogonal**2).sum() / (m - 1) / (2 * m * scale) if scale > 0 else torch.tensor(math.nan)
    return {
        "bias": float(1.0 - _cosine(mean.unsqueeze(0), exact)[0]),
        "bias_noise_floor": float(floor),
        "variance": float(cos.var()),
        "mean_cosine": float(cos.mean()),
        "mse": float(((grads - exact) ** 2).sum(-1).mean()),
    }


def measure(
    setting: Setting,
    problem: Problem,
    exact: dict[str, Tensor],
    num_gradients: int,
    seed: int,
    warmup: int = WARMUP_GRADIENTS,
) -> tuple[dict[str, dict[str, float]], float, Tensor]:
    """Metrics per reference family, time per gradient, and the estimates of one setting."""
    device = problem.logits.device
    estimator = make_estimator(setting.estimator, problem.k, **setting.options()).to(device)
    generator = torch.Generator(device=device).manual_seed(setting.stream(seed))
    if warmup:
        per_sample_gradients(estimator, problem.logits, problem.loss_fn, warmup, generator)
    batch = min(MAX_BATCH, math.ceil(num_gradients / TIMING_BATCHES))
    grads, per_gradient = per_sample_gradients(
        estimator, problem.logits, problem.loss_fn, num_gradients, generator, max_batch=batch
    )
    if not torch.isfinite(grads).all():
        raise FloatingPointError(f"{setting} produced non-finite gradients on {problem.dataset}")
    per_family = {family: gradient_metrics(grads, g) for family, g in exact.items()}
    return per_family, per_gradient, grads


def run_study(
    n: int,
    k: int,
    loss: str,
    estimators,
    temperatures,
    seeds,
    num_gradients: int,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> list[dict]:
    """Tidy metrics rows for every (seed, estimator setting, reference family)."""
    _check_problem(n, k, loss)
    if num_gradients < 2:
        raise ValueError(f"num_gradients must be >= 2, got {num_gradients}")
    device = torch.device(device)
    settings = settings_for(estimators, temperatures)
    from tqdm import tqdm

    bar = tqdm(
        total=len(seeds) * len(settings),
        desc=dataset_name(n, k, loss),
        file=sys.stderr,
        disable=not progress,
        mininterval=5,
    )
    rows = []
    for seed in seeds:
        problem = make_problem(n, k, loss, seed, device)
        exact = {family: exact_gradient(problem, family) for family in FAMILIES}
        for setting in settings:
            tic = time.perf_counter()
            per_family, per_gradient, _ = measure(setting, problem, exact, num_gradients, seed)
            common = {
                "task": "study",
                "dataset": problem.dataset,
                "estimator": setting.estimator,
                "tau": setting.temperature if setting.temperature is not None else math.nan,
                "k": k,
                "seed": seed,
                "wall_time_s": time.perf_counter() - tic,
            }
            for family, values in per_family.items():
                for quantity in QUANTITIES:
                    rows.append({**common, "metric": f"{quantity}_vs_{family}", "value": values[quantity]})
            rows.append({**common, "metric": TIME_METRIC, "value": per_gradient})
            bar.update()
    bar.close()
    return rows


# --- figures ---------------------------------------------------------------------
def split_metric(metric: str) -> tuple[str, str | None]:
    """``"bias_vs_cb"`` -> ``("bias", "cb")``; ``"time_per_gradient_s"`` -> (itself, None)."""
    quantity, sep, family = metric.rpartition("_vs_")
    return (quantity, family) if sep else (metric, None)


def _annotate(metrics: pd.DataFrame) -> pd.DataFrame:
    metrics = metrics.copy()
    parts = metrics.metric.map(split_metric)
    metrics["quantity"] = parts.str[0]
    metrics["reference_family"] = parts.str[1]
    targets = {name: estimator_class(name).target for name in metrics.estimator.unique()}
    knobs = {name: study_swept_option(name) or "" for name in metrics.estimator.unique()}
    metrics["target"] = metrics.estimator.map(targets)
    metrics["temperature_option"] = metrics.estimator.map(knobs)
    metrics["own_family"] = metrics.reference_family == metrics.target
    return metrics


def own_family_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Bias and variance against the estimator's own family, means over seeds: one row per
    (dataset, estimator, temperature), for the scatter figure (the tables are
    ``study_bias`` and ``study_variance`` of :mod:`subsetgrad.bench.results.specs`)."""
    data = _annotate(metrics)
    data = data[data.own_family & data.quantity.isin(["bias", "variance"])]
    means = data.groupby(["dataset", "estimator", "tau", "quantity"], dropna=False)["value"].mean()
    return means.unstack("quantity").reset_index()


def _plot_setup():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


#: Values at or below this are drawn at it on log axes (SIMPLE on a linear loss is exact).
LOG_FLOOR = 1e-10


def _log_axes(ax) -> None:
    """Log-log axes labelled at decades only (minor labels overlap on narrow ranges)."""
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_versus_temperature(metrics: pd.DataFrame):
    """Bias and variance (own family) vs temperature, one column per dataset.

    Tempered estimators are lines with the spread over seeds; estimators without a
    temperature are horizontal dashed lines at their mean.
    """
    plt, sns = _plot_setup()
    data = _annotate(metrics)
    data = data[data.own_family & data.quantity.isin(["bias", "variance"])].copy()
    data["value"] = data.value.clip(lower=LOG_FLOOR)
    datasets = sorted(data.dataset.unique())
    estimators = sorted(data.estimator.unique())
    palette = dict(zip(estimators, sns.color_palette("tab10", len(estimators))))
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.4 * len(datasets), 6), squeeze=False, sharex=True)
    for col, dataset in enumerate(datasets):
        for row, quantity in enumerate(["bias", "variance"]):
            ax = axes[row][col]
            d = data[(data.dataset == dataset) & (data.quantity == quantity)]
            tempered = d[d.tau.notna()]
            if len(tempered):
                sns.lineplot(
                    tempered,
                    x="tau",
                    y="value",
                    hue="estimator",
                    palette=palette,
                    marker="o",
                    errorbar=("pi", 100),
                    ax=ax,
                    legend=False,
                )
            for name, rows in d[d.tau.isna()].groupby("estimator"):
                ax.axhline(rows.value.mean(), color=palette[name], ls="--", lw=1.2)
            _log_axes(ax)
            ax.set_title(dataset if row == 0 else "")
            ax.set_ylabel(f"{quantity} (own family)" if col == 0 else "")
            ax.set_xlabel("temperature (tau; lambda for imle)" if row == 1 else "")
    handles = [plt.Line2D([], [], color=palette[e], marker="o", ls="-") for e in estimators]
    fig.legend(
        handles, estimators, loc="center right", frameon=False, title="estimator\n(dashed: no temperature)"
    )
    fig.suptitle(
        "Bias = 1 - cos(mean estimate, exact gradient); variance of the cosine "
        f"(values <= {LOG_FLOOR:g} drawn at {LOG_FLOOR:g})"
    )
    fig.tight_layout(rect=(0, 0, 0.85, 0.96))
    return fig


def plot_bias_variance(metrics: pd.DataFrame):
    """Bias against variance (own family, means over seeds), one panel per dataset."""
    plt, sns = _plot_setup()
    data = own_family_means(metrics)
    for column in ("bias", "variance"):
        data[column] = data[column].clip(lower=LOG_FLOOR)
    # marker size shows the temperature; estimators without one get the middle size
    data["temperature"] = data.tau.fillna(1.0)
    datasets = sorted(data.dataset.unique())
    estimators = sorted(data.estimator.unique())
    palette = dict(zip(estimators, sns.color_palette("tab10", len(estimators))))
    ncols = min(3, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.6 * nrows), squeeze=False)
    for ax, dataset in zip(axes.flat, datasets):
        d = data[data.dataset == dataset]
        sns.scatterplot(
            d,
            x="variance",
            y="bias",
            hue="estimator",
            size="temperature",
            sizes=(15, 120),
            palette=palette,
            ax=ax,
            legend=False,
        )
        _log_axes(ax)
        ax.set_title(dataset)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=palette[e], marker="o", ls="") for e in estimators]
    fig.legend(handles, estimators, loc="center right", frameon=False, title="estimator\n(size: temperature)")
    fig.suptitle(
        f"Bias vs variance of the cosine to the exact gradient (own family; "
        f"values <= {LOG_FLOOR:g} drawn at {LOG_FLOOR:g})"
    )
    fig.tight_layout(rect=(0, 0, 0.85, 0.95))
    return fig


# --- config ---------------------------------------------------------------------------------
def study_problems_are_enumerable(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("study")
    if not task:
        return []
    n, problems = task["n"], []
    for k in task["k"]:
        if k > n:
            problems.append(f"config key 'tasks.study.k': k={k} is larger than n={n}; choose k <= {n}")
        elif math.comb(n, k) > MAX_SUBSETS:
            problems.append(
                f"config key 'tasks.study.n': C({n}, {k}) = {math.comb(n, k)} subsets is "
                f"too many to enumerate (at most {MAX_SUBSETS}); choose a smaller n"
            )
    return problems


def study_seeds(config: dict) -> list[int]:
    """The study's own ``seeds`` when given, else the top-level ``seeds``."""
    return list(config["tasks"]["study"].get("seeds", config["seeds"]))


__all__ = [
    "FAMILIES",
    "LOSS_NAMES",
    "Problem",
    "Setting",
    "check_dataset_in_config",
    "dataset_name",
    "exact_gradient",
    "gradient_metrics",
    "make_problem",
    "measure",
    "own_family_means",
    "parse_dataset",
    "per_sample_gradients",
    "plot_bias_variance",
    "plot_versus_temperature",
    "run_study",
    "settings_for",
    "study_seeds",
    "study_swept_option",
]
