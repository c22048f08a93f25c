"""Datasets that ship with the installed packages: no download, used by the default profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subsetgrad.bench.data.core import Dataset, DatasetSpec, register_dataset, stratified_split


def _prepare_digits(raw_dir: Path, split_seed: int, fractions=(0.6, 0.2, 0.2)) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # [N, 1, 8, 8] in [0, 1]
    y = bunch.target.astype(np.int64)
    split = stratified_split(y, tuple(fractions), split_seed)
    arrays = {}
    for name, idx in split.items():
        arrays[f"x_{name}"] = x[idx]
        arrays[f"y_{name}"] = y[idx]
    meta = {
        "source": "sklearn.datasets.load_digits (bundled with scikit-learn)",
        "split_seed": split_seed,
        "split_fractions": list(fractions),
        "num_classes": 10,
    }
    return Dataset("digits", arrays, meta)


register_dataset(
    DatasetSpec(
        name="digits",
        prepare=_prepare_digits,
        description="scikit-learn's 8x8 digits (1,797 images), stratified 60/20/20 split",
        kind="image",
    )
)
