"""The conditional-Bernoulli (exactly-k) family of k-subset distributions.

For logits ``w`` in R^n and k-hot ``z`` (``sum z = k``),

    p(z | w) = exp(w . z) / Z_k(w),    Z_k(w) = sum_{|S| = k} exp(sum_{i in S} w_i).

This is the family targeted by SIMPLE (Ahmed et al. 2023) and I-MLE (Niepert et
al. 2021); it differs from the Gumbel-top-k / PL-WOR family of
:mod:`subsetgrad.gumbel` except for k = 1.

The normaliser follows from the O(nk) recursion over prefixes of the items,

    F[i][j] = log sum over j-subsets of items 1..i of exp(sum w)
            = logsumexp(F[i-1][j], F[i-1][j-1] + w_i),   F[0][0] = 0, F[0][j>0] = -inf,

so that ``log Z_k = F[n][k]``. The same recursion over suffixes (``B[i][j]`` over
items i..n) gives the inclusion marginals

    mu_i = P(z_i = 1) = sum_j exp(F[i-1][j-1] + w_i + B[i+1][k-j] - log Z_k) = d log Z_k / d w_i,

and an exact sample by walking the prefix table backwards: for i = n..1 with j
items still to pick, item i is taken with probability
``exp(w_i + F[i-1][j-1] - F[i][j])`` (and then j -= 1).

Everything is in log space, batched over leading dimensions, and differentiable;
``-inf`` logits mark excluded items (marginal 0, never sampled).
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from ._checks import check_logits
from .exact import _check_enumerable

_NEG_INF = float("-inf")


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """``log(exp a + exp b)`` whose gradient stays finite (zero) where both are ``-inf``.

    ``torch.logaddexp`` returns the right value there but a NaN gradient, which the
    recursion hits for every unreachable table entry (more picks than items so far).
    """
    m = torch.maximum(a, b)
    reachable = torch.isfinite(m)
    shift = torch.where(reachable, m, torch.zeros_like(m)).detach()
    total = torch.exp(a - shift) + torch.exp(b - shift)  # >= 1 where reachable
    safe_total = torch.where(reachable, total, torch.ones_like(total))
    return torch.where(reachable, shift + torch.log(safe_total), torch.full_like(m, _NEG_INF))


def _prefix_table(w: Tensor, k: int) -> Tensor:
    """``F[..., i, j]`` for i = 0..n, j = 0..k (see the module docstring)."""
    batch, n = w.shape[:-1], w.shape[-1]
    row = torch.full((*batch, k + 1), _NEG_INF, dtype=w.dtype, device=w.device)
    row[..., 0] = 0.0
    rows = [row]
    for i in range(n):
        # column 0 (the empty set) stays 0; column j adds item i to a (j-1)-subset or not
        picked = row[..., :-1] + w[..., i : i + 1]
        row = torch.cat([row[..., :1], _logaddexp(row[..., 1:], picked)], dim=-1)
        rows.append(row)
    return torch.stack(rows, dim=-2)


def cb_log_normalizer(logits: Tensor, k: int) -> Tensor:
    """``log Z_k(w)``, shape ``logits.shape[:-1]``; differentiable (its gradient is :func:`cb_marginals`)."""
    check_logits(logits, k)
    return _prefix_table(logits, k)[..., -1, k]


def cb_marginals(logits: Tensor, k: int) -> Tensor:
    """Inclusion probabilities ``mu = d log Z_k / d w``, shape ``logits.shape``; ``sum mu = k``.

    Computed from the prefix and suffix tables (no double backward), so ``mu`` is
    itself differentiable in ``logits`` (SIMPLE back-propagates through it).
    """
    check_logits(logits, k)
    prefix = _prefix_table(logits, k)  # [..., n+1, k+1]; row i covers items < i (0-based)
    suffix = _prefix_table(logits.flip(-1), k).flip(-2)  # row i covers items >= i
    log_z = prefix[..., -1, k]
    # item i (0-based): (j-1) picks among items < i, itself, (k-j) picks among items > i
    before = prefix[..., :-1, :k]  # [..., n, k]: j-1 = 0..k-1
    after = suffix[..., 1:, :k].flip(-1)  # [..., n, k]: k-j = k-1..0
    terms = before + after + logits.unsqueeze(-1) - log_z[..., None, None]
    return torch.exp(terms).sum(-1)


def cb_log_prob(logits: Tensor, khot: Tensor, k: int) -> Tensor:
    """``log p(z | w) = w . z - log Z_k(w)`` for k-hot ``z`` (broadcast over leading dims)."""
    w = logits.expand(*torch.broadcast_shapes(logits.shape, khot.shape))
    chosen = torch.where(khot > 0, w, torch.zeros_like(w)).sum(-1)
    return chosen - cb_log_normalizer(logits, k)


def cb_sample(logits: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Exact k-hot sample ``[..., n]`` from CB(logits, k), in the dtype of ``logits``.

    Walks the prefix table backwards (see the module docstring). The table is built
    in float64 whatever the input dtype so that a forced choice (probability 1) is
    never missed by rounding; no gradient flows (use :func:`cb_marginals`).
    """
    check_logits(logits, k)
    with torch.no_grad():
        w = logits.detach().to(torch.float64)
        table = _prefix_table(w, k)
        n = w.shape[-1]
        uniforms = torch.rand(w.shape, dtype=torch.float64, device=w.device, generator=generator)
        remaining = torch.full(w.shape[:-1], k, dtype=torch.long, device=w.device)
        khot = torch.zeros_like(w)
        for i in range(n, 0, -1):
            at = remaining.unsqueeze(-1)
            log_total = table[..., i, :].gather(-1, at).squeeze(-1)
            log_skip = table[..., i - 1, :].gather(-1, at).squeeze(-1)
            # P(skip item i) = exp(F[i-1][j] - F[i][j]); it is exactly 0 when item i is forced
            # (F[i-1][j] = -inf) and exactly 1 when j = 0 or w_i = -inf
            take = (uniforms[..., i - 1] >= torch.exp(log_skip - log_total)) & (remaining > 0)
            khot[..., i - 1] = take.to(khot.dtype)
            remaining = remaining - take.long()
        return khot.to(logits.dtype)


def cb_subset_probs(logits: Tensor, k: int) -> tuple[list[tuple[int, ...]], Tensor]:
    """Every k-subset with its exact CB probability, by enumeration.

    Same convention as :func:`subsetgrad.subset_probs`: ``subsets`` in
    ``itertools.combinations(range(n), k)`` order, ``probs`` of shape
    ``[..., C(n, k)]``, differentiable in ``logits``; subsets containing a ``-inf``
    item have probability 0. Raises ``ValueError`` when C(n, k) > ``MAX_SUBSETS``.
    """
    check_logits(logits, k)
    n = logits.shape[-1]
    _check_enumerable(n, k)
    subsets = list(itertools.combinations(range(n), k))
    members = torch.tensor(subsets, device=logits.device)  # [C, k]
    scores = logits[..., members].sum(-1)  # [..., C]
    return subsets, torch.softmax(scores, dim=-1)


__all__ = ["cb_log_normalizer", "cb_log_prob", "cb_marginals", "cb_sample", "cb_subset_probs"]
