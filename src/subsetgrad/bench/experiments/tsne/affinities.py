"""The affinities of parametric t-SNE (van der Maaten 2009).

Input space: conditional Gaussian affinities

    p_{j|i} = exp(-beta_i D_ij) / sum_{l != i} exp(-beta_i D_il),   p_{i|i} = 0,

with ``D`` the squared Euclidean distances and each precision ``beta_i`` found by
binary search so that the perplexity ``exp(H(P_i))`` (entropy in nats) equals
the target; joint ``P = (P_cond + P_cond^T) / (2 n)``.

Embedding space: Student-t affinities with ``alpha`` degrees of freedom,

    q_ij = (1 + ||y_i - y_j||^2 / alpha)^(-(alpha + 1) / 2) / sum_{k != l} (...),

and the loss ``KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from subsetgrad.bench.experiments.common import squared_distances


def mask_diagonal(matrix: Tensor, value: float = float("-inf")) -> Tensor:
    """``matrix`` with its (last two dimensions') diagonal set to ``value``."""
    n = matrix.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=matrix.device)
    return matrix.masked_fill(eye, value)


def neighbour_logits(distances: Tensor) -> Tensor:
    """Neighbour logits ``-D`` with ``-inf`` on the diagonal: a point is never its own neighbour."""
    return mask_diagonal(-distances)


def _row_statistics(shifted: Tensor, log_beta: Tensor, off_diag: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(P_cond, H, dH/dlog beta)`` per row for precisions ``exp(log_beta) [n]``.

    ``H = log Z + beta E_p[D]`` (nats) and ``dH/dlog beta = -beta^2 Var_p[D]``.
    """
    beta = log_beta.exp().unsqueeze(-1)
    logits = (-beta * shifted).masked_fill(~off_diag, float("-inf"))
    log_z = torch.logsumexp(logits, dim=-1, keepdim=True)
    p = torch.exp(logits - log_z)
    mean = (p * shifted).sum(-1, keepdim=True)
    variance = (p * (shifted - mean) ** 2).sum(-1)
    entropy = (log_z + beta * mean).squeeze(-1)
    return p, entropy, -(beta.squeeze(-1) ** 2) * variance


def conditional_affinities(
    distances: Tensor, perplexity: float, *, tol: float = 1e-6, max_iter: int = 100
) -> tuple[Tensor, Tensor]:
    """``(P_cond [n, n], beta [n])``: per-row precisions found by a safeguarded search on
    ``log beta`` (``beta = inf`` for rows set to their limit, see below).

    Every row is searched at once (rows already within tolerance stay put). The entropy ``H``
    decreases in ``beta``; each step takes Newton's step on ``H(log beta) = log(perplexity)``
    where it stays inside
    the bracket known so far (and moves by at most 2), and otherwise halves the
    bracket (or widens it by a factor e while one side is open). It stops when every
    row's entropy is within ``tol`` nats of ``log(perplexity)`` (perplexity error about
    ``perplexity * tol``) or after ``max_iter`` steps. A row whose ``m`` nearest
    points tie (e.g. duplicate documents) cannot have a perplexity below ``m``, its
    limit as ``beta -> inf``; where ``m >= perplexity`` the row is set to that limit,
    uniform over the tied nearest points, without searching. Computed in float64;
    distances are shifted by each row's smallest off-diagonal value, which leaves
    ``P`` unchanged and keeps ``exp`` finite.
    """
    n = distances.shape[-1]
    if distances.dim() != 2 or distances.shape[0] != n:
        raise ValueError(f"distances must be a square matrix, got shape {tuple(distances.shape)}")
    if not 1.0 <= perplexity <= n - 1:
        raise ValueError(
            f"perplexity must be in [1, n - 1] = [1, {n - 1}] for {n} points, "
            f"got {perplexity}; lower the perplexity or raise the batch size"
        )
    d = distances.detach().to(torch.float64)
    off_diag = ~torch.eye(n, dtype=torch.bool, device=d.device)
    row_min = d.masked_fill(~off_diag, float("inf")).min(-1, keepdim=True).values
    shifted = (d - row_min).masked_fill(~off_diag, 0.0)
    target = math.log(perplexity)
    nearest = (shifted == 0) & off_diag
    ties = nearest.sum(-1)
    unreachable = torch.log(ties.to(d.dtype)) >= target - tol
    # Start at the precision of the mean distance so most rows need few steps.
    mean_dist = shifted.sum(-1) / (n - 1)
    log_beta = -torch.log(mean_dist.clamp_min(1e-12))
    lo = torch.full_like(log_beta, -math.inf)
    hi = torch.full_like(log_beta, math.inf)
    for _ in range(max_iter):
        p, entropy, slope = _row_statistics(shifted, log_beta, off_diag)
        gap = entropy - target
        done = (gap.abs() <= tol) | unreachable
        if bool(done.all()):
            break
        too_flat = gap > 0  # entropy too high: sharpen (raise beta)
        lo = torch.where(too_flat, log_beta, lo)
        hi = torch.where(too_flat, hi, log_beta)
        both = torch.isfinite(lo) & torch.isfinite(hi)
        fallback = torch.where(both, 0.5 * (lo + hi), torch.where(too_flat, log_beta + 1.0, log_beta - 1.0))
        newton = log_beta - gap / slope.clamp(max=-1e-300)
        usable = (newton > lo) & (newton < hi) & ((newton - log_beta).abs() <= 2.0)
        log_beta = torch.where(done, log_beta, torch.where(usable, newton, fallback))
    p, _, _ = _row_statistics(shifted, log_beta, off_diag)
    limit = nearest.to(d.dtype) / ties.clamp_min(1).unsqueeze(-1).to(d.dtype)
    p = torch.where(unreachable.unsqueeze(-1), limit, p)
    beta = torch.where(unreachable, torch.full_like(log_beta, math.inf), log_beta.exp())
    return p.to(distances.dtype), beta.to(distances.dtype)


def perplexities(p_cond: Tensor) -> Tensor:
    """``exp(H(P_i))`` per row (nats), for checking the calibration."""
    logs = torch.where(p_cond > 0, p_cond.log(), torch.zeros_like(p_cond))
    return torch.exp(-(p_cond * logs).sum(-1))


def joint_affinities(distances: Tensor, perplexity: float) -> Tensor:
    """Symmetrised input affinities ``P = (P_cond + P_cond^T) / (2 n)`` (sum 1, zero diagonal)."""
    p_cond, _ = conditional_affinities(distances, perplexity)
    n = p_cond.shape[-1]
    return (p_cond + p_cond.transpose(-1, -2)) / (2.0 * n)


def student_t_log_affinities(embedding: Tensor, dof: float = 1.0) -> Tensor:
    """``log q_ij`` of the Student-t affinities; the diagonal is ``-inf``."""
    d = squared_distances(embedding)
    log_w = mask_diagonal(-0.5 * (dof + 1.0) * torch.log1p(d / dof))
    return log_w - torch.logsumexp(log_w.flatten(), dim=0)


def tsne_kl(p_joint: Tensor, embedding: Tensor, dof: float = 1.0) -> Tensor:
    """``KL(P || Q) = sum_{i != j} p_ij (log p_ij - log q_ij)`` (terms with p_ij = 0 are 0)."""
    log_q = student_t_log_affinities(embedding, dof)
    positive = p_joint > 0
    p = torch.where(positive, p_joint, torch.ones_like(p_joint))
    terms = torch.where(
        positive, p_joint * (p.log() - log_q.masked_fill(~positive, 0.0)), torch.zeros_like(p_joint)
    )
    return terms.sum()
