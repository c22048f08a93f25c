"""What every task shares: the temperature label of a run, how a run's estimator is built,
and squared Euclidean distances.

A run's temperature appears in output paths and wildcards as ``tau<value>`` (``tau0.5``,
``tau16``), or :data:`NO_TEMPERATURE` for an estimator that takes none (REINFORCE,
REINFORCE-LOO, SIMPLE), which runs once where the others sweep a grid; in tidy metrics it is
the number, or NaN.
"""

from __future__ import annotations

import math

from torch import Tensor

from subsetgrad import Estimator, make_estimator, takes_temperature

NO_TEMPERATURE = "notau"


def tau_label(tau: float | None) -> str:
    """``tau0.5``, ``tau16``, ``tau1e-05``; :data:`NO_TEMPERATURE` for ``None``."""
    return NO_TEMPERATURE if tau is None else f"tau{float(tau):g}"


def parse_tau_label(label: str) -> float | None:
    """The temperature of a label made by :func:`tau_label` (``None`` for no temperature)."""
    if label == NO_TEMPERATURE:
        return None
    try:
        tau = float(label[3:]) if label.startswith("tau") else math.nan
    except ValueError:
        tau = math.nan
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"temperature label {label!r} must be {NO_TEMPERATURE!r} or 'tau<positive number>'")
    return tau


def run_temperatures(estimator: str, temperatures: list[float]) -> list[float | None]:
    """The temperatures an estimator runs at: the grid, or once without one."""
    return list(temperatures) if takes_temperature(estimator) else [None]


def build_estimator(name: str, k: int, tau: str | float | None, options: dict | None = None) -> Estimator:
    """``make_estimator(name, k, **options)``, with ``tau`` (a number or a label) passed to
    estimators that take a temperature; a tempered estimator without one, or an untempered
    one with one, is a planning error."""
    tau = parse_tau_label(tau) if isinstance(tau, str) else tau
    options = dict(options or {})
    takes = takes_temperature(name)
    if takes and tau is None:
        raise ValueError(
            f"estimator {name!r} takes a temperature; its runs need a tau label, not {NO_TEMPERATURE!r}"
        )
    if not takes and tau is not None:
        raise ValueError(
            f"estimator {name!r} takes no temperature; its runs use the label {NO_TEMPERATURE!r}"
        )
    if tau is not None:
        options["tau"] = tau
    return make_estimator(name, k, **options)


def squared_distances(a: Tensor, b: Tensor | None = None) -> Tensor:
    """``D_ij = ||a_i - b_j||^2`` over the last dimension (``b = a`` when omitted), batched over
    leading dimensions, clamped at 0 against rounding, differentiable."""
    b = a if b is None else b
    a_sq = (a * a).sum(-1, keepdim=True)
    b_sq = (b * b).sum(-1).unsqueeze(-2)
    return (a_sq - 2.0 * a @ b.transpose(-1, -2) + b_sq).clamp_min(0.0)
