"""Shared training-loop machinery: checkpoints that resume bit-for-bit, a NaN guard,
and progress bars.

A training job may be killed at any moment (SIGKILL, a cluster pre-emption). Every
epoch ends with an atomic checkpoint of the model, optimiser, estimator state,
history and *all* random-number-generator states, so that a rerun continues
exactly where the last checkpoint left off and, on CPU, produces bitwise the same
final result as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from subsetgrad.bench.io import torch_save


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


def _rng_state(generators: dict[str, torch.Generator]) -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generators: dict[str, torch.Generator]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    for name, g in generators.items():
        g.set_state(state["generators"][name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingRun:
    """Checkpointed epochs for one training job.

    ``stateful``: objects with ``state_dict``/``load_state_dict`` (models,
    optimisers, estimators, schedulers). ``generators``: every ``torch.Generator``
    the loop draws from. ``context``: what identifies the run in error messages
    (estimator, tau, seed, ...). ``fingerprint``: anything JSON-serialisable that fixes
    the run's result (e.g. the task's config section); a checkpoint written under
    another fingerprint is not resumed, so a changed config never continues a stale run.
    """

    def __init__(
        self,
        checkpoint_path: str | Path,
        stateful: dict,
        generators: dict | None = None,
        context: dict | None = None,
        fingerprint=None,
    ):
        self.path = Path(checkpoint_path)
        self.stateful = stateful
        self.generators = generators or {}
        self.context = context or {}
        self.fingerprint = (
            None if fingerprint is None else json.dumps(fingerprint, sort_keys=True, default=str)
        )
        self.history: list[dict] = []
        self.start_epoch = 0
        self.resumed = False

    def resume(self) -> int:
        """Load the last checkpoint if there is one; return the first epoch to run."""
        if not self.path.exists():
            return 0
        checkpoint = torch.load(self.path, map_location="cpu", weights_only=False)
        if checkpoint.get("fingerprint") != self.fingerprint:
            print(
                f"not resuming from {self.path}: it was written under another configuration; starting afresh",
                file=sys.stderr,
            )
            return 0
        for name, obj in self.stateful.items():
            obj.load_state_dict(checkpoint["state"][name])
        _restore_rng(checkpoint["rng"], self.generators)
        self.history = checkpoint["history"]
        self.start_epoch = checkpoint["epoch"] + 1
        self.resumed = True
        print(f"resumed from {self.path} at epoch {self.start_epoch}", file=sys.stderr)
        return self.start_epoch

    def epochs(self, total: int, desc: str = "epochs", progress: bool = True) -> Iterator[int]:
        """Epoch indices from the resume point, with a tqdm bar unless ``progress`` is off."""
        from tqdm import tqdm

        if self.start_epoch > total:
            raise RuntimeError(
                f"the checkpoint {self.path} is at epoch {self.start_epoch - 1}, beyond the "
                f"{total} epochs now configured; delete it to train again with this setting"
            )

        yield from tqdm(
            range(self.start_epoch, total),
            initial=self.start_epoch,
            total=total,
            desc=desc,
            file=sys.stderr,
            mininterval=1.0,
            disable=not progress,
        )

    def check_finite(self, loss: torch.Tensor, epoch: int, step: int) -> None:
        """Stop with a clear error on a NaN/inf loss, before it reaches the weights."""
        value = float(loss.detach())
        if not math.isfinite(value):
            where = ", ".join(f"{k}={v}" for k, v in self.context.items())
            if self.history:
                kept = f"the last good checkpoint (epoch {self.history[-1]['epoch']}) is kept at {self.path}"
            else:
                kept = "no checkpoint was written yet"
            raise NonFiniteLossError(
                f"loss became {value} at epoch {epoch}, step {step} ({where}); {kept}. "
                f"Try a larger temperature or a smaller learning rate."
            )

    def end_epoch(self, epoch: int, record: dict) -> None:
        """Append ``record`` to the history and checkpoint atomically."""
        self.history.append({"epoch": epoch, **record})
        torch_save(
            {
                "epoch": epoch,
                "state": {name: obj.state_dict() for name, obj in self.stateful.items()},
                "rng": _rng_state(self.generators),
                "history": self.history,
                "context": self.context,
                "fingerprint": self.fingerprint,
            },
            self.path,
        )
