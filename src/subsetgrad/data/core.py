"""Prepared-dataset format, registry, save and load."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..io import atomic_path, write_json

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A data file is missing, corrupt or malformed; the message says what to do."""


@dataclass
class Dataset:
    """Arrays by name (``x_train``, ``y_train``, ...) and a JSON-serialisable ``meta``."""

    name: str
    arrays: dict[str, np.ndarray]
    meta: dict = field(default_factory=dict)

    def x(self, split: str) -> np.ndarray:
        return self.arrays[f"x_{split}"]

    def y(self, split: str) -> np.ndarray:
        return self.arrays[f"y_{split}"]

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    def describe(self) -> dict:
        """Shapes, dtypes and class counts: the sidecar's summary."""
        out = {"shapes": {k: list(v.shape) for k, v in self.arrays.items()},
               "dtypes": {k: str(v.dtype) for k, v in self.arrays.items()}}
        counts = {}
        for split in SPLITS:
            key = f"y_{split}"
            if key in self.arrays and np.issubdtype(self.arrays[key].dtype, np.integer):
                counts[split] = np.bincount(self.arrays[key]).tolist()
        out["class_counts"] = counts
        return out


@dataclass
class DatasetSpec:
    """How to obtain a builtin dataset.

    ``prepare(raw_dir, split_seed, **options) -> Dataset``; ``files`` maps official
    file names to ``(url, checksum_algorithm, checksum)`` for downloaded datasets
    (empty for embedded ones).
    """

    name: str
    prepare: Callable[..., Dataset]
    description: str
    files: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    kind: str = "image"  # image | tabular | text | sequence

    @property
    def embedded(self) -> bool:
        return not self.files


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in DATASETS:
        raise RuntimeError(f"dataset {spec.name!r} registered twice")
    DATASETS[spec.name] = spec
    return spec


def prepare_dataset(name: str, raw_dir: str | Path, split_seed: int = 0, **options) -> Dataset:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; builtin datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[name].prepare(Path(raw_dir), split_seed, **options)


def save_dataset(dataset: Dataset, npz_path: str | Path) -> None:
    """Write ``<name>.npz`` and its ``.json`` sidecar atomically."""
    npz_path = Path(npz_path)
    with atomic_path(npz_path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **dataset.arrays)
    write_json(npz_path.with_suffix(".json"), {"name": dataset.name, **dataset.meta, **dataset.describe()})


def load_dataset(npz_path: str | Path) -> Dataset:
    npz_path = Path(npz_path)
    if not npz_path.exists():
        raise DataError(f"prepared dataset {npz_path} does not exist; run the workflow's "
                        f"prepare rule for it (snakemake {npz_path})")
    with np.load(npz_path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    sidecar = npz_path.with_suffix(".json")
    meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    missing = [f"{a}_{s}" for s in SPLITS for a in "xy" if f"{a}_{s}" not in arrays]
    if missing:
        raise DataError(f"prepared dataset {npz_path} lacks arrays {missing}; delete it and "
                        f"let the workflow prepare it again")
    return Dataset(meta.get("name", npz_path.stem), arrays, meta)


def stratified_split(y: np.ndarray, fractions: tuple[float, float, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of a stratified train/val/test split, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    parts = {s: [] for s in SPLITS}
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test:n_test + n_val])
        parts["train"].append(idx[n_test + n_val:])
    return {s: np.sort(np.concatenate(v)) for s, v in parts.items()}
