"""Exact k-subset distributions by enumeration, for tests and the estimator study.

``subset_probs`` gives the unordered-subset probabilities of the Gumbel-top-k /
PL-WOR family. Summing the ordered probability over all k! orderings of every
subset costs C(n, k) k!; instead we use that the probability that the first j
draws form the set T (in any order) obeys

    f(T) = sum_{i in T} f(T minus i) * exp(w_i) / sum_{l not in T minus i} exp(w_l),

a recursion over subsets of size <= k (sum_j C(n, j) j terms), computed in log
space and fully differentiable in the logits.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from ._checks import check_k

#: Largest number of subsets C(n, k) that ``subset_probs`` will enumerate.
MAX_SUBSETS = 200_000


def _check_enumerable(n: int, k: int) -> None:
    check_k(k, n)
    count = math.comb(n, k)
    if count > MAX_SUBSETS:
        raise ValueError(
            f"C(n={n}, k={k}) = {count} subsets is more than MAX_SUBSETS={MAX_SUBSETS}; "
            f"exact enumeration is meant for small problems (n up to about 16)"
        )


def subset_probs(logits: Tensor, k: int) -> tuple[list[tuple[int, ...]], Tensor]:
    """Every unordered k-subset with its exact probability under PL-WOR(logits).

    Returns ``(subsets, probs)``: ``subsets`` lists index tuples in
    ``itertools.combinations(range(n), k)`` order and ``probs`` has shape
    ``[..., C(n, k)]``. Differentiable in ``logits``. Subsets containing a ``-inf``
    item have probability 0. Raises ``ValueError`` when C(n, k) > ``MAX_SUBSETS``.
    """
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise ValueError("logits must be a floating-point torch.Tensor")
    n = logits.shape[-1]
    _check_enumerable(n, k)
    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ValueError("logits contain NaN or +inf; only -inf (excluded item) is allowed")
    neg_inf = float("-inf")
    w = logits
    batch = w.shape[:-1]

    prev_sets: list[tuple[int, ...]] = [()]
    prev_log_f = torch.zeros(*batch, 1, dtype=w.dtype, device=w.device)
    for size in range(1, k + 1):
        # log of the normaliser remaining after the parent set was drawn
        parent_mask = torch.zeros(len(prev_sets), n, dtype=torch.bool, device=w.device)
        for p, s in enumerate(prev_sets):
            parent_mask[p, list(s)] = True
        rest = torch.logsumexp(w.unsqueeze(-2).masked_fill(parent_mask, neg_inf), dim=-1)
        # an all -inf remainder only occurs with -inf items, whose term is masked below
        rest = torch.where(torch.isinf(rest), torch.zeros_like(rest), rest)

        sets = list(itertools.combinations(range(n), size))
        position = {s: p for p, s in enumerate(prev_sets)}
        parent_idx = torch.tensor(
            [[position[s[:j] + s[j + 1 :]] for j in range(size)] for s in sets],
            device=w.device,
        )  # [C, size]
        item_idx = torch.tensor(sets, device=w.device)  # [C, size]
        w_item = w[..., item_idx]  # [..., C, size]
        terms = prev_log_f[..., parent_idx] + w_item - rest[..., parent_idx]
        terms = torch.where(torch.isneginf(w_item), torch.full_like(terms, neg_inf), terms)
        prev_log_f = torch.logsumexp(terms, dim=-1)
        prev_sets = sets
    return prev_sets, prev_log_f.exp()


def expected_loss(probs: Tensor, subsets: list[tuple[int, ...]], loss_fn, n: int) -> Tensor:
    """Exact ``E[f(z)]`` given subset probabilities ``[..., C]``.

    ``loss_fn`` maps a k-hot tensor ``[C, n]`` (one row per subset) to losses ``[C]``
    (or ``[..., C]`` broadcasting with ``probs``).
    """
    khot = torch.zeros(len(subsets), n, dtype=probs.dtype, device=probs.device)
    for c, s in enumerate(subsets):
        khot[c, list(s)] = 1.0
    return (probs * loss_fn(khot)).sum(-1)
