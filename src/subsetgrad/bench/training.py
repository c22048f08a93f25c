"""Shared training-loop machinery: checkpoints that resume bit-for-bit, a NaN guard,
and progress bars.

A training job may be killed at any moment (SIGKILL, a cluster pre-emption). Every
epoch ends with an atomic checkpoint of the model, optimiser, estimator state,
history and *all* random-number-generator states, so that a rerun continues
exactly where the last checkpoint left off and, on CPU, produces bitwise the same
final result as an uninterrupted run.

Checkpoints are plain data (tensors, containers, numbers: no pickled objects) stored with
a checksum (:mod:`subsetgrad.bench.checkpoints`); a resume reads the newest valid one of
the last two and reports any it has to skip.
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

from subsetgrad.bench.checkpoints import load_checkpoint, save_checkpoint


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left in place."""


def _numpy_state() -> tuple:
    """numpy's global generator state as plain data (a checkpoint holds no numpy objects)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)


def _set_numpy_state(state) -> None:
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def _plain(value):
    """``value`` with numpy scalars and arrays made Python numbers and tensors, so that a
    checkpoint loads with ``weights_only=True``."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def _rng_state(generators: dict[str, torch.Generator]) -> dict:
    state = {
        "python": random.getstate(),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
        "generators": {name: g.get_state() for name, g in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict, generators: dict[str, torch.Generator]) -> None:
    random.setstate(state["python"])
    _set_numpy_state(state["numpy"])
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
        """Load the newest valid checkpoint if there is one; return the first epoch to run.

        Invalid checkpoint files (unreadable, truncated, corrupted, not plain data) are
        reported by path and skipped; with none left the run starts from scratch."""
        found = load_checkpoint(self.path)
        if found is None:
            return 0
        checkpoint, source = found
        if not isinstance(checkpoint, dict) or checkpoint.get("fingerprint") != self.fingerprint:
            print(
                f"not resuming from {source}: it was written under another configuration; starting afresh",
                file=sys.stderr,
            )
            return 0
        try:
            for name, obj in self.stateful.items():
                obj.load_state_dict(checkpoint["state"][name])
            _restore_rng(checkpoint["rng"], self.generators)
            history, start_epoch = list(checkpoint["history"]), int(checkpoint["epoch"]) + 1
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise RuntimeError(
                f"the checkpoint {source} passed its checksum but does not fit this run ({err}); "
                f"delete {self.path} and its previous copy to train afresh"
            ) from err
        self.history, self.start_epoch = history, start_epoch
        self.resumed = True
        print(f"resumed from {source} at epoch {self.start_epoch}", file=sys.stderr)
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
        save_checkpoint(
            _plain(
                {
                    "epoch": epoch,
                    "state": {name: obj.state_dict() for name, obj in self.stateful.items()},
                    "rng": _rng_state(self.generators),
                    "history": self.history,
                    "context": self.context,
                    "fingerprint": self.fingerprint,
                }
            ),
            self.path,
        )
