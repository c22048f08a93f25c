"""The paper's relaxed top-k (Xie & Ermon 2019, Algorithm 2) on given scores.

With ``r`` = scores (logits plus Gumbel noise, added by the caller),

    a_0 = 0;  for j = 1..k:  r <- r + log(max(1 - a_{j-1}, tiny));  a_j = softmax(r / tau)

and the relaxed k-hot is ``sum_j a_j``: non-negative and sums to k. ``tiny`` is
``torch.finfo(dtype).tiny``, as in the authors' code.

The paper states (Theorem 1) that the top-k of the relaxed vector equals the
top-k of ``r``, so that it is an exact PL-WOR sample at every temperature. We
measure that this holds at moderate and large temperatures and in the limit
tau -> 0, but *not* exactly at small positive tau when scores after the first
step lie within about tau of each other: the partial masses of near-tied
items then re-order the sum (about 2.8% of samples at tau = 0.1 on the
paper's synthetic problem; see ``theorem1_agreement`` in the synthetic
results). The straight-through variant (``hard=True``) uses the exact top-k of
``r`` in its forward pass and is unaffected.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_k, check_logits, check_tau
from .gumbel import topk_khot


def _relaxed_steps(scores: Tensor, k: int, tau: float) -> Tensor:
    tiny = torch.finfo(scores.dtype).tiny
    r = scores
    a = None
    steps = []
    for _ in range(k):
        if a is not None:
            r = r + torch.log(torch.clamp(1.0 - a, min=tiny))
        a = torch.softmax(r / tau, dim=-1)
        steps.append(a)
    return torch.stack(steps, dim=-2)


def relaxed_topk_sequence(scores: Tensor, k: int, tau: float) -> Tensor:
    """Per-step relaxed one-hots ``a_1..a_k`` as a tensor ``[..., k, n]``.

    ``a_j`` relaxes the one-hot of the j-th largest score; the t-SNE loss of the
    paper uses the sequence, other tasks its sum (``relaxed_topk``).
    """
    check_logits(scores, k, name="scores")
    tau = check_tau(tau)
    return _relaxed_steps(scores, k, tau)


def relaxed_topk(scores: Tensor, k: int, tau: float, hard: bool = False) -> Tensor:
    """Relaxed k-hot ``[..., n]`` of the top-k of ``scores`` (no noise is added here).

    ``hard=True`` returns the exact k-hot of the top-k in the forward pass and the
    relaxed vector's gradient in the backward pass (straight-through).
    """
    check_logits(scores, k, name="scores")
    tau = check_tau(tau)
    soft = _relaxed_steps(scores, k, tau).sum(-2)
    if not hard:
        return soft
    hard_khot = topk_khot(scores, k)
    return hard_khot - soft.detach() + soft
