"""Device choice, seeding and thread limits for every experiment."""

from __future__ import annotations

import random

import numpy as np
import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cpu``/``cuda`` are honoured."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {requested!r} was requested but CUDA is not available; "
            f"set device: auto or device: cpu in the config"
        )
    return torch.device(requested)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def set_threads(threads: int | None) -> None:
    """Limit torch's intra-op threads to the job's share of the cores.

    Snakemake runs several jobs at once; each must use only its ``threads`` so
    that parallel jobs do not oversubscribe the machine.
    """
    if threads is not None and threads >= 1:
        torch.set_num_threads(int(threads))
