"""Estimators that target the conditional-Bernoulli (exactly-k) family.

Registered in :func:`subsetgrad.make_estimator` when ``subsetgrad`` is imported. See
:mod:`subsetgrad.cb` for the family itself.

Kool, van Hoof & Welling's unordered-set estimator (ICLR 2020) is not here: it
estimates the gradient of an expectation over *one* categorical draw from a
sample of k distinct items, not the gradient of an expectation over k-subsets
``E_S[f(S)]`` with a set-valued loss, which is what this interface estimates.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from ._checks import check_tau
from ._estimator_base import Estimator, SubsetSample, register
from .cb import cb_marginals, cb_sample
from .gumbel import topk_khot


@register("simple")
class Simple(Estimator):
    """SIMPLE (Ahmed et al., ICLR 2023). Target: CB (conditional Bernoulli). **Biased**.

    Forward: an exact sample ``z ~ CB(w, k)`` (:func:`subsetgrad.cb.cb_sample`).
    Backward: the exact marginals ``mu(w) = d log Z_k / d w`` stand in for ``z``,
    ``khot = z - stop_grad(mu) + mu``, so the estimate is
    ``(d mu / d w)^T grad_z f(z)``. For a loss linear in z this equals the exact
    gradient ``(d mu / d w)^T c`` of ``E[c . z]`` (no variance); otherwise it is
    biased, because ``grad_z f`` is taken at the sample rather than averaged
    against the score. No temperature.
    """

    target = "cb"
    biased = True

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        z = cb_sample(w, self.k, generator=generator)
        marginals = cb_marginals(w, self.k)
        return SubsetSample(khot=z - marginals.detach() + marginals, extras={"marginals": marginals})


def sample_sum_of_gamma(
    shape: torch.Size | tuple[int, ...],
    k: int,
    *,
    terms: int = 10,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sum-of-Gamma noise of Niepert et al. (2021, Sec. 5), at temperature 1.

    ``eps = (1 / k) * (sum_{i=1}^{s} Gamma(shape = 1/k, scale = k/i) - log s)`` with
    ``s = terms`` (10 in the paper). Summing k such variables gives (as s -> inf)
    a Gumbel variable, so top-k of ``w + eps`` perturbs each of the k picks like
    Gumbel-max does for one.

    ``torch`` draws Gamma variates only from the global generator; when
    ``generator`` is given, a seed is drawn from it and the global generator is
    used inside :func:`torch.random.fork_rng`, so the result is reproducible from
    ``generator`` and the global state is left untouched.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    concentration = torch.full((), 1.0 / k, dtype=dtype, device=device)

    def draw() -> Tensor:
        total = torch.zeros(shape, dtype=dtype, device=device)
        for i in range(1, terms + 1):
            rate = torch.full((), i / k, dtype=dtype, device=device)
            total = total + torch.distributions.Gamma(concentration, rate).sample(shape)
        return (total - math.log(terms)) / k

    if generator is None:
        return draw()
    seed = int(torch.randint(0, 2**62, (), generator=generator, device=generator.device))
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return draw()


class _PerturbAndMapTopK(torch.autograd.Function):
    """Forward ``topk_khot(w + eps)``; backward the I-MLE difference of MAP states."""

    @staticmethod
    def forward(ctx, logits: Tensor, noise: Tensor, k: int, lambda_: float) -> Tensor:
        khot = topk_khot(logits + noise, k)
        ctx.save_for_backward(logits, noise, khot)
        ctx.k, ctx.lambda_ = k, lambda_
        return khot

    @staticmethod
    def backward(ctx, grad_khot: Tensor):
        logits, noise, khot = ctx.saved_tensors
        # the target distribution theta' = theta - lambda dL/dz, perturbed with the same noise
        target = logits - ctx.lambda_ * grad_khot
        target_khot = topk_khot(target + noise, ctx.k)
        return (khot - target_khot) / ctx.lambda_, None, None, None


@register("imle")
class ImplicitMLE(Estimator):
    """I-MLE (Niepert, Minervini & Franceschi, NeurIPS 2021). Target: CB, approximately. **Biased**.

    Forward: perturb-and-MAP ``z = topk_khot(w + tau * eps)`` with Sum-of-Gamma
    noise ``eps`` (:func:`sample_sum_of_gamma`, s = 10 terms; ``tau`` is the
    paper's noise temperature, default 1). Perturb-and-MAP only approximates a
    sample of the exactly-k family ``p(z) ~ exp(w . z)``, whose maximum-likelihood
    gradient I-MLE imitates.
    Backward, for incoming ``dL/dz``: the target ``w' = w - lambda * dL/dz``, its
    MAP state with the same noise ``z' = topk_khot(w' + tau * eps)``, and
    ``dL/dw := (z - z') / lambda``. Biased for every lambda: small lambda gives
    sparse, high-variance finite differences (``z' = z`` for most samples), large
    lambda smooths more. ``lambda_`` is its temperature-like knob
    (``temperature_option``), default 10.
    """

    target = "cb"
    biased = True
    approximate_target = True  # perturb-and-MAP is not an exact CB sampler
    option_names = ("lambda_", "tau", "num_samples")
    #: The option the estimator study sweeps as this estimator's temperature.
    temperature_option: ClassVar[str] = "lambda_"

    def __init__(self, k: int, lambda_: float = 10.0, tau: float = 1.0, num_samples: int = 1):
        super().__init__(k, num_samples)
        self.lambda_ = check_tau(lambda_, name="lambda_")
        self.tau = check_tau(tau)

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        noise = self.tau * sample_sum_of_gamma(
            w.shape, self.k, dtype=w.dtype, device=w.device, generator=generator
        )
        return SubsetSample(khot=_PerturbAndMapTopK.apply(w, noise, self.k, self.lambda_))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, lambda_={self.lambda_}, tau={self.tau}"


__all__ = ["ImplicitMLE", "Simple", "sample_sum_of_gamma"]
