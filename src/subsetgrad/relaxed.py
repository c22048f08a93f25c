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

Implementation: a fused autograd function (``_relaxed_kernels``) whose forward
performs the loop above with the logarithm taken as ``log1p(-a)`` (more accurate
than ``log(1 - a)`` for small ``a``, and cheaper; the outputs equal the textbook
autograd loop's to rounding) and whose hand-written backward needs only the k
step outputs ``a_j`` (k times the size of the scores) instead of the ~3k
score-sized tensors that autograd saves for the loop. ``recompute=True`` saves
only the scores and recomputes the steps in the backward (one more forward
pass). Double backward (``create_graph=True``) is supported in both modes. On
CUDA tensors, when Triton is installed (``pip install subsetgrad[gpu]``), the
same function runs as Triton kernels (``_relaxed_triton``: one launch per batch
and pass, each row's k steps on chip); everywhere else the fused PyTorch op
runs. Measurements: benchmarks/bench_relaxed_topk.py.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_k, check_logits, check_tau
from ._relaxed_kernels import RecomputedRelaxedTopK, RelaxedTopK

_TRITON_STATE: dict[str, object] = {}


def _triton_kernels():
    """The Triton module, or ``None`` where Triton is not installed (imported once, on first use)."""
    if "module" not in _TRITON_STATE:
        try:
            from . import _relaxed_triton
        except ImportError:
            _relaxed_triton = None
        _TRITON_STATE["module"] = _relaxed_triton
    return _TRITON_STATE["module"]


def _use_triton(scores: Tensor) -> bool:
    """Triton kernels for CUDA tensors when Triton is installed; the fused PyTorch op otherwise."""
    return scores.device.type == "cuda" and _triton_kernels() is not None


def _check_scores(scores: object, k: object) -> Tensor:
    """``check_logits`` (same errors and messages) with a fast path for valid input.

    ``check_logits`` makes several boolean passes over the scores, which cost about
    a tenth of the fused op at n = 1000 on CPU. Valid scores pass here with one
    ``aminmax`` reduction (NaN propagates into both results, +inf shows in the
    max) and, only when some score is ``-inf``, one count of the ``-inf`` per row.
    Anything suspicious is handed to ``check_logits``, which raises the message.
    """
    if not (isinstance(scores, Tensor) and scores.is_floating_point() and scores.dim() >= 1):
        return check_logits(scores, k, name="scores")
    n = scores.shape[-1]
    check_k(k, n)
    if scores.numel() == 0:
        return scores
    with torch.no_grad():
        low, high = torch.aminmax(scores)
        suspicious = not bool(high < float("inf"))
        if not suspicious and not bool(low > float("-inf")):
            suspicious = bool((torch.isneginf(scores).sum(-1) > n - k).any())
    if suspicious:
        check_logits(scores, k, name="scores")
    return scores


def _flatten(scores: Tensor) -> Tensor:
    return scores.reshape(-1, scores.shape[-1])


def relaxed_topk_sequence(scores: Tensor, k: int, tau: float, *, recompute: bool = False) -> Tensor:
    """Per-step relaxed one-hots ``a_1..a_k`` as a tensor ``[..., k, n]``.

    ``a_j`` relaxes the one-hot of the j-th largest score; the t-SNE loss of the
    paper uses the sequence, other tasks its sum (``relaxed_topk``).
    ``recompute=True`` saves only ``scores`` for the backward instead of the k step
    outputs; it saves memory when the caller keeps only a reduction of the output
    (e.g. a ``gather`` of one item per step), not when the output itself is kept.
    """
    _check_scores(scores, k)
    tau = check_tau(tau)
    flat = _flatten(scores)
    if _use_triton(flat):
        steps = _triton_kernels().relaxed_topk_rows(flat, k, tau, False, True, bool(recompute))
        return steps.reshape(*scores.shape[:-1], k, scores.shape[-1])
    function = RecomputedRelaxedTopK if recompute else RelaxedTopK
    steps = function.apply(flat, k, tau, False, True)
    return torch.stack(steps, dim=-2).reshape(*scores.shape[:-1], k, scores.shape[-1])


def relaxed_topk(
    scores: Tensor, k: int, tau: float, hard: bool = False, *, recompute: bool = False
) -> Tensor:
    """Relaxed k-hot ``[..., n]`` of the top-k of ``scores`` (no noise is added here).

    ``hard=True`` returns the exact k-hot of the top-k in the forward pass and the
    relaxed vector's gradient in the backward pass (straight-through).
    ``recompute=True`` saves only ``scores`` for the backward instead of the k step
    outputs (k times less memory between forward and backward, one more forward
    pass of compute in the backward).
    """
    _check_scores(scores, k)
    tau = check_tau(tau)
    flat = _flatten(scores)
    if _use_triton(flat):
        khot = _triton_kernels().relaxed_topk_rows(flat, k, tau, bool(hard), False, bool(recompute))
    elif recompute:
        khot = RecomputedRelaxedTopK.apply(flat, k, tau, bool(hard), False)
    else:
        khot = RelaxedTopK.apply(flat, k, tau, bool(hard), False)[-1]
    return khot.reshape(scores.shape)
