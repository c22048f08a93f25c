"""An estimator defined outside subsetgrad: straight-through with a sigmoid relaxation.

Forward: the exact k-hot of ``top-k(w + g)`` with Gumbel noise ``g``, an exact sample of the
Gumbel-top-k (Plackett-Luce without replacement) family. Backward: the gradient of
``sigmoid((w + g - t) / tau)``, where the threshold ``t`` lies halfway between the k-th and
the (k+1)-th largest perturbed score and is held fixed. Every item's score thus gets a
gradient that is largest near the decision boundary of the top-k, and the temperature
``tau`` sets how far from it gradients still reach. Biased, like every straight-through
estimator.

Run it through the benchmark with ``config/plugin.yaml`` in this folder (see its header).
"""

import torch

from subsetgrad import Estimator, SubsetSample
from subsetgrad.gumbel import sample_gumbel, topk_khot


class SigmoidStraightThrough(Estimator):
    target = "pl_wor"  # forward samples are exact Gumbel-top-k samples
    biased = True
    option_names = ("tau", "num_samples")

    def __init__(self, k: int, tau: float = 1.0, num_samples: int = 1):
        super().__init__(k, num_samples)
        if not tau > 0:
            raise ValueError(f"tau must be a positive number, got {tau!r}")
        self.tau = float(tau)

    def sample(self, logits, generator=None):
        w = self._expand(logits)
        scores = w + sample_gumbel(w.shape, dtype=w.dtype, device=w.device, generator=generator)
        hard = topk_khot(scores, self.k)
        with torch.no_grad():
            n = scores.shape[-1]
            top = scores.topk(min(self.k + 1, n), dim=-1).values
            kth = top[..., self.k - 1]
            # no (k+1)-th item (k = n) or only masked ones left: a threshold just below the k-th
            following = top[..., self.k] if self.k < n else kth - 1.0
            following = torch.where(torch.isfinite(following), following, kth - 1.0)
            threshold = (kth + following).unsqueeze(-1) / 2
        soft = torch.sigmoid((scores - threshold) / self.tau)
        return SubsetSample(khot=hard - soft.detach() + soft)

    def extra_repr(self):
        return f"{super().extra_repr()}, tau={self.tau}"
