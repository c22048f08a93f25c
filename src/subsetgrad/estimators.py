"""Gradient estimators for k-subset sampling, behind one interface.

``make_estimator(name, k, **options)`` returns an :class:`Estimator` with

* ``sample(logits)`` -> :class:`SubsetSample`; ``sample.khot`` is what the
  downstream model consumes. With ``num_samples = m > 1`` samples are stacked on
  a new leading dimension: ``khot`` is ``[m, ..., n]``.
* ``surrogate(sample, loss)``: ``loss`` holds one value per sample (``khot``'s
  shape without the item dimension). Returns a scalar equal in value to the
  mean loss whose gradient, with respect to the logits and every upstream
  parameter, is the estimator's gradient estimate of the mean loss.

Each estimator documents the k-subset family it targets (``target``: ``"pl_wor"``
for Gumbel-top-k / Plackett-Luce without replacement, ``"cb"`` for the
conditional-Bernoulli exactly-k family) and whether it is biased. Estimators are
``torch.nn.Module`` so that state (REINFORCE's moving-average baseline) is saved
and restored with ``state_dict`` for exact resumption.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_tau
from ._estimator_base import (  # noqa: F401  (the interface, re-exported)
    Estimator,
    SubsetSample,
    _check_num_samples,
    available_estimators,
    estimator_class,
    make_estimator,
    register,
    takes_temperature,
)
from .gumbel import gumbel_topk, indices_to_khot, pl_log_prob, sample_gumbel
from .relaxed import relaxed_topk


class _Tempered(Estimator):
    option_names = ("tau", "num_samples")

    def __init__(self, k: int, tau: float = 1.0, num_samples: int = 1):
        super().__init__(k, num_samples)
        self.tau = check_tau(tau)

    def _noisy(self, logits: Tensor, generator) -> Tensor:
        w = self._expand(logits)
        return w + sample_gumbel(w.shape, dtype=w.dtype, device=w.device, generator=generator)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau={self.tau}"


@register("relaxed")
class RelaxedSubset(_Tempered):
    """Relaxed subset sampler of Xie & Ermon (2019), Algorithm 2. Target: PL-WOR.

    ``r = w + g`` with Gumbel noise; ``a_j = softmax((r + sum_{l<j} log(1 - a_l)) / tau)``;
    ``khot = sum_j a_j``. Reparameterised gradient of the relaxed loss ``f(khot)``:
    **biased** for the discrete objective (bias vanishes as tau -> 0 while variance
    grows), low variance.
    """

    biased = True

    def sample(self, logits, generator=None):
        return SubsetSample(khot=relaxed_topk(self._noisy(logits, generator), self.k, self.tau))


@register("straight_through")
class StraightThrough(_Tempered):
    """Straight-through relaxed subset sampler. Target: PL-WOR.

    Forward: the exact k-hot of ``top-k(w + g)`` (an exact PL-WOR sample).
    Backward: the gradient of the relaxed k-hot of ``relaxed``
    (``z_hard - z_soft.detach() + z_soft``). **Biased**.
    """

    biased = True

    def sample(self, logits, generator=None):
        r = self._noisy(logits, generator)
        return SubsetSample(khot=relaxed_topk(r, self.k, self.tau, hard=True))


@register("concrete")
class ConcreteMax(_Tempered):
    """The L2X sampler (Chen et al. 2018): k independent Concrete draws, elementwise max.
    Target: PL-WOR, only approximately (see below).

    ``c_j = softmax((w + g_j) / tau)`` for j = 1..k; ``khot = max_j c_j``. Samples
    *with* replacement, so it only approximates PL-WOR and
    ``khot`` sums to at most k. **Biased**.
    """

    biased = True
    approximate_target = True

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        g = sample_gumbel((self.k, *w.shape), dtype=w.dtype, device=w.device, generator=generator)
        draws = torch.softmax((w.unsqueeze(0) + g) / self.tau, dim=-1)
        return SubsetSample(khot=draws.max(dim=0).values)


@register("neuralsort")
class NeuralSortSubset(_Tempered):
    """Stochastic NeuralSort (Grover et al. 2019), first k rows summed. Target: PL-WOR.

    ``s = w + g``; ``A_ab = |s_a - s_b|``; row i of the relaxed permutation matrix is
    ``softmax(((n + 1 - 2i) s - A 1) / tau)``; ``khot = sum_{i<=k} P[i]``.
    O(n^2) memory per example. **Biased**. ``-inf`` items are replaced by a finite
    score far below the others (so they get no mass in the first k rows) and then
    zeroed.
    """

    biased = True

    def sample(self, logits, generator=None):
        s = self._noisy(logits, generator)
        excluded = torch.isneginf(s)
        if excluded.any():
            finite = s.masked_fill(excluded, float("inf"))
            low = finite.min(-1, keepdim=True).values
            spread = s.masked_fill(excluded, float("-inf")).max(-1, keepdim=True).values - low
            s = torch.where(excluded, (low - 10.0 * (spread + 1.0)).detach(), s)
        n = s.shape[-1]
        pairwise = (s.unsqueeze(-1) - s.unsqueeze(-2)).abs().sum(-1)  # A 1, [..., n]
        rows = torch.arange(1, self.k + 1, dtype=s.dtype, device=s.device)
        scale = (n + 1 - 2 * rows).unsqueeze(-1)  # [k, 1]
        logits_rows = (scale * s.unsqueeze(-2) - pairwise.unsqueeze(-2)) / self.tau
        khot = torch.softmax(logits_rows, dim=-1).sum(-2)
        if excluded.any():
            khot = khot.masked_fill(excluded, 0.0)
        return SubsetSample(khot=khot)


def _zero_valued(log_prob: Tensor) -> Tensor:
    """``log p - stop_grad(log p)``: zero in value, ``grad log p`` in gradient.

    Keeps the surrogate's value equal to the mean loss (useful for logging)
    without changing its gradient.
    """
    return log_prob - log_prob.detach()


class _ScoreFunction(Estimator):
    """Shared sampling for REINFORCE-type estimators: an exact ordered PL-WOR sample."""

    biased = False

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        indices = gumbel_topk(w, self.k, generator=generator)
        khot = indices_to_khot(indices, w.shape[-1], dtype=w.dtype)
        return SubsetSample(khot=khot, indices=indices, log_prob=pl_log_prob(w, indices))


@register("reinforce")
class Reinforce(_ScoreFunction):
    """Score-function estimator with a moving-average baseline. Target: PL-WOR. **Unbiased**.

    ``surrogate = f(z) + (f(z) - b).detach() * log p(s)`` for the ordered sample s
    (valid because f depends only on the set, whose law is the marginal of the
    ordered one). ``b`` is an exponential moving average of past mean losses with
    decay ``baseline_decay``, updated after use, so it never depends on the current
    sample (first step: b = 0).
    """

    option_names = ("num_samples", "baseline_decay")

    def __init__(self, k: int, num_samples: int = 1, baseline_decay: float = 0.9):
        super().__init__(k, num_samples)
        if (
            isinstance(baseline_decay, bool)
            or not isinstance(baseline_decay, (int, float))
            or not 0.0 <= float(baseline_decay) < 1.0
        ):
            raise ValueError(f"baseline_decay must be a number in [0, 1), got {baseline_decay!r}")
        self.baseline_decay = float(baseline_decay)
        self.register_buffer("baseline", torch.zeros((), dtype=torch.float64))
        self.register_buffer("baseline_steps", torch.zeros((), dtype=torch.long))

    def surrogate(self, sample, loss):
        self._check_loss(sample, loss)
        b = self.baseline.to(loss.dtype)
        out = (loss + (loss - b).detach() * _zero_valued(sample.log_prob)).mean()
        with torch.no_grad():
            mean = loss.detach().mean().to(torch.float64)
            if self.baseline_steps == 0:
                self.baseline.copy_(mean)
            else:
                d = self.baseline_decay
                self.baseline.mul_(d).add_((1.0 - d) * mean)
            self.baseline_steps += 1
        return out


@register("reinforce_loo")
class ReinforceLeaveOneOut(_ScoreFunction):
    """REINFORCE with m >= 2 samples and the leave-one-out baseline. Target: PL-WOR. **Unbiased**.

    ``b_i = sum_{j != i} f_j / (m - 1)``;
    ``surrogate = mean_i [ f_i + (f_i - b_i).detach() * log p(s_i) ]``.
    Samples are on a new leading dimension of size ``num_samples`` (default 4).
    """

    def __init__(self, k: int, num_samples: int = 4):
        super().__init__(k, _check_num_samples(num_samples, minimum=2))

    def surrogate(self, sample, loss):
        self._check_loss(sample, loss)
        m = loss.shape[0]
        baseline = (loss.sum(0, keepdim=True) - loss) / (m - 1)
        return (loss + (loss - baseline).detach() * _zero_valued(sample.log_prob)).mean()


__all__ = [
    "ConcreteMax",
    "NeuralSortSubset",
    "Reinforce",
    "ReinforceLeaveOneOut",
    "RelaxedSubset",
    "StraightThrough",
]
