"""Place the project's real test files (../shared/data) under their official names.

The shared folder carries the real files under distinct names; the workflow only
knows official names under ``<data_dir>/raw/<source>/``. :func:`link_shared_data`
links (or copies) each shared file there after checking its published checksum,
which is exactly the manual-placement path a user without network takes. The
repacked IMDB archive is not the official tarball, so it keeps its own name next
to where the official one would go and is verified by its content manifest, as a
user's repacked or extracted copy would be.
``workflow/scripts/link_shared_data.py`` is its command line.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from subsetgrad.bench.data.download import ChecksumError, file_checksum, raw_file_table

# shared file name -> (raw source folder, official name[, name to place it under])
SHARED_FILES = {
    "mnist-train-images-idx3-ubyte.gz": ("mnist", "train-images-idx3-ubyte.gz"),
    "mnist-train-labels-idx1-ubyte.gz": ("mnist", "train-labels-idx1-ubyte.gz"),
    "mnist-t10k-images-idx3-ubyte.gz": ("mnist", "t10k-images-idx3-ubyte.gz"),
    "mnist-t10k-labels-idx1-ubyte.gz": ("mnist", "t10k-labels-idx1-ubyte.gz"),
    "fashion-mnist-train-images-idx3-ubyte.gz": ("fashion_mnist", "train-images-idx3-ubyte.gz"),
    "fashion-mnist-train-labels-idx1-ubyte.gz": ("fashion_mnist", "train-labels-idx1-ubyte.gz"),
    "fashion-mnist-t10k-images-idx3-ubyte.gz": ("fashion_mnist", "t10k-images-idx3-ubyte.gz"),
    "fashion-mnist-t10k-labels-idx1-ubyte.gz": ("fashion_mnist", "t10k-labels-idx1-ubyte.gz"),
    "aclImdb_labelled_v1.tar.gz": ("aclimdb", "aclImdb_v1.tar.gz", "aclImdb_labelled_v1.tar.gz"),
    "20news_w100.mat": ("newsgroups20_w100", "20news_w100.mat"),
    "imdb_labeledTrainData_first5000.tsv.gz": ("imdb_reviews_5000", "imdb_labeledTrainData_first5000.tsv.gz"),
    "cifar10_test_jpeg_200pc.npz": ("cifar10_jpeg_small", "cifar10_test_jpeg_200pc.npz"),
}
# Alternative forms are identified here by the sha256 of the shared copy (instant); their
# content manifest is checked when a dataset is prepared from them, as for any user's copy.
SHARED_SHA256 = {
    "aclImdb_labelled_v1.tar.gz": "812053fc3b35b95830cd9b537f2b0f97b7c1e35906a8404ab8f74dfebb37ed4d",
}


def link_shared_data(shared_dir: str | Path, data_dir: str | Path, copy: bool = False) -> list[Path]:
    """Link (or copy) every shared file present to ``<data_dir>/raw/<source>/<official name>``.

    Each file's checksum is verified first; an existing destination with the
    right checksum is left alone. Returns the destinations placed or found.
    """
    shared_dir, data_dir = Path(shared_dir), Path(data_dir)
    if not shared_dir.is_dir():
        raise FileNotFoundError(f"shared data folder {shared_dir} does not exist")
    table = raw_file_table()
    placed = []
    for shared_name, (source, official, *placed_as) in SHARED_FILES.items():
        src = shared_dir / shared_name
        if not src.is_file():
            continue
        raw_file = table[(source, official)]
        dest = data_dir / "raw" / source / (placed_as[0] if placed_as else official)
        placed.append(dest)
        if placed_as:
            # an alternative form, named by what it is (not the official archive)
            actual = file_checksum(src, "sha256")
            if actual != SHARED_SHA256[shared_name]:
                raise ChecksumError(f"{src} has sha256 {actual}, expected {SHARED_SHA256[shared_name]}")
            if dest.is_symlink() and dest.resolve() == src.resolve():
                continue
        else:
            actual = file_checksum(src, raw_file.algorithm)
            if actual != raw_file.checksum:
                raise ChecksumError(f"{src} has {raw_file.algorithm} {actual}, expected {raw_file.checksum}")
            if dest.is_file() and file_checksum(dest, raw_file.algorithm) == raw_file.checksum:
                continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()  # a broken link or a wrong file: replace it
        if copy:
            shutil.copyfile(src, dest)
        else:
            os.symlink(src.resolve(), dest)
    return placed
