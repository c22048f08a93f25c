"""Training objectives of the t-SNE task, one per method, each on a batch of points.

Every objective sees a batch ``x [B, dim]`` and its embedding ``y [B, d]`` and
returns a scalar whose gradient trains the network. Neighbours are always other
points of the same batch; a point is never its own neighbour (``-inf`` logits on
the diagonal).

* ``subset_sequence`` (the paper, Sec. 4.3): sample the ordered neighbour
  sequence ``s_1..s_k`` of each point in input space by Gumbel-top-k on
  ``-D_x`` (no gradient); in embedding space draw the relaxed sequence
  ``a_1..a_k`` on ``-D_y + g`` (library :func:`subsetgrad.relaxed_topk_sequence`,
  temperature ``tau``); loss ``sum_j -log(a_j[s_j] + 1e-8) * exp(-(j - 1))``
  (``j = 1..k``, the authors' weights ``1, e^-1, e^-2, ...``), averaged over points.
* ``ptsne`` (van der Maaten 2009): ``KL(P || Q)`` with perplexity-calibrated
  Gaussian ``P`` and Student-t ``Q`` (see :mod:`.affinities`).
* any estimator name (shared objective): the expected overlap between the
  k-subset ``z`` sampled in embedding space, ``z ~ p(. | -D_y)`` drawn by the
  estimator, and the input-space neighbour set ``S_x`` drawn by Gumbel-top-k on
  ``-D_x``; loss per sample ``-(z * 1[S_x]).sum()``, trained through the
  estimator's ``surrogate``. Every estimator sees exactly the same objective.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from subsetgrad import takes_temperature
from subsetgrad.bench.experiments.common import build_estimator, squared_distances
from subsetgrad.bench.experiments.tsne.affinities import joint_affinities, neighbour_logits, tsne_kl
from subsetgrad.gumbel import gumbel_topk, indices_to_khot, sample_gumbel
from subsetgrad.relaxed import relaxed_topk_sequence

#: Task methods that are not estimators; every other method name is an estimator.
SUBSET_SEQUENCE = "subset_sequence"
PTSNE = "ptsne"
TASK_METHODS = (SUBSET_SEQUENCE, PTSNE)

#: Smoothing inside the log of the paper's loss (the authors' value).
LOG_SMOOTHING = 1e-8


class SubsetSequenceObjective(nn.Module):
    """The paper's loss on neighbour sub-sequences (see the module docstring)."""

    def __init__(self, k: int, tau: float):
        super().__init__()
        self.k, self.tau = k, tau
        self.register_buffer(
            "step_weights", torch.exp(-torch.arange(k, dtype=torch.float64)), persistent=False
        )

    def forward(self, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        input_logits = neighbour_logits(squared_distances(x))
        sequence = gumbel_topk(input_logits, self.k, generator=generator)  # [B, k], no gradient
        logits = neighbour_logits(squared_distances(y))
        scores = logits + sample_gumbel(
            logits.shape, dtype=logits.dtype, device=logits.device, generator=generator
        )
        steps = relaxed_topk_sequence(scores, self.k, self.tau)  # [B, k, B]
        picked = steps.gather(-1, sequence.unsqueeze(-1)).squeeze(-1)  # a_j[s_j], [B, k]
        weights = self.step_weights.to(picked.dtype)
        return (-torch.log(picked + LOG_SMOOTHING) * weights).sum(-1).mean()


class ParametricTSNEObjective(nn.Module):
    """``KL(P || Q)`` of parametric t-SNE on the batch."""

    def __init__(self, perplexity: float, dof: float):
        super().__init__()
        self.perplexity, self.dof = perplexity, dof

    def forward(self, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        with torch.no_grad():
            p = joint_affinities(squared_distances(x), self.perplexity)
        return tsne_kl(p, y, self.dof)


class SharedOverlapObjective(nn.Module):
    """Negative expected overlap of embedding-space and input-space neighbour k-subsets."""

    def __init__(self, estimator: nn.Module, k: int):
        super().__init__()
        self.estimator, self.k = estimator, k

    def forward(self, x: Tensor, y: Tensor, generator: torch.Generator) -> Tensor:
        input_logits = neighbour_logits(squared_distances(x))
        input_set = gumbel_topk(input_logits, self.k, generator=generator)
        input_khot = indices_to_khot(input_set, input_logits.shape[-1], dtype=y.dtype)  # [B, B]
        sample = self.estimator.sample(neighbour_logits(squared_distances(y)), generator=generator)
        loss_per_sample = -(sample.khot * input_khot).sum(-1)  # broadcasts over m samples
        return self.estimator.surrogate(sample, loss_per_sample)


def method_tau(method: str, task: dict) -> float | None:
    """Temperature a method trains with (``None`` where it takes none)."""
    if method == SUBSET_SEQUENCE:
        return float(task["tau"])
    if method == PTSNE:
        return None
    return float(task["estimator_tau"]) if takes_temperature(method) else None


def method_k(method: str, task: dict) -> int | None:
    """Subset size a method uses (``None`` for parametric t-SNE)."""
    if method == SUBSET_SEQUENCE:
        return task["k"]
    if method == PTSNE:
        return None
    return task["overlap_k"]


def make_objective(method: str, task: dict) -> nn.Module:
    """Objective of ``method`` from the task config (``k``, ``overlap_k``, ``tau``,
    ``estimator_tau``, ``perplexity``, ``degrees_of_freedom``)."""
    if method == SUBSET_SEQUENCE:
        return SubsetSequenceObjective(task["k"], float(task["tau"]))
    if method == PTSNE:
        return ParametricTSNEObjective(float(task["perplexity"]), float(task["degrees_of_freedom"]))
    estimator = build_estimator(method, task["overlap_k"], method_tau(method, task))
    return SharedOverlapObjective(estimator, task["overlap_k"])
