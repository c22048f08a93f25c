"""Input validation shared by every public function.

Errors are raised before any sampling work so that a bad tensor never produces
a silently wrong sample. Every message names the offending argument and says
what would be accepted instead.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator

import torch
from torch import Tensor

_log = logging.getLogger("subsetgrad")
_VALIDATE = True


def set_validation(enabled: bool) -> None:
    """Switch the value checks of every input tensor on (the default) or off.

    The checks for NaN, +inf and too few finite items per row read the tensor's values,
    which forces a device-to-host synchronisation on every call. A GPU training loop whose
    inputs are known to be sound switches them off, like ``torch.distributions``'
    ``validate_args=False``; checks of dtype, shape and ``k`` stay on (they cost nothing).
    """
    global _VALIDATE
    _VALIDATE = bool(enabled)
    _log.info("subsetgrad input validation %s", "on" if _VALIDATE else "off")


def validation_enabled() -> bool:
    """Whether :func:`set_validation` has the value checks on."""
    return _VALIDATE


@contextlib.contextmanager
def validation(enabled: bool) -> Iterator[None]:
    """Context manager: value checks on or off inside the ``with`` block only."""
    previous = _VALIDATE
    set_validation(enabled)
    try:
        yield
    finally:
        set_validation(previous)


def check_k(k: object, n: int | None = None, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"{name} must be an integer >= 1, got {k!r} ({type(k).__name__})")
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if n is not None and k > n:
        raise ValueError(
            f"{name}={k} is larger than the number of items n={n} on the last dimension; choose {name} <= {n}"
        )
    return k


def check_tau(tau: object, name: str = "tau") -> float:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)):
        raise ValueError(f"{name} must be a positive finite number, got {tau!r}")
    tau = float(tau)
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {tau}")
    return tau


def check_logits(logits: object, k: int, name: str = "logits") -> Tensor:
    """Validate a score tensor: floating point, no NaN/+inf, at least k finite per row.

    ``-inf`` marks an excluded item and is allowed.
    """
    if not isinstance(logits, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {logits.dtype}")
    if logits.dim() < 1:
        raise ValueError(f"{name} must have at least one dimension (items on the last one)")
    n = logits.shape[-1]
    check_k(k, n)
    if not _VALIDATE:
        return logits
    with torch.no_grad():
        if torch.isnan(logits).any():
            raise ValueError(f"{name} contains NaN; check the upstream model for divergence")
        if torch.isposinf(logits).any():
            raise ValueError(f"{name} contains +inf; only -inf (an excluded item) is allowed")
        if logits.numel() > 0:
            finite = torch.isfinite(logits).sum(-1)
            if (finite < k).any():
                worst = int(finite.min())
                raise ValueError(
                    f"{name} has a row with only {worst} finite entries but k={k} items "
                    f"must be selected; at most n - k items may be masked with -inf"
                )
    return logits
