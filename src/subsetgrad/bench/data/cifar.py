"""CIFAR-10 from the official python tarball, and a small real-image stand-in.

``cifar-10-python.tar.gz`` (Krizhevsky 2009) holds ``cifar-10-batches-py/`` with
five training batches ``data_batch_1..5`` and ``test_batch``: pickled dicts with
``b"data"`` (10,000 x 3,072 uint8, each row the R, G, B planes of a 32 x 32 image)
and ``b"labels"`` (10,000 ints), plus ``batches.meta`` with ``b"label_names"``.
The tarball's md5 is verified before anything in it is unpickled.

* ``cifar10``: 45,000 train / 5,000 validation (stratified, by ``split_seed``) from
  the 50,000 training images; the official 10,000 test images. ``x`` uint8
  ``[N, 3, 32, 32]`` with ``x_scale = 255``.
* ``cifar10_jpeg_small``: 2,000 real CIFAR-10 test images (200 per class) decoded
  from JPEG re-encodings (the file in ../shared/data; no public download, so it is
  placed by hand), split 1,400 / 200 / 400. Its pixels differ from the originals, so
  accuracies are not comparable with published CIFAR-10 numbers.
"""

from __future__ import annotations

import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from subsetgrad.bench.data.byo import read_npz
from subsetgrad.bench.data.core import (
    DataError,
    Dataset,
    DatasetSpec,
    RawFile,
    carve_validation,
    register_dataset,
    split_by_sizes,
    take_splits,
)
from subsetgrad.bench.data.download import require_raw_files

CIFAR10_FILE = RawFile(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    "md5",
    "c58f30108f718f92721af3b95e74349a",
)
CIFAR10_JPEG_FILE = RawFile(
    "cifar10_test_jpeg_200pc.npz",
    (),
    "sha256",
    "9a3209fec28d5fc834c141f6424eb604b57816fc41eb3a5a3c7406fcd26bc1ff",
    note="a project test file: 2,000 CIFAR-10 test images decoded from JPEG re-encodings; "
    "link it from the shared data folder with workflow/scripts/link_shared_data.py",
)
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


def read_cifar_tarball(path: str | Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """``({batch name: (x [N, 3, 32, 32] uint8, y [N] int64)}, class names)`` from the tarball."""
    path = Path(path)
    batches, names = {}, None
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) != 2 or parts[0] != BATCH_DIR:
                    continue
                if parts[1] in (*TRAIN_BATCHES, TEST_BATCH):
                    entry = pickle.load(tar.extractfile(member), encoding="bytes")
                    data = np.asarray(entry[b"data"], dtype=np.uint8)
                    labels = np.asarray(entry[b"labels"], dtype=np.int64)
                    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
                        raise DataError(
                            f"{path}: batch {parts[1]} has data {data.shape} and "
                            f"{len(labels)} labels; expected [N, 3072] and N labels"
                        )
                    batches[parts[1]] = (data.reshape(-1, 3, 32, 32), labels)
                elif parts[1] == "batches.meta":
                    meta = pickle.load(tar.extractfile(member), encoding="bytes")
                    names = [n.decode() for n in meta[b"label_names"]]
    except (tarfile.TarError, EOFError, OSError, zlib.error, pickle.UnpicklingError) as err:
        raise DataError(
            f"{path} is a truncated or corrupt archive ({type(err).__name__}: {err}); "
            f"delete it and download it again"
        ) from err
    missing = [b for b in (*TRAIN_BATCHES, TEST_BATCH) if b not in batches]
    if missing:
        raise DataError(
            f"{path}: lacks {', '.join(f'{BATCH_DIR}/{m}' for m in missing)}; "
            f"it is not the official CIFAR-10 python version"
        )
    names = names or [str(i) for i in range(10)]
    for name, (_, labels) in batches.items():
        if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
            raise DataError(f"{path}: batch {name} has labels outside 0..{len(names) - 1}")
    return batches, names


def _prepare_cifar10(raw_dir: Path, split_seed: int, val_size: int = 5000) -> Dataset:
    spec = _SPECS["cifar10"]
    sources = require_raw_files(spec, raw_dir)
    batches, names = read_cifar_tarball(raw_dir / CIFAR10_FILE.name)
    x_train = np.concatenate([batches[b][0] for b in TRAIN_BATCHES])
    y_train = np.concatenate([batches[b][1] for b in TRAIN_BATCHES])
    x_test, y_test = batches[TEST_BATCH]
    arrays, sizes = carve_validation(x_train, y_train, x_test, y_test, val_size, split_seed)
    meta = {
        "description": spec.description,
        "kind": "image",
        "source_files": sources,
        "split_seed": split_seed,
        "split_sizes": sizes,
        "split_note": f"validation: {val_size} of the official training images (stratified, by "
        f"split_seed); test: the official test batch",
        "num_classes": len(names),
        "class_names": names,
        "x_scale": 255.0,
    }
    return Dataset("cifar10", arrays, meta)


def _prepare_cifar10_jpeg_small(
    raw_dir: Path, split_seed: int, val_size: int = 200, test_size: int = 400
) -> Dataset:
    spec = _SPECS["cifar10_jpeg_small"]
    sources = require_raw_files(spec, raw_dir)
    x, y, extra = read_npz(raw_dir / CIFAR10_JPEG_FILE.name, num_classes=10, layout="nhwc")
    split = split_by_sizes(y, val_size, test_size, split_seed)
    meta = {
        "description": spec.description,
        "kind": "image",
        "source_files": sources,
        "split_seed": split_seed,
        "split_sizes": {s: int(len(i)) for s, i in split.items()},
        "split_note": "drawn (stratified, by split_seed) from 2,000 JPEG-re-encoded CIFAR-10 "
        "test images; not comparable with published CIFAR-10 numbers",
        **extra,
    }
    return Dataset("cifar10_jpeg_small", take_splits(x, y, split), meta)


_SPECS = {
    "cifar10": register_dataset(
        DatasetSpec(
            name="cifar10",
            prepare=_prepare_cifar10,
            description="CIFAR-10 (Krizhevsky 2009): 45,000 train / 5,000 validation / 10,000 test, "
            "32x32 RGB",
            kind="image",
            raw_files=(CIFAR10_FILE,),
        )
    ),
    "cifar10_jpeg_small": register_dataset(
        DatasetSpec(
            name="cifar10_jpeg_small",
            prepare=_prepare_cifar10_jpeg_small,
            description="2,000 JPEG-re-encoded CIFAR-10 test images, split 1,400 / 200 / 400 (CPU-sized)",
            kind="image",
            raw_files=(CIFAR10_JPEG_FILE,),
        )
    ),
}
