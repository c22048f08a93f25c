"""Adam and RMSprop in a few lines, for short training jobs.

Why not ``torch.optim``: constructing any ``torch.optim`` optimiser imports
``torch._dynamo`` (about 0.9 s of CPU per process, as long as importing torch itself).
The default profile runs some 90 short L2X jobs, each a fresh process, and that import
alone would cost more than their training. The updates are the textbook ones
(``tests/test_l2x.py`` checks them against ``torch.optim``):

* Adam (Kingma & Ba 2015): ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
  ``p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``;
* RMSprop (Keras's form, the L2X code's optimiser): ``v = rho v + (1 - rho) g^2``,
  ``p -= lr * g / (sqrt(v) + eps)`` with Keras's defaults ``rho = 0.9``, ``eps = 1e-7``;
* ``keras_adam``: Adam as Keras 2.2.4 computes it (the optimiser of the authors' word-level
  black box and sentence-level explainer): ``eps = 1e-7`` is added to ``sqrt(v)`` *before*
  the bias correction, ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``,
  i.e. PyTorch's form with ``eps / sqrt(1 - b2^t)`` in place of ``eps``.

Both offer ``zero_grad``, ``step`` and ``state_dict``/``load_state_dict`` (for
:class:`subsetgrad.training.TrainingRun`).
"""
from __future__ import annotations

import math

import torch


class _Optimizer:
    def __init__(self, params, lr: float):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("the optimiser got no trainable parameters")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {lr!r}")
        self.lr = float(lr)
        self.steps = 0
        self.buffers: dict[str, list[torch.Tensor]] = {}

    def _buffer(self, name: str) -> list[torch.Tensor]:
        if name not in self.buffers:
            self.buffers[name] = [torch.zeros_like(p) for p in self.params]
        return self.buffers[name]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        return {"steps": self.steps, "lr": self.lr,
                "buffers": {name: [b.clone() for b in bufs] for name, bufs in self.buffers.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.steps, self.lr = state["steps"], state["lr"]
        self.buffers = {name: [b.to(p.device).clone() for b, p in zip(bufs, self.params)]
                        for name, bufs in state["buffers"].items()}


class Adam(_Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 eps_before_correction: bool = False):
        super().__init__(params, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.eps_before_correction = eps_before_correction

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        correction1 = 1 - self.beta1 ** self.steps
        correction2 = 1 - self.beta2 ** self.steps
        eps = self.eps / math.sqrt(correction2) if self.eps_before_correction else self.eps
        for p, m, v in zip(self.params, self._buffer("exp_avg"), self._buffer("exp_avg_sq")):
            if p.grad is None:
                continue
            m.mul_(self.beta1).add_(p.grad, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            denom = (v / correction2).sqrt_().add_(eps)
            p.addcdiv_(m, denom, value=-self.lr / correction1)


class RMSprop(_Optimizer):
    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-7):
        super().__init__(params, lr)
        self.rho, self.eps = rho, eps

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for p, v in zip(self.params, self._buffer("square_avg")):
            if p.grad is None:
                continue
            v.mul_(self.rho).addcmul_(p.grad, p.grad, value=1 - self.rho)
            p.addcdiv_(p.grad, v.sqrt().add_(self.eps), value=-self.lr)


class KerasAdam(Adam):
    """Keras 2.2.4's ``Adam()`` defaults: ``eps = 1e-7`` on the uncorrected ``sqrt(v)``."""

    def __init__(self, params, lr: float = 1e-3):
        super().__init__(params, lr, eps=1e-7, eps_before_correction=True)


OPTIMIZERS = {"adam": Adam, "keras_adam": KerasAdam, "rmsprop": RMSprop}


def make_optimizer(name: str, params, lr: float) -> _Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr=lr)
