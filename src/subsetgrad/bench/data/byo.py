"""Bring your own data: an ``.npz`` of features and labels becomes a dataset.

A config entry under the top-level ``datasets:`` key (schema:
``workflow/schemas/datasets.schema.yaml``) names a file::

    datasets:
      my_faces:
        path: /data/faces.npz        # arrays x (or images) and y (or labels)
        val_fraction: 0.1
        test_fraction: 0.2

and ``tasks.<task>.datasets: [my_faces]`` then uses it like a builtin dataset
(kNN and t-SNE: any ``[N, ...]`` numeric features with integer class labels). Labelled
text for L2X (a TSV/CSV, or token ids with ``kind: text``) is read by :mod:`.byo_text`.
The file is validated before anything else runs (:func:`validate_arrays`):
shapes, dtypes, label range, NaN/inf; each problem is reported with what to fix.

Layout: 8-bit images (uint8) are kept as stored with ``x_scale = 255`` (loaded as
float32 in [0, 1]); ``[N, H, W]`` gains a channel axis; channels-last images
``[N, H, W, C]`` (C in 1, 3, 4) become channels-first ``[N, C, H, W]`` like every
builtin image dataset; other floats are kept as float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subsetgrad.bench.data.core import (
    DataError,
    Dataset,
    fraction_sizes,
    read_npz_arrays,
    split_by_sizes,
    take_splits,
)
from subsetgrad.bench.data.download import file_checksum, user_file_source

X_KEYS = ("x", "images")
Y_KEYS = ("y", "labels")
LAYOUTS = ("auto", "nchw", "nhwc", "features")


def _pick(arrays: dict, keys: tuple[str, ...], explicit: str | None, path: Path, what: str) -> str:
    if explicit is not None:
        if explicit not in arrays:
            raise DataError(
                f"{path}: has no array {explicit!r} (the configured {what} key); "
                f"arrays present: {', '.join(sorted(arrays)) or 'none'}"
            )
        return explicit
    found = [k for k in keys if k in arrays]
    if not found:
        raise DataError(
            f"{path}: needs an array named {' or '.join(map(repr, keys))} for the {what}; "
            f"arrays present: {', '.join(sorted(arrays)) or 'none'} (or set {what}_key "
            f"in the dataset's config entry)"
        )
    if len(found) > 1:
        raise DataError(
            f"{path}: has both {found[0]!r} and {found[1]!r}; set {what}_key in the "
            f"dataset's config entry to say which holds the {what}"
        )
    return found[0]


def validate_arrays(x: np.ndarray, y: np.ndarray, where: str, num_classes: int | None = None) -> int:
    """Raise :class:`DataError` listing every problem with ``x``/``y``; return the class count."""
    problems = []
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        problems.append(f"features have dtype {x.dtype}; they must be numeric (integers or floats)")
    elif np.iscomplexobj(x):
        problems.append("features are complex numbers; they must be real")
    if x.ndim < 2:
        problems.append(
            f"features have shape {x.shape}; they must be [N, ...] with at least one "
            f"feature axis (one row per sample)"
        )
    if x.ndim >= 2 and len(x) and x.size == 0:
        problems.append(f"features have shape {x.shape}: no values per sample")
    if y.ndim != 1:
        problems.append(f"labels have shape {y.shape}; they must be one integer per sample, shape [N]")
    if len(x) != len(y):
        problems.append(f"{len(x)} feature rows but {len(y)} labels; they must match")
    if len(y) == 0:
        problems.append("the file holds no samples")
    if np.issubdtype(x.dtype, np.floating) and x.size and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).ravel()
        problems.append(
            f"features contain NaN or infinite values (in {len(bad)} sample(s), first at "
            f"index {bad[0]}); remove or impute them"
        )
    if y.dtype == object or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        problems.append(f"labels have dtype {y.dtype}; they must be integers 0..C-1")
    elif np.issubdtype(y.dtype, np.floating) and y.size:
        if not np.isfinite(y).all():
            problems.append("labels contain NaN or infinite values")
        elif not (y == np.round(y)).all():
            problems.append("labels are not whole numbers; they must be integer class ids 0..C-1")
    if problems:
        raise DataError(f"{where}: invalid data:\n" + "\n".join(f"  - {p}" for p in problems))
    labels = y.astype(np.int64)
    low, high = int(labels.min()), int(labels.max())
    classes = num_classes if num_classes is not None else high + 1
    if low < 0 or high >= classes:
        raise DataError(
            f"{where}: labels must lie in 0..{classes - 1}"
            f"{' (num_classes in the config)' if num_classes is not None else ''}, found "
            f"{low}..{high}; remap them to consecutive integers starting at 0"
        )
    counts = np.bincount(labels, minlength=classes)
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0).tolist()
        raise DataError(
            f"{where}: classes {missing[:10]} have no sample although labels go up to "
            f"{classes - 1}; remap the labels to consecutive integers 0..C-1"
        )
    if classes < 2:
        raise DataError(f"{where}: only one class is present; a classification dataset needs at least two")
    return classes


def to_channels_first(x: np.ndarray, layout: str, where: str) -> np.ndarray:
    """Bring image arrays to ``[N, C, H, W]``; ``features`` and 2-D inputs stay as they are."""
    if layout not in LAYOUTS:
        raise DataError(f"{where}: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "features" or x.ndim == 2:
        return x
    if x.ndim == 3 and layout in ("auto", "nchw", "nhwc"):
        return x[:, None, :, :]
    if x.ndim == 4:
        channels_last = layout == "nhwc" or (
            layout == "auto" and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4)
        )
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if channels_last else x
    if layout == "auto":
        return x
    raise DataError(
        f"{where}: layout {layout!r} needs 4-D images [N, H, W, C] or [N, C, H, W], got shape {x.shape}"
    )


def read_npz(
    path: str | Path,
    x_key: str | None = None,
    y_key: str | None = None,
    num_classes: int | None = None,
    layout: str = "auto",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Load and validate ``x``/``y`` from an npz; return ``(x, y, extra)``.

    ``extra`` carries ``num_classes``, ``x_scale`` (255 for uint8 images) and
    ``class_names`` when the file has such an array.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"bring-your-own data file {path} does not exist; check the dataset's "
            f"`path` in the config (relative paths start at the workflow directory)"
        )
    arrays = read_npz_arrays(
        path, "write it with numpy.savez or numpy.savez_compressed, plain numeric arrays only"
    )
    xk = _pick(arrays, X_KEYS, x_key, path, "x")
    yk = _pick(arrays, Y_KEYS, y_key, path, "y")
    x, y = arrays[xk], arrays[yk]
    classes = validate_arrays(x, y, str(path), num_classes)
    extra = {"num_classes": classes}
    if x.dtype == np.uint8:
        extra["x_scale"] = 255.0  # 8-bit pixels: stored compactly, loaded as float32 in [0, 1]
    else:
        x = x.astype(np.float32)
    x = to_channels_first(x, layout, str(path))
    names = arrays.get("class_names")
    if names is not None and names.ndim == 1 and len(names) == classes:
        extra["class_names"] = [str(n) for n in names]
    return x, y.astype(np.int64), extra


def prepare_byo(name: str, entry: dict, split_seed: int, base_dir: str | Path = ".") -> Dataset:
    """Prepare a bring-your-own dataset from its config entry (see the module docstring)."""
    from subsetgrad.bench.data.byo_text import is_text_entry, prepare_text

    if is_text_entry(entry):
        return prepare_text(name, entry, split_seed, base_dir)
    path = Path(entry["path"])
    if not path.is_absolute():
        path = Path(base_dir) / path
    if entry.get("sha256") and path.is_file():
        actual = file_checksum(path, "sha256")
        if actual != entry["sha256"]:
            raise DataError(
                f"{path}: sha256 is {actual}, but the config entry datasets.{name}.sha256 "
                f"says {entry['sha256']}; the file changed or is not the intended one"
            )
    x, y, extra = read_npz(
        path, entry.get("x_key"), entry.get("y_key"), entry.get("num_classes"), entry.get("layout", "auto")
    )
    split = split_by_sizes(y, *fraction_sizes(entry, len(y)), split_seed)
    meta = {
        "description": entry.get("description", f"bring-your-own data from {path}"),
        "kind": "image" if x.ndim == 4 else "tabular",
        "source_files": [user_file_source(path)],
        "split_seed": split_seed,
        "split_sizes": {s: int(len(i)) for s, i in split.items()},
        **extra,
    }
    return Dataset(name, take_splits(x, y.astype(np.int64), split), meta)
