"""Fused forward and hand-written backward of the relaxed top-k (paper Algorithm 2).

Notation (rows of ``n`` items; ``tiny = finfo(dtype).tiny``)::

    r_1 = s,   r_{j+1} = r_j + log(c_j),   c_j = clamp(1 - a_j, min=tiny),
    a_j = softmax(z_j),   z_j = r_j / tau,   j = 1..k.

Forward. The textbook loop's operations on contiguous rows, except that
``log(clamp(1 - a, tiny))`` is computed as ``max(log1p(-a), log(tiny))``: the
same function (the clamp acts only where ``a == 1``, see Saturation), more
accurate (``1 - a`` rounds away the low bits of a small ``a`` before the
logarithm sees it; ``log1p`` keeps them) and cheaper (on CPU ``torch.log1p``
costs about 0.6 of ``torch.log``, the largest single cost of the forward). The
step outputs therefore equal the textbook loop's to rounding, not bit for bit;
the tests hold them closer to a float64 evaluation than the textbook loop's
float32 steps are. Otherwise: nothing is recorded by autograd, the
intermediates of step j are written into the buffer of its output
(``log(c_{j-1})``, then ``z_j``, then, by an in-place softmax, ``a_j``) and into
one reused buffer for ``r``, rows are processed in cache-sized blocks (all k
steps of a block, then the next block), and the sum ``sum_j a_j`` is
accumulated step by step.

Backward. Only the k step outputs are needed. With ``g_j`` the gradient
reaching ``a_j`` from the outputs and ``sbw(G, a) = a * (G - <a, G>)`` the
softmax backward (``torch._softmax_backward_data``), autograd on the loop computes

    dL/dr_{k+1} = 0
    G_j        = g_j - m_j * dL/dr_{j+1} / c_j        (the log-clamp term; m_j below)
    dL/dr_j    = dL/dr_{j+1} + sbw(G_j, a_j) / tau
    dL/ds      = dL/dr_1

where ``m_j = [1 - a_j >= tiny]`` is torch.clamp's gradient convention (gradient
passes where the input is at or above ``min``, zero where clamped). We carry
``U_j = tau * dL/dr_j``, which leaves one division by ``tau`` in all instead of
one per step:

    U_j = U_{j+1} + sbw(g_j - (m_j / c_j) * U_{j+1} / tau, a_j),   dL/ds = U_1 / tau,

and the bracket is a single fused ``addcdiv`` (``addcmul`` where masked).

The mask without boolean tensors (slow on CPU): ``1 - a`` of a float ``a`` is
either ``<= 0`` (``a >= 1``) or at least ``ulp(1) / 2`` (for ``a`` in [1/2, 1)
the subtraction is exact and a multiple of ``ulp(a)``), far above ``tiny``. So
``m = [a < 1] = clamp((1 - a) / tiny, 0, 1)`` exactly, and ``m / c`` is ``0``
where the clamp is active: never ``inf * 0``, which is what would turn the
textbook's ``where``-based clamp gradient into NaN in a naive product.

Saturation. The clamp acts only where ``a_j == 1`` (softmax outputs never exceed
1, and below 1 ``1 - a_j >= ulp(1) / 2 > tiny``), where ``log1p(-a_j)`` is
``-inf`` and the clamp makes it ``log(tiny)`` as in the textbook loop. On CPU the
forward checks ``max(a_j) < 1`` (one read-only reduction over a tensor still in
the cache, in place of the clamp's read and write) and skips the clamp where it
is the identity; it records which steps
saturated, and the backward uses the unmasked form (``m_j = 1``,
``c_j = 1 - a_j``) for the others without reading the steps again to find out.
On accelerators the check would cost a host synchronisation, so the forward
always clamps and the backward always uses the masked form.

Memory. The steps are saved as k separate ``[B, n]`` tensors (k times the
scores; the textbook loop saves about 3k - 2 score-sized tensors). One
``[k, B, n]`` block would be as large, but above glibc's allocation reuse
threshold at large n, so it would be page-faulted in afresh on every call.
``RecomputedRelaxedTopK`` saves only the scores and runs the forward again in
the backward.

Double backward. The backward uses only differentiable operations of the
gradients and of the steps, which are *outputs* of :class:`RelaxedTopK`, so
with ``create_graph=True`` autograd records it and differentiates it again
through the same function. The mask is piecewise constant and is computed from
detached steps (its derivative is zero, as for the comparison inside
torch.clamp's backward). The recompute variant recomputes the steps through
:class:`RelaxedTopK` in that case so that they are connected to the scores.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .gumbel import topk_khot

# Rows are processed in blocks of about this many elements, all k steps of a
# block before the next block, so that the working set of the step loop (the
# running r, the previous and the current step output, the running sum) stays in the per-core cache instead of
# streaming score-sized tensors through memory once per operation.
# Measured on a 2-core AMD EPYC (benchmarks/bench_relaxed_topk.py): 2^17..2^18
# elements is fastest at n = 10000; much smaller blocks lose to per-operation
# overhead; below the block size (e.g. 100 x 1000) there is a single block.
BLOCK_ELEMENTS = 1 << 18


def _row_blocks(rows: int, n: int) -> list[slice]:
    per_block = max(1, BLOCK_ELEMENTS // max(n, 1))
    blocks = [slice(start, min(start + per_block, rows)) for start in range(0, rows, per_block)]
    return blocks or [slice(0, 0)]


def _rows(tensors: list[Tensor], block: slice, whole: bool) -> list[Tensor]:
    return tensors if whole else [t[block] for t in tensors]


def _softmax_in_place(like: Tensor) -> bool:
    # The CPU softmax kernels (forward and backward) finish reading a row before they write
    # it, so input and output may be one buffer (the value and gradient tests check
    # it); other devices' kernels make no such promise, so there they get separate buffers.
    return like.device.type == "cpu"


def _checks_saturation(like: Tensor) -> bool:
    # Is any a_j == 1? Asking costs a host synchronisation on an accelerator, so there
    # the clamp and the masked backward always run.
    return like.device.type == "cpu"


def _one(like: Tensor) -> Tensor:
    # A same-dtype scalar tensor: ``torch.sub(one, a, out=...)`` is the textbook's
    # ``1.0 - a`` (same rounding) written into a reused buffer, without the dtype
    # promotion and copy that a Python-number first operand causes.
    return torch.ones((), dtype=like.dtype, device=like.device)


def forward_steps(
    scores: Tensor, k: int, tau: float, keep_steps: bool, want_sum: bool = True
) -> tuple[list[Tensor] | None, Tensor | None, list[bool] | None]:
    """Run Algorithm 2 without autograd on ``scores [B, n]``.

    Returns ``(steps, soft, saturated)``: the k step outputs ``a_j [B, n]`` (``None``
    unless ``keep_steps``), their sum (``None`` unless ``want_sum``), and for
    j = 1..k-1 whether some ``a_j == 1`` (the clamp acted on it; ``None`` where the
    device is not checked, see the module doc). The steps are
    separate tensors rather than one ``[k, B, n]`` block: a block that large
    exceeds the allocator's reuse threshold and is page-faulted in afresh on every
    call. Intermediates live in the step's output buffer and one reused block-sized buffer.
    """
    log_tiny = math.log(torch.finfo(scores.dtype).tiny)
    with torch.no_grad():
        scores = scores.contiguous()
        rows, n = scores.shape
        steps = [torch.empty_like(scores) for _ in range(k)] if keep_steps else None
        soft = torch.empty_like(scores) if want_sum else None
        blocks = _row_blocks(rows, n)
        width = blocks[0].stop - blocks[0].start
        r_buf = scores.new_empty((width, n))
        a_buf = None if keep_steps else scores.new_empty((width, n))
        in_place = _softmax_in_place(scores)
        z_buf = None if in_place else scores.new_empty((width, n))
        check = _checks_saturation(scores) and scores.numel() > 0
        saturated = [False] * (k - 1) if check else None  # a_k is never clamped
        # float32/64: a 0-d tensor of the scores' dtype divides with the same rounding as
        # the Python number (converted to that dtype) without wrapping it on every call;
        # half precision divides by the unrounded number, so it keeps the Python number
        tau_t = tau
        if scores.dtype in (torch.float32, torch.float64):
            tau_t = torch.full((), tau, dtype=scores.dtype, device=scores.device)
        whole = len(blocks) == 1
        for block in blocks:
            size = block.stop - block.start
            s = scores if whole else scores[block]
            r = r_buf[:size]
            outs = _rows(steps, block, whole) if keep_steps else [a_buf[:size]] * k
            total = None if soft is None else (soft if whole else soft[block])
            a = None  # the previous step's output a_{j-1}, first set at j = 0
            for j in range(k):
                # The step's output buffer holds log(c_{j-1}), then z = r / tau,
                # then (softmax in place) a_j: two buffers fewer in the cache than one each.
                z = outs[j] if in_place else z_buf[:size]
                if j == 0:
                    torch.div(s, tau_t, out=z)
                else:
                    # r <- r + log(clamp(1 - a, tiny)) = r + max(log1p(-a), log(tiny)); the clamp
                    # is the identity unless a == 1 (asked before z, which may be a's buffer, is written)
                    clamp = not check or a.max().item() >= 1
                    torch.neg(a, out=z)
                    z.log1p_()
                    if clamp:
                        z.clamp_(min=log_tiny)
                        if check:
                            saturated[j - 1] = True
                    if j == 1:
                        torch.add(s, z, out=r)
                    else:
                        r.add_(z)
                    torch.div(r, tau_t, out=z)
                a = torch._softmax(z, -1, False, out=outs[j])
                if total is not None:
                    if keep_steps and k > 1:  # a_1 is kept: the sum starts as a_1 + a_2, no copy
                        if j == 1:
                            torch.add(outs[0], a, out=total)
                        elif j > 1:
                            total.add_(a)
                    elif j == 0:
                        total.copy_(a)
                    else:
                        total.add_(a)
    return steps, soft, saturated


def backward_steps(
    steps: list[Tensor],
    grad_steps: list[Tensor | None] | None,
    grad_sum: Tensor | None,
    tau: float,
    saturated: list[bool] | None = None,
) -> Tensor:
    """Gradient with respect to the scores, given the step outputs ``a_j [B, n]``.

    ``grad_steps[j]`` is the gradient reaching step output j and ``grad_sum`` the
    one reaching their sum (any may be ``None``; not all). ``saturated`` is what
    :func:`forward_steps` returned for these steps (``None``: not known, the masked
    form for every step). When grad mode is on
    (``create_graph=True``), only out-of-place differentiable operations are used
    so that autograd can differentiate this function again; otherwise results go
    into reused buffers, block of rows by block of rows.
    """
    if torch.is_grad_enabled():
        return _backward_differentiable(steps, grad_steps, grad_sum, tau)
    k = len(steps)
    tiny = torch.finfo(steps[0].dtype).tiny
    one = _one(steps[0])
    rows, n = steps[0].shape
    if rows == 0:
        return torch.zeros_like(steps[0])
    if grad_steps is not None and all(g is None for g in grad_steps):
        grad_steps = None
    grad_scores = torch.empty_like(steps[0])
    blocks = _row_blocks(rows, n)
    width = blocks[0].stop - blocks[0].start
    in_place = _softmax_in_place(steps[0])
    buffers = [steps[0].new_empty((width, n)) for _ in range(3 if in_place else 4)]
    whole = len(blocks) == 1
    for block in blocks:
        size = block.stop - block.start
        # ``work`` holds 1 - a_j, then G_j (written over its own divisor), then, by an
        # in-place softmax backward, the step's term: one buffer in the cache, not three
        work, g, inverse = (b[:size] for b in buffers[:3])
        term = work if in_place else buffers[3][:size]
        grad_r = grad_scores if whole else grad_scores[block]  # U_{j+1} = tau * dL/dr_{j+1}, in place
        a_rows = _rows(steps, block, whole)
        g_rows = (
            None
            if grad_steps is None
            else [None if t is None else (t if whole else t[block]) for t in grad_steps]
        )
        g_shared = None if grad_sum is None else (grad_sum if whole else grad_sum[block])
        for j in range(k - 1, -1, -1):
            a = a_rows[j]
            g_step = None if g_rows is None else g_rows[j]
            if g_step is None:
                g_j = g_shared
            elif g_shared is None:
                g_j = g_step
            else:
                g_j = torch.add(g_step, g_shared, out=g)
            if j < k - 1:
                torch.sub(one, a, out=work)
                if saturated is not None and not saturated[j]:  # the clamp is inactive in this step
                    g_j = torch.addcdiv(g_j, grad_r, work, value=-1.0 / tau, out=work)
                else:
                    # m / clamp(1 - a, tiny) with m = clamp((1 - a) / tiny, 0, 1): see the module doc
                    torch.mul(work, 1.0 / tiny, out=inverse).clamp_(0.0, 1.0)
                    inverse.div_(work.clamp_(min=tiny))
                    g_j = torch.addcmul(g_j, grad_r, inverse, value=-1.0 / tau, out=work)
                torch._softmax_backward_data(g_j, a, -1, a.dtype, grad_input=term)
                grad_r.add_(term)
            else:
                torch._softmax_backward_data(g_j, a, -1, a.dtype, grad_input=grad_r)
    return grad_scores.div_(tau)


def _backward_differentiable(
    steps: list[Tensor], grad_steps: list[Tensor | None] | None, grad_sum: Tensor | None, tau: float
) -> Tensor:
    """:func:`backward_steps` with out-of-place differentiable operations (double backward)."""
    k = len(steps)
    tiny = torch.finfo(steps[0].dtype).tiny
    grad_r = None
    for j in range(k - 1, -1, -1):
        a = steps[j]
        terms = [t for t in (None if grad_steps is None else grad_steps[j], grad_sum) if t is not None]
        g = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        if grad_r is not None:
            with torch.no_grad():  # the mask is piecewise constant: no derivative
                mask = torch.rsub(a.detach(), 1.0).mul_(1.0 / tiny).clamp_(0.0, 1.0)
            inverse = mask / torch.rsub(a, 1.0).clamp(min=tiny)
            g = torch.addcmul(g, grad_r, inverse, value=-1.0 / tau)
        step_grad = torch._softmax_backward_data(g, a, -1, a.dtype)
        grad_r = step_grad if grad_r is None else grad_r + step_grad
    return grad_r / tau


class RelaxedTopK(torch.autograd.Function):
    """Outputs ``(a_1, ..., a_k, khot)`` (``sequence=False``) or ``(a_1, ..., a_k)``.

    Saves only the step outputs for the backward. ``khot`` is the relaxed k-hot
    ``sum_j a_j``, or with ``hard=True`` the exact k-hot of the top-k of the
    scores with the gradient of the relaxed k-hot (straight-through). The steps
    are outputs (not intermediates) so that a double backward can differentiate
    through them.
    """

    @staticmethod
    def forward(ctx, scores: Tensor, k: int, tau: float, hard: bool, sequence: bool):
        want_sum = not sequence and not hard
        steps, soft, ctx.saturated = forward_steps(scores, k, tau, keep_steps=True, want_sum=want_sum)
        ctx.tau, ctx.k = tau, k
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*steps)
        if sequence:
            return tuple(steps)
        return (*steps, topk_khot(scores, k) if hard else soft)

    @staticmethod
    def backward(ctx, *grads):
        steps = list(ctx.saved_tensors)
        grad_steps, grad_sum = list(grads[: ctx.k]), (grads[ctx.k] if len(grads) > ctx.k else None)
        if grad_sum is None and all(g is None for g in grad_steps):
            return None, None, None, None, None
        return backward_steps(steps, grad_steps, grad_sum, ctx.tau, ctx.saturated), None, None, None, None


class RecomputedRelaxedTopK(torch.autograd.Function):
    """As :class:`RelaxedTopK` but saves only the scores; the backward recomputes the steps.

    Outputs the k-hot (``sequence=False``) or the steps ``(a_1, ..., a_k)``.
    """

    @staticmethod
    def forward(ctx, scores: Tensor, k: int, tau: float, hard: bool, sequence: bool):
        want_sum = not sequence and not hard
        steps, soft, _ = forward_steps(scores, k, tau, keep_steps=sequence, want_sum=want_sum)
        ctx.k, ctx.tau, ctx.sequence = k, tau, sequence
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(scores)
        if sequence:
            return tuple(steps)
        return topk_khot(scores, k) if hard else soft

    @staticmethod
    def backward(ctx, *grads):
        (scores,) = ctx.saved_tensors
        if all(g is None for g in grads):
            return None, None, None, None, None
        if torch.is_grad_enabled():
            # Double backward: recompute through the saving function so that the
            # recomputed steps are connected to the scores in the graph.
            steps, saturated = list(RelaxedTopK.apply(scores, ctx.k, ctx.tau, False, True)), None
        else:
            steps, _, saturated = forward_steps(scores, ctx.k, ctx.tau, keep_steps=True, want_sum=False)
        if ctx.sequence:
            grad = backward_steps(steps, list(grads), None, ctx.tau, saturated)
        else:
            grad = backward_steps(steps, None, grads[0], ctx.tau, saturated)
        return grad, None, None, None, None
