"""Prepared-dataset format, registry, save and load."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from subsetgrad.bench.io import atomic_path, write_json

SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """A data file is missing, corrupt or malformed; the message says what to do."""


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def read_npz_arrays(path: str | Path, fix: str) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, read without unpickling and only after its
    declared sizes are checked: a file that is not a zip, truncated or damaged, holds object
    arrays, or declares more data than it can hold (a zip bomb) raises :class:`DataError`
    naming ``path`` and the problem; ``fix`` says what to do about it."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = sum(m.file_size for m in members)
            if declared > _memory_bytes():
                raise DataError(
                    f"{path}: its members declare {declared:,} bytes uncompressed, more than "
                    f"this machine's memory; it is damaged or a zip bomb; {fix}"
                )
            for member in members:
                # deflate cannot shrink data more than about 1032:1, and a stored member is
                # its own size: a member declaring more was forged (a zip bomb's trick)
                possible = (
                    member.compress_size
                    if member.compress_type == zipfile.ZIP_STORED
                    else 1100 * member.compress_size + 1024
                )
                if (
                    member.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
                    and member.file_size > possible
                ):
                    raise DataError(
                        f"{path}: member {member.filename!r} declares {member.file_size:,} "
                        f"bytes from {member.compress_size:,} compressed, more than its "
                        f"compression allows; it is damaged or a zip bomb; {fix}"
                    )
                if not member.filename.endswith(".npy"):
                    raise DataError(
                        f"{path}: member {member.filename!r} is not a .npy array, so this is "
                        f"not an .npz file; {fix}"
                    )
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(handle)
                if dtype.hasobject:
                    raise DataError(
                        f"{path}: array {member.filename[:-4]!r} is one of object (pickled) "
                        f"arrays (dtype {dtype}), which are never loaded: unpickling can run "
                        f"code; {fix}"
                    )
                needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if needed > member.file_size:
                    raise DataError(
                        f"{path}: array {member.filename[:-4]!r} declares shape {shape} of "
                        f"{dtype} ({needed:,} bytes) in a member of {member.file_size:,} "
                        f"bytes; the file is damaged; {fix}"
                    )
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: is not a readable .npz file ({type(err).__name__}: {err}); {fix}") from err


def validate_prepared(arrays: dict[str, np.ndarray], meta: dict, path: Path) -> None:
    """Raise :class:`DataError` listing every problem of a prepared dataset's splits: the
    arrays ``x_<split>``/``y_<split>`` of every split, numeric features of one shape per
    sample and finite, integer labels in ``0..num_classes-1``, a non-empty train split."""
    problems = []
    missing = [f"{a}_{s}" for s in SPLITS for a in "xy" if f"{a}_{s}" not in arrays]
    if missing:
        problems.append(f"lacks arrays {missing}")
    classes = meta.get("num_classes")
    feature_shapes = {}
    for split in SPLITS:
        x, y = arrays.get(f"x_{split}"), arrays.get(f"y_{split}")
        if x is None or y is None:
            continue
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or np.iscomplexobj(x):
            problems.append(f"x_{split} has dtype {x.dtype}; features must be real numbers")
            continue
        if not np.issubdtype(y.dtype, np.integer):
            problems.append(f"y_{split} has dtype {y.dtype}; labels must be integers")
            continue
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            problems.append(
                f"x_{split} has shape {x.shape} and y_{split} {y.shape}; they must be [N, ...] and [N]"
            )
            continue
        feature_shapes[split] = x.shape[1:]
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            problems.append(f"x_{split} contains NaN or infinite values")
        if y.size and (y.min() < 0 or (classes is not None and y.max() >= int(classes))):
            problems.append(
                f"y_{split} holds labels {int(y.min())}..{int(y.max())}, outside "
                f"0..{int(classes) - 1 if classes is not None else 'C-1'}"
            )
    if len(set(feature_shapes.values())) > 1:
        problems.append(f"the splits' samples differ in shape: {feature_shapes}")
    if "y_train" in arrays and arrays["y_train"].ndim == 1 and len(arrays["y_train"]) == 0:
        problems.append("the train split is empty")
    if problems:
        raise DataError(
            f"prepared dataset {path} is invalid:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\ndelete it (and its .json) and let the workflow prepare it again"
        )


@dataclass(frozen=True)
class RawFile:
    """One official source file of a downloaded dataset, pinned to its published checksum.

    ``name`` is the official file name (the name it is stored under in
    ``<data_dir>/raw/<source>/``); ``urls`` are tried in order (mirrors); an empty
    ``urls`` means the file has no public download and must be placed by hand.

    ``manifest`` (a :class:`~subsetgrad.bench.data.manifest.ContentManifest`) lets users
    supply the same content in another form, verified file by file instead of by
    the archive's checksum: under the official name only the published checksum
    counts, but a folder or archive named by ``alternatives`` (glob patterns in the
    same raw folder, tried in order) is accepted when its content manifest matches.
    """

    name: str
    urls: tuple[str, ...]
    algorithm: str  # md5 | sha256 (hashlib names)
    checksum: str
    note: str = ""
    manifest: ContentManifest | None = None  # noqa: F821 (see .manifest)
    alternatives: tuple[str, ...] = ()


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
        out = {
            "shapes": {k: list(v.shape) for k, v in self.arrays.items()},
            "dtypes": {k: str(v.dtype) for k, v in self.arrays.items()},
        }
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
    (empty for embedded ones). ``raw_files`` holds the same files with all their
    mirrors (``files`` is derived from it when only ``raw_files`` is given);
    ``source`` names the raw folder ``<data_dir>/raw/<source>/`` (default: the
    dataset's name), so that several datasets can share one download (``mnist`` and
    ``mnist_test_small`` both read ``raw/mnist/``).
    """

    name: str
    prepare: Callable[..., Dataset]
    description: str
    files: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    kind: str = "image"  # image | tabular | text | sequence
    raw_files: tuple[RawFile, ...] = ()
    source: str | None = None

    def __post_init__(self):
        if self.source is None:
            self.source = self.name
        if self.raw_files and not self.files:
            self.files = {
                f.name: (f.urls[0] if f.urls else "", f.algorithm, f.checksum) for f in self.raw_files
            }
        if self.files and not self.raw_files:
            self.raw_files = tuple(
                RawFile(name, (url,) if url else (), algo, checksum)
                for name, (url, algo, checksum) in self.files.items()
            )

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


