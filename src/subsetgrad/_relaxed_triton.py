"""The relaxed top-k (paper Algorithm 2) as Triton kernels: one launch per pass over a batch.

The same recurrence as :mod:`subsetgrad._relaxed_kernels` (see its docstring for
the notation and the derivation of the backward)::

    r_1 = s,   r_{j+1} = r_j + log(max(1 - a_j, tiny)),   a_j = softmax(r_j / tau),

    U_{k+1} = 0,   U_j = U_{j+1} + sbw(g_j - (m_j / c_j) * U_{j+1} / tau, a_j),   dL/ds = U_1 / tau,

with ``sbw(G, a) = a * (G - <a, G>)``, ``c_j = max(1 - a_j, tiny)`` and
``m_j = [1 - a_j >= tiny]``.

One program handles one row and all k steps of it, so a row costs one launch
rather than the textbook's six kernels per step:

* **on chip** (rows up to :data:`ON_CHIP_LIMIT` items): the row's running ``r``
  and the k-hot sum stay in registers for all k steps; the scores are read
  once and each step output is written once (or not at all when only the sum
  is wanted). The backward holds ``U`` in registers and reads each saved step
  (and its incoming gradient) once.
* **tiled** (longer rows): ``r`` lives in a scratch row in memory and is swept
  tile by tile. Each step is one sweep that normalises with the statistics
  gathered on the previous sweep and, in the same sweep, gathers the running
  maximum and sum of ``exp`` of the next step's logits (online softmax
  normalisation), so a step reads and writes ``r`` once. The backward needs
  ``<a_j, G_j>`` before it can update ``U``: two sweeps per step.

The backward reads only what the fused PyTorch op saves (the k step outputs),
or with ``recompute=True`` recomputes them from the scores with the forward
kernel. Double backward (``create_graph=True``) goes through the differentiable
PyTorch backward on the saved steps.

``tau`` and ``tiny`` reach the kernels as a two-element tensor of the scores'
dtype: a Python float argument would be rounded to float32, and float64's
``tiny`` has no float32 representation.

This module imports Triton; :mod:`subsetgrad.relaxed` imports it only for CUDA
tensors and only when Triton is installed (``pip install subsetgrad[gpu]``).
Under ``TRITON_INTERPRET=1`` (set before this module is imported) the kernels
run on CPU tensors through Triton's interpreter, which is how the tests check
them without a GPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ._relaxed_kernels import _backward_differentiable
from .gumbel import topk_khot

# Longest row (items) kept in registers for all k steps. The forward holds two
# row-length vectors per program (r and the running sum); at 16 warps a row of
# 16384 float32 values is 32 registers per thread per vector.
ON_CHIP_LIMIT = {torch.float16: 16384, torch.bfloat16: 16384, torch.float32: 16384, torch.float64: 8192}
# Tile width (items) of the tiled kernels.
TILE = {torch.float16: 4096, torch.bfloat16: 4096, torch.float32: 4096, torch.float64: 2048}


def _warps(width: int) -> int:
    # about 8 items per thread for short rows, at most 16 warps
    return max(1, min(16, width // 256))


@triton.jit
def _online_update(run_max, run_sum, z):
    """Per-lane running maximum and sum of exp(z - maximum); all--inf lanes stay (-inf, 0)."""
    new_max = tl.maximum(run_max, z)
    shift = tl.where(new_max == float("-inf"), 0.0, new_max)
    run_sum = run_sum * tl.exp(run_max - shift) + tl.exp(z - shift)
    return new_max, run_sum


@triton.jit
def _online_total(run_max, run_sum):
    """Row maximum and sum of exp(z - row maximum) from the per-lane statistics."""
    row_max = tl.max(run_max, axis=0)
    total = tl.sum(run_sum * tl.exp(run_max - row_max), axis=0)
    return row_max, total


@triton.jit
def _forward_on_chip(
    scores_ptr,
    steps_ptr,
    soft_ptr,
    params_ptr,
    n,
    k,
    KEEP_STEPS: tl.constexpr,
    WANT_SUM: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    tau = tl.load(params_ptr)
    tiny = tl.load(params_ptr + 1)
    offsets = tl.arange(0, BLOCK)
    inside = offsets < n
    # padding lanes hold -inf: their softmax weight is 0 and log(1 - 0) keeps them at -inf
    r = tl.load(scores_ptr + row * n + offsets, mask=inside, other=float("-inf"))
    total = tl.zeros([BLOCK], dtype=r.dtype)
    for j in range(k):
        z = r / tau
        e = tl.exp(z - tl.max(z, axis=0))
        a = e / tl.sum(e, axis=0)
        if KEEP_STEPS:
            tl.store(steps_ptr + (row * k + j) * n + offsets, a, mask=inside)
        if WANT_SUM:
            total += a
        r = r + tl.log(tl.maximum(1.0 - a, tiny))
    if WANT_SUM:
        tl.store(soft_ptr + row * n + offsets, total, mask=inside)


@triton.jit
def _forward_tiled(
    scores_ptr,
    work_ptr,
    steps_ptr,
    soft_ptr,
    params_ptr,
    n,
    k,
    KEEP_STEPS: tl.constexpr,
    WANT_SUM: tl.constexpr,
    TILE: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    tau = tl.load(params_ptr)
    tiny = tl.load(params_ptr + 1)
    base = row * n
    offsets = tl.arange(0, TILE)
    dtype = tau.dtype
    # First sweep: copy the scores into the scratch row r and gather the statistics of z_1.
    run_max = tl.full([TILE], float("-inf"), dtype)
    run_sum = tl.zeros([TILE], dtype)
    for start in range(0, n, TILE):
        index = start + offsets
        inside = index < n
        r = tl.load(scores_ptr + base + index, mask=inside, other=float("-inf"))
        tl.store(work_ptr + base + index, r, mask=inside)
        if WANT_SUM:
            tl.store(soft_ptr + base + index, tl.zeros([TILE], dtype), mask=inside)
        run_max, run_sum = _online_update(run_max, run_sum, r / tau)
    # One sweep per step: normalise with the last sweep's statistics, update r, gather the next.
    for j in range(k):
        row_max, row_total = _online_total(run_max, run_sum)
        run_max = tl.full([TILE], float("-inf"), dtype)
        run_sum = tl.zeros([TILE], dtype)
        for start in range(0, n, TILE):
            index = start + offsets
            inside = index < n
            r = tl.load(work_ptr + base + index, mask=inside, other=float("-inf"))
            a = tl.exp(r / tau - row_max) / row_total
            if KEEP_STEPS:
                tl.store(steps_ptr + (row * k + j) * n + index, a, mask=inside)
            if WANT_SUM:
                previous = tl.load(soft_ptr + base + index, mask=inside, other=0.0)
                tl.store(soft_ptr + base + index, previous + a, mask=inside)
            r = r + tl.log(tl.maximum(1.0 - a, tiny))
            tl.store(work_ptr + base + index, r, mask=inside)
            run_max, run_sum = _online_update(run_max, run_sum, r / tau)


@triton.jit
def _step_gradient(a, g, u, tau, tiny):
    """G_j = g_j - (m_j / c_j) * U_{j+1} / tau (zero weight where the clamp is active)."""
    one_minus_a = 1.0 - a
    inverse = tl.where(one_minus_a >= tiny, 1.0 / tl.where(one_minus_a >= tiny, one_minus_a, 1.0), 0.0)
    return g - inverse * u / tau


@triton.jit
def _backward_on_chip(
    steps_ptr,
    grad_steps_ptr,
    grad_sum_ptr,
    grad_ptr,
    params_ptr,
    n,
    k,
    HAS_GRAD_STEPS: tl.constexpr,
    HAS_GRAD_SUM: tl.constexpr,
    BLOCK: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    tau = tl.load(params_ptr)
    tiny = tl.load(params_ptr + 1)
    offsets = tl.arange(0, BLOCK)
    inside = offsets < n
    u = tl.zeros([BLOCK], dtype=tau.dtype)
    if HAS_GRAD_SUM:
        shared = tl.load(grad_sum_ptr + row * n + offsets, mask=inside, other=0.0)
    for step in range(k):
        j = k - 1 - step
        a = tl.load(steps_ptr + (row * k + j) * n + offsets, mask=inside, other=0.0)
        g = tl.zeros([BLOCK], dtype=tau.dtype)
        if HAS_GRAD_STEPS:
            g += tl.load(grad_steps_ptr + (row * k + j) * n + offsets, mask=inside, other=0.0)
        if HAS_GRAD_SUM:
            g += shared
        g = _step_gradient(a, g, u, tau, tiny)
        u += a * (g - tl.sum(a * g, axis=0))
    tl.store(grad_ptr + row * n + offsets, u / tau, mask=inside)


@triton.jit
def _step_tile(
    steps_ptr, grad_steps_ptr, grad_sum_ptr, grad_ptr, step_base, base, index, inside, tau,
    HAS_GRAD_STEPS: tl.constexpr, HAS_GRAD_SUM: tl.constexpr, TILE: tl.constexpr,
):  # fmt: skip
    """One tile of a_j, the gradient g_j reaching it and U_{j+1} (the tiled backward's two sweeps)."""
    a = tl.load(steps_ptr + step_base + index, mask=inside, other=0.0)
    g = tl.zeros([TILE], dtype=tau.dtype)
    if HAS_GRAD_STEPS:
        g += tl.load(grad_steps_ptr + step_base + index, mask=inside, other=0.0)
    if HAS_GRAD_SUM:
        g += tl.load(grad_sum_ptr + base + index, mask=inside, other=0.0)
    u = tl.load(grad_ptr + base + index, mask=inside, other=0.0)
    return a, g, u


@triton.jit
def _backward_tiled(
    steps_ptr,
    grad_steps_ptr,
    grad_sum_ptr,
    grad_ptr,
    params_ptr,
    n,
    k,
    HAS_GRAD_STEPS: tl.constexpr,
    HAS_GRAD_SUM: tl.constexpr,
    TILE: tl.constexpr,
):
    # U lives in the gradient row (zero on entry), divided by tau in a last sweep.
    row = tl.program_id(0).to(tl.int64)
    tau = tl.load(params_ptr)
    tiny = tl.load(params_ptr + 1)
    base = row * n
    offsets = tl.arange(0, TILE)
    for step in range(k):
        j = k - 1 - step
        step_base = (row * k + j) * n
        # sweep 1: <a_j, G_j>
        partial = tl.zeros([TILE], dtype=tau.dtype)
        for start in range(0, n, TILE):
            index = start + offsets
            inside = index < n
            a, g, u = _step_tile(
                steps_ptr, grad_steps_ptr, grad_sum_ptr, grad_ptr, step_base, base, index, inside,
                tau, HAS_GRAD_STEPS, HAS_GRAD_SUM, TILE,
            )  # fmt: skip
            partial += a * _step_gradient(a, g, u, tau, tiny)
        dot = tl.sum(partial, axis=0)
        # sweep 2: U_j = U_{j+1} + a_j * (G_j - <a_j, G_j>)
        for start in range(0, n, TILE):
            index = start + offsets
            inside = index < n
            a, g, u = _step_tile(
                steps_ptr, grad_steps_ptr, grad_sum_ptr, grad_ptr, step_base, base, index, inside,
                tau, HAS_GRAD_STEPS, HAS_GRAD_SUM, TILE,
            )  # fmt: skip
            u += a * (_step_gradient(a, g, u, tau, tiny) - dot)
            tl.store(grad_ptr + base + index, u, mask=inside)
    for start in range(0, n, TILE):
        index = start + offsets
        inside = index < n
        u = tl.load(grad_ptr + base + index, mask=inside, other=0.0)
        tl.store(grad_ptr + base + index, u / tau, mask=inside)


def _params(like: Tensor, tau: float) -> Tensor:
    return torch.tensor([tau, torch.finfo(like.dtype).tiny], dtype=like.dtype, device=like.device)


def _on_chip(n: int, dtype: torch.dtype, on_chip_limit: int | None) -> bool:
    limit = ON_CHIP_LIMIT.get(dtype, 8192) if on_chip_limit is None else on_chip_limit
    return n <= limit


def _tile(n: int, dtype: torch.dtype, tile: int | None) -> int:
    return TILE.get(dtype, 2048) if tile is None else tile


def forward_steps(
    scores: Tensor,
    k: int,
    tau: float,
    keep_steps: bool,
    want_sum: bool,
    on_chip_limit: int | None = None,
    tile: int | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """``(steps [B, k, n] or None, soft [B, n] or None)`` of ``scores [B, n]``, no autograd."""
    scores = scores.detach().contiguous()
    rows, n = scores.shape
    steps = scores.new_empty((rows, k, n)) if keep_steps else None
    soft = scores.new_empty((rows, n)) if want_sum else None
    if rows == 0 or n == 0 or not (keep_steps or want_sum):
        return steps, soft  # (the straight-through k-hot with recompute needs no forward pass)
    params = _params(scores, tau)
    # an unused pointer argument still needs a tensor; the kernel never touches it
    steps_arg = steps if keep_steps else scores
    soft_arg = soft if want_sum else scores
    if _on_chip(n, scores.dtype, on_chip_limit):
        block = triton.next_power_of_2(n)
        _forward_on_chip[(rows,)](
            scores,
            steps_arg,
            soft_arg,
            params,
            n,
            k,
            KEEP_STEPS=keep_steps,
            WANT_SUM=want_sum,
            BLOCK=block,
            num_warps=_warps(block),
        )
    else:
        width = _tile(n, scores.dtype, tile)
        work = torch.empty_like(scores)
        _forward_tiled[(rows,)](
            scores,
            work,
            steps_arg,
            soft_arg,
            params,
            n,
            k,
            KEEP_STEPS=keep_steps,
            WANT_SUM=want_sum,
            TILE=width,
            num_warps=_warps(width),
        )
    return steps, soft


def backward_steps(
    steps: Tensor,
    grad_steps: Tensor | None,
    grad_sum: Tensor | None,
    tau: float,
    on_chip_limit: int | None = None,
    tile: int | None = None,
) -> Tensor:
    """Gradient with respect to the scores from the steps ``[B, k, n]`` and the incoming gradients."""
    rows, k, n = steps.shape
    grad = torch.zeros((rows, n), dtype=steps.dtype, device=steps.device)
    if rows == 0 or n == 0:
        return grad
    params = _params(steps, tau)
    steps = steps.contiguous()
    grad_steps = None if grad_steps is None else grad_steps.contiguous()
    grad_sum = None if grad_sum is None else grad_sum.contiguous()
    arguments = (
        steps,
        steps if grad_steps is None else grad_steps,
        steps if grad_sum is None else grad_sum,
        grad,
        params,
        n,
        k,
    )
    flags = {"HAS_GRAD_STEPS": grad_steps is not None, "HAS_GRAD_SUM": grad_sum is not None}
    if _on_chip(n, steps.dtype, on_chip_limit):
        block = triton.next_power_of_2(n)
        _backward_on_chip[(rows,)](*arguments, **flags, BLOCK=block, num_warps=_warps(block))
    else:
        width = _tile(n, steps.dtype, tile)
        _backward_tiled[(rows,)](*arguments, **flags, TILE=width, num_warps=_warps(width))
    return grad


class TritonRelaxedTopK(torch.autograd.Function):
    """Outputs ``(steps [B, k, n],)`` with ``sequence``; else ``(steps, khot [B, n])``, or ``(khot,)``
    with ``recompute``.

    ``khot`` is the relaxed k-hot, or with ``hard=True`` the exact k-hot of the
    top-k with the relaxed k-hot's gradient (straight-through). The steps are an
    output, not an intermediate, so that a double backward can differentiate
    through them (as in :class:`subsetgrad._relaxed_kernels.RelaxedTopK`).
    """

    @staticmethod
    def forward(ctx, scores, k, tau, hard, sequence, recompute, on_chip_limit, tile):
        want_sum = not sequence and not hard
        keep_steps = sequence or not recompute
        steps, soft = forward_steps(scores, k, tau, keep_steps, want_sum, on_chip_limit, tile)
        ctx.k, ctx.tau, ctx.sequence, ctx.recompute = k, tau, sequence, recompute
        ctx.on_chip_limit, ctx.tile = on_chip_limit, tile
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(scores if recompute else steps)
        if sequence:
            return (steps,)
        khot = topk_khot(scores, k) if hard else soft
        return (khot,) if recompute else (steps, khot)

    @staticmethod
    def backward(ctx, *grads):
        (saved,) = ctx.saved_tensors
        none = (None,) * 7
        if all(g is None for g in grads):
            return (None, *none)
        if ctx.sequence:
            grad_steps, grad_sum = grads[0], None
        elif ctx.recompute:
            grad_steps, grad_sum = None, grads[0]
        else:
            grad_steps, grad_sum = grads
        if ctx.recompute:
            scores = saved
            if torch.is_grad_enabled():
                (steps,) = TritonRelaxedTopK.apply(
                    scores, ctx.k, ctx.tau, False, True, False, ctx.on_chip_limit, ctx.tile
                )
            else:
                steps, _ = forward_steps(scores, ctx.k, ctx.tau, True, False, ctx.on_chip_limit, ctx.tile)
        else:
            steps = saved
        if torch.is_grad_enabled():
            step_list = list(steps.unbind(1))
            grad_list = None if grad_steps is None else list(grad_steps.unbind(1))
            grad = _backward_differentiable(step_list, grad_list, grad_sum, ctx.tau)
        else:
            grad = backward_steps(steps, grad_steps, grad_sum, ctx.tau, ctx.on_chip_limit, ctx.tile)
        return (grad, *none)


def relaxed_topk_rows(
    scores: Tensor,
    k: int,
    tau: float,
    hard: bool,
    sequence: bool,
    recompute: bool,
    on_chip_limit: int | None = None,
    tile: int | None = None,
) -> Tensor:
    """The relaxed k-hot ``[B, n]`` or (``sequence``) the steps ``[B, k, n]`` of ``scores [B, n]``.

    Inputs are assumed checked (:mod:`subsetgrad.relaxed` does it). ``on_chip_limit``
    and ``tile`` override the row length kept on chip and the tile width (tests
    use them to reach the tiled kernels with short rows).
    """
    outputs = TritonRelaxedTopK.apply(scores, k, tau, hard, sequence, recompute, on_chip_limit, tile)
    return outputs[0] if sequence or recompute else outputs[1]
