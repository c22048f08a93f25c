"""MNIST and Fashion-MNIST from the official IDX files (gzip).

IDX format (LeCun et al.): two zero bytes, a type code (0x08 = uint8, ...), the
number of dimensions d, then d big-endian uint32 sizes, then the values in
big-endian C order. Images are ``(N, 28, 28)`` uint8, labels ``(N,)`` uint8.

Prepared layout (every image dataset): ``x`` uint8 ``[N, 1, 28, 28]`` stored with
``x_scale = 255`` (so :func:`~subsetgrad.bench.data.load_dataset` returns float32 in
[0, 1]), ``y`` int64 in 0..9.

* ``mnist``, ``fashion_mnist``: the official 60,000 training images split into
  55,000 train / 5,000 validation (stratified, by ``split_seed``), and the official
  10,000 test images (the NeuralSort kNN setting).
* ``mnist_test_small``: only the official MNIST *test* files (10,000 images, the
  ones in ../shared/data), split into 7,000 train / 1,000 validation / 2,000 test:
  a real-data profile that runs on a CPU.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from subsetgrad.bench.data.core import (
    DataError,
    Dataset,
    DatasetSpec,
    RawFile,
    carve_validation,
    register_dataset,
    split_by_sizes,
)
from subsetgrad.bench.data.download import require_raw_files

_IDX_TYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it is gzip (by its magic bytes, not its name)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"{path} is a truncated or corrupt gzip file ({err}); delete it and "
            f"download it again (or place an intact copy at the same path)"
        ) from err


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an IDX file (plain or gzip) into a native-endian NumPy array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist")
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(
            f"{path} is not an IDX file (bad magic number {data[:4].hex()}); "
            f"expected the official MNIST-format file"
        )
    dtype = np.dtype(_IDX_TYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: IDX header is truncated")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the "
            f"file has {len(data) - header}; it is truncated or corrupt: delete it and "
            f"download it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx_pair(
    images_path: Path, labels_path: Path, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 1, H, W]`` uint8 and labels ``[N]`` int64, checked against each other."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{labels_path}: expected {len(images)} labels to match {images_path}, got shape {labels.shape}"
        )
    if labels.size and labels.max() >= num_classes:
        raise DataError(f"{labels_path}: labels must lie in 0..{num_classes - 1}, found {labels.max()}")
    return images[:, None, :, :], labels.astype(np.int64)


def _idx_files(base_urls: tuple[str, ...], md5: dict[str, str]) -> tuple[RawFile, ...]:
    return tuple(
        RawFile(name, tuple(base + name for base in base_urls), "md5", checksum)
        for name, checksum in md5.items()
    )


MNIST_FILES = _idx_files(
    (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)

FASHION_MNIST_FILES = _idx_files(
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
)

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _image_meta(spec: DatasetSpec, sources, split_seed, class_names, split_sizes, **extra) -> dict:
    return {
        "description": spec.description,
        "kind": spec.kind,
        "source_files": sources,
        "split_seed": split_seed,
        "split_sizes": {s: int(n) for s, n in split_sizes.items()},
        "num_classes": len(class_names),
        "class_names": class_names,
        "x_scale": 255.0,
        **extra,
    }


def _prepare_official_split(name: str, class_names: list[str]):
    def prepare(raw_dir: Path, split_seed: int, val_size: int = 5000) -> Dataset:
        spec = _SPECS[name]
        sources = require_raw_files(spec, raw_dir)
        x_train, y_train = read_idx_pair(
            raw_dir / "train-images-idx3-ubyte.gz", raw_dir / "train-labels-idx1-ubyte.gz"
        )
        x_test, y_test = read_idx_pair(
            raw_dir / "t10k-images-idx3-ubyte.gz", raw_dir / "t10k-labels-idx1-ubyte.gz"
        )
        arrays, sizes = carve_validation(x_train, y_train, x_test, y_test, val_size, split_seed)
        meta = _image_meta(
            spec,
            sources,
            split_seed,
            class_names,
            sizes,
            split_note=f"validation: {val_size} of the official training images "
            f"(stratified by split_seed); test: the official test set",
        )
        return Dataset(name, arrays, meta)

    return prepare


def _prepare_mnist_test_small(
    raw_dir: Path, split_seed: int, val_size: int = 1000, test_size: int = 2000
) -> Dataset:
    spec = _SPECS["mnist_test_small"]
    sources = require_raw_files(spec, raw_dir)
    x, y = read_idx_pair(raw_dir / "t10k-images-idx3-ubyte.gz", raw_dir / "t10k-labels-idx1-ubyte.gz")
    split = split_by_sizes(y, val_size, test_size, split_seed)
    arrays = {}
    for part, idx in split.items():
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x[idx], y[idx]
    meta = _image_meta(
        spec,
        sources,
        split_seed,
        MNIST_CLASSES,
        {s: len(i) for s, i in split.items()},
        split_note="all three splits are drawn (stratified, by split_seed) from the "
        "official MNIST test set; not comparable with published MNIST numbers",
    )
    return Dataset("mnist_test_small", arrays, meta)


_SPECS = {
    "mnist": register_dataset(
        DatasetSpec(
            name="mnist",
            prepare=_prepare_official_split("mnist", MNIST_CLASSES),
            description="MNIST (LeCun et al.): 55,000 train / 5,000 validation / 10,000 test, 28x28 grey",
            kind="image",
            raw_files=MNIST_FILES,
        )
    ),
    "fashion_mnist": register_dataset(
        DatasetSpec(
            name="fashion_mnist",
            prepare=_prepare_official_split("fashion_mnist", FASHION_CLASSES),
            description="Fashion-MNIST (Xiao et al.): 55,000 train / 5,000 validation / 10,000 test, "
            "28x28 grey",
            kind="image",
            raw_files=FASHION_MNIST_FILES,
        )
    ),
    "mnist_test_small": register_dataset(
        DatasetSpec(
            name="mnist_test_small",
            prepare=_prepare_mnist_test_small,
            description="the official MNIST test set alone, split 7,000 train / 1,000 validation / "
            "2,000 test",
            kind="image",
            source="mnist",
            raw_files=tuple(f for f in MNIST_FILES if f.name.startswith("t10k")),
        )
    ),
}