def load_dataset(npz_path: str | Path, *, scale: bool = True) -> Dataset:
    """Load a prepared dataset.

    Image datasets are stored compactly as integers with ``meta["x_scale"]`` (255
    for 8-bit pixels); with ``scale=True`` (the default) the ``x_<split>`` arrays are
    returned as float32 ``x / x_scale`` in [0, 1], like every other image dataset,
    so task code never needs to know how a dataset was stored.
    """
    npz_path = Path(npz_path)
    if not npz_path.exists():
        raise DataError(
            f"prepared dataset {npz_path} does not exist; run the workflow's "
            f"prepare rule for it (snakemake {npz_path})"
        )
    again = "delete it (and its .json) and let the workflow prepare it again"
    arrays = read_npz_arrays(npz_path, again)
    sidecar = npz_path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    except (ValueError, OSError) as err:
        raise DataError(f"{sidecar}: is not readable JSON ({err}); {again}") from err
    if not isinstance(meta, dict):
        raise DataError(f"{sidecar}: must hold a JSON object, not {type(meta).__name__}; {again}")
    validate_prepared(arrays, meta, npz_path)
    x_scale = meta.get("x_scale")
    if scale and x_scale:
        for split in SPLITS:
            arrays[f"x_{split}"] = arrays[f"x_{split}"].astype(np.float32) / np.float32(x_scale)
    return Dataset(meta.get("name", npz_path.stem), arrays, meta)


def stratified_split(
    y: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> dict[str, np.ndarray]:
    """Indices of a stratified train/val/test split, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    parts = {s: [] for s in SPLITS}
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {s: np.sort(np.concatenate(v)) for s, v in parts.items()}


def fraction_sizes(entry: dict, n: int) -> tuple[int, int]:
    """``(n_val, n_test)`` of ``n`` items from a config entry's ``val_fraction`` (default 0.1)
    and ``test_fraction`` (default 0.2)."""
    return int(round(entry.get("val_fraction", 0.1) * n)), int(round(entry.get("test_fraction", 0.2) * n))


def split_by_sizes(
    y: np.ndarray, n_val: int, n_test: int, seed: int, stratify: bool = True
) -> dict[str, np.ndarray]:
    """Indices of a train/val/test split with exactly ``n_val`` and ``n_test`` items.

    Deterministic in ``seed``. With ``stratify`` each part takes from class c about
    ``size * n_c / n`` items: the floors, plus one more for the classes with the
    largest remainders (ties broken at random), so the sizes are exact and every
    class keeps its share up to one item. Test is drawn first, then val from the
    rest; a zero size gives an empty part.
    """
    n = len(y)
    if n_val < 0 or n_test < 0 or n_val + n_test >= n:
        raise DataError(f"cannot split {n} items into val={n_val}, test={n_test} and a non-empty train")
    rng = np.random.default_rng(seed)
    pool = np.arange(n)
    parts = {}
    for part, size in (("test", n_test), ("val", n_val)):
        taken = _stratified_take(y[pool], size, rng) if stratify else rng.permutation(len(pool))[:size]
        parts[part] = np.sort(pool[taken])
        pool = np.delete(pool, taken)
    return {"train": pool, "val": parts["val"], "test": parts["test"]}


def _stratified_take(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``size`` items drawn class by class in proportion to the class counts."""
    _, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    share = counts * size / len(labels)
    quota = np.floor(share).astype(np.int64)
    # the largest remainders get one more item; a remainder > 0 implies quota + 1 <= count
    order = np.lexsort((rng.random(len(counts)), -(share - quota)))
    quota[order[: size - quota.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:q] for c, q in enumerate(quota)]
    return np.concatenate(chosen) if chosen else np.array([], dtype=np.int64)


def carve_validation(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, val_size: int, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The arrays of an official train/test split with ``val_size`` training items held out
    for validation (stratified, by ``seed``), and the sizes of the three splits."""
    carve = split_by_sizes(y_train, val_size, 0, seed)
    arrays = {
        "x_train": x_train[carve["train"]],
        "y_train": y_train[carve["train"]],
        "x_val": x_train[carve["val"]],
        "y_val": y_train[carve["val"]],
        "x_test": x_test,
        "y_test": y_test,
    }
    return arrays, {"train": len(carve["train"]), "val": len(carve["val"]), "test": len(y_test)}


def take_splits(x: np.ndarray, y: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"x_train": x[split["train"]], "y_train": ..., ...}`` for every split."""
    arrays = {}
    for name in SPLITS:
        arrays[f"x_{name}"] = x[split[name]]
        arrays[f"y_{name}"] = y[split[name]]
    return arrays
