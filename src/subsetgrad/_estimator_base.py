"""The estimator interface and its registry (see :mod:`subsetgrad.estimators`).

Estimator families register their classes here with :func:`register`; the package's
``__init__`` imports every family, so the registry is complete once ``subsetgrad`` is
imported, and no family module imports another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from ._checks import check_k, check_logits

_REGISTRY: dict[str, type[Estimator]] = {}


def register(name: str) -> Callable[[type[Estimator]], type[Estimator]]:
    """Class decorator adding an estimator to ``make_estimator``'s registry."""

    def deco(cls: type[Estimator]) -> type[Estimator]:
        if name in _REGISTRY:
            raise RuntimeError(f"estimator {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


#: Loaders run once, the first time the registry is consulted, after the builtins are
#: registered: :mod:`subsetgrad.plugins` adds the one that registers the estimators of
#: installed packages (entry points), so that this module imports no other.
_PENDING_LOADERS: list[Callable[[], None]] = []


def _load_entry_points_once() -> None:
    while _PENDING_LOADERS:
        _PENDING_LOADERS.pop(0)()


def available_estimators() -> list[str]:
    """Names accepted by :func:`make_estimator`, sorted: the builtins and the plug-ins
    (:mod:`subsetgrad.plugins`) registered or installed as entry points."""
    _load_entry_points_once()
    return sorted(_REGISTRY)


def estimator_class(name: str) -> type[Estimator]:
    """The class registered as ``name`` (its ``target``, ``biased`` and ``option_names``)."""
    _load_entry_points_once()
    if name not in _REGISTRY:
        raise ValueError(f"unknown estimator {name!r}; choose one of {', '.join(available_estimators())}")
    return _REGISTRY[name]


def takes_temperature(name: str) -> bool:
    """Whether the estimator ``name`` has a temperature option ``tau``.

    Estimators without one (REINFORCE, REINFORCE-LOO, SIMPLE) run once where others sweep
    a temperature grid.
    """
    return "tau" in estimator_class(name).option_names


def make_estimator(name: str, k: int, **options) -> Estimator:
    """Build the estimator ``name`` for subsets of size ``k``; options are validated."""
    cls = estimator_class(name)
    unknown = set(options) - set(cls.option_names)
    if unknown:
        allowed = ", ".join(sorted(cls.option_names)) or "(none)"
        raise ValueError(
            f"estimator {name!r} does not take option(s) {', '.join(sorted(unknown))}; allowed: {allowed}"
        )
    return cls(check_k(k), **options)


@dataclass
class SubsetSample:
    """One draw (or ``num_samples`` draws) of a k-subset.

    ``khot``: ``[..., n]`` (or ``[m, ..., n]``), what the downstream model uses.
    ``indices``: ordered sample ``[..., k]`` where the estimator draws one.
    ``log_prob``: log-probability of ``indices`` (score-function estimators).
    """

    khot: Tensor
    indices: Tensor | None = None
    log_prob: Tensor | None = None
    extras: dict = field(default_factory=dict)


def _check_num_samples(value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"num_samples must be an integer >= {minimum}, got {value!r}")
    return value


class Estimator(nn.Module):
    """Base class. Subclasses set ``target``, ``biased`` and ``option_names``, and
    ``approximate_target`` where the forward sample only approximates the ``target``
    family (:func:`subsetgrad.testing.check_estimator` then measures the distance instead
    of testing it)."""

    name: ClassVar[str] = ""
    target: ClassVar[str] = "pl_wor"
    biased: ClassVar[bool] = True
    approximate_target: ClassVar[bool] = False
    option_names: ClassVar[tuple[str, ...]] = ("num_samples",)

    def __init__(self, k: int, num_samples: int = 1):
        super().__init__()
        self.k = k
        self.num_samples = _check_num_samples(num_samples)

    def _expand(self, logits: Tensor) -> Tensor:
        check_logits(logits, self.k)
        if self.num_samples > 1:
            return logits.unsqueeze(0).expand(self.num_samples, *logits.shape)
        return logits

    def sample(self, logits: Tensor, generator: torch.Generator | None = None) -> SubsetSample:
        raise NotImplementedError

    def forward(self, logits: Tensor, generator: torch.Generator | None = None) -> SubsetSample:
        """Calling an estimator samples: ``estimator(logits)`` is ``estimator.sample(logits)``."""
        return self.sample(logits, generator=generator)

    def surrogate(self, sample: SubsetSample, loss: Tensor) -> Tensor:
        """Pathwise estimators: the gradient flows through ``khot`` into ``loss``."""
        self._check_loss(sample, loss)
        return loss.mean()

    @staticmethod
    def _check_loss(sample: SubsetSample, loss: Tensor) -> None:
        expected = sample.khot.shape[:-1]
        if loss.shape != expected:
            raise ValueError(
                f"loss must have one value per sample, shape {tuple(expected)} "
                f"(khot's shape without the item dimension); got {tuple(loss.shape)}"
            )

    def extra_repr(self) -> str:
        return f"k={self.k}, num_samples={self.num_samples}"
