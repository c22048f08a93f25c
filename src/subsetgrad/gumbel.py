"""Exact sampling and likelihood for the Gumbel-top-k (PL-WOR) family.

Gumbel-top-k: adding i.i.d. Gumbel(0, 1) noise ``g = -log(-log u)`` to logits ``w``
and taking the indices of the k largest values draws an *ordered* sample from
Plackett-Luce without replacement,

    p(s_1..s_k | w) = prod_j exp(w_{s_j}) / sum_{i not in s_1..s_{j-1}} exp(w_i).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_k, check_logits


def sample_gumbel(
    shape: torch.Size | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Standard Gumbel(0, 1) noise, ``-log(-log u)`` with ``u`` clamped to ``[tiny, 1)``.

    Both minus signs matter: ``+log(-log u)`` is the negated (reverse) Gumbel and
    samples a different distribution (a bug in the paper authors' first release).
    """
    u = torch.rand(shape, dtype=dtype, device=device, generator=generator)
    tiny = torch.finfo(dtype).tiny
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(dtype).eps)
    return -torch.log(-torch.log(u))


def gumbel_topk(logits: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Exact ordered sample ``[..., k]`` of item indices from PL-WOR(logits).

    Items are on the last dimension; ``-inf`` logits are never selected.
    """
    check_logits(logits, k)
    with torch.no_grad():
        g = sample_gumbel(logits.shape, dtype=logits.dtype, device=logits.device, generator=generator)
        return torch.topk(logits.detach() + g, k, dim=-1, sorted=True).indices


def pl_log_prob(logits: Tensor, indices: Tensor) -> Tensor:
    """Log-probability ``[...]`` of ordered samples ``indices [..., k]`` under PL-WOR(logits).

    ``log p = sum_j [ w_{s_j} - logsumexp_{i not in s_<j} w_i ]``; differentiable in
    ``logits``. ``indices`` may carry extra leading dimensions that broadcast
    against ``logits``.
    """
    if indices.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"indices must be an integer tensor, got {indices.dtype}")
    k = indices.shape[-1]
    n = logits.shape[-1]
    check_k(k, n, name="indices.shape[-1]")
    batch = torch.broadcast_shapes(logits.shape[:-1], indices.shape[:-1])
    w = logits.expand(*batch, n)
    idx = indices.expand(*batch, k).long()
    chosen = torch.gather(w, -1, idx)  # [..., k]
    onehot = torch.nn.functional.one_hot(idx, n).to(torch.bool)  # [..., k, n]
    # Items drawn before step j are excluded from step j's normaliser.
    before = (onehot.cumsum(-2) - onehot.long()).to(torch.bool)
    masked = w.unsqueeze(-2).masked_fill(before, float("-inf"))
    return (chosen - torch.logsumexp(masked, dim=-1)).sum(-1)


def topk_khot(scores: Tensor, k: int) -> Tensor:
    """Deterministic k-hot ``[..., n]`` of the k largest scores (same dtype as ``scores``)."""
    check_k(k, scores.shape[-1])
    idx = torch.topk(scores.detach(), k, dim=-1).indices
    return torch.zeros_like(scores).scatter(-1, idx, 1.0)


def indices_to_khot(indices: Tensor, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """k-hot ``[..., n]`` of index sets ``[..., k]``."""
    out = torch.zeros(*indices.shape[:-1], n, dtype=dtype, device=indices.device)
    return out.scatter(-1, indices.long(), 1.0)
