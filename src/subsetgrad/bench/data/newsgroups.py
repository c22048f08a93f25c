"""20 Newsgroups, 100 keywords (Sam Roweis' ``20news_w100.mat``), for parametric t-SNE.

The MATLAB file holds ``documents`` (sparse, 100 words x 16,242 documents, binary
word occurrence), ``newsgroups`` (1 x 16,242 labels 1..4), ``wordlist`` (the 100
words) and ``groupnames`` (the 4 super-groups: comp, rec, sci, talk).

Prepared as ``x`` float32 ``[N, 100]`` (0/1), ``y`` int64 in 0..3, and the
paper's split: the documents shuffled by ``split_seed``, the first 15,000 for
training and the remaining 1,242 for test. The validation split is empty (the
t-SNE experiment selects no checkpoint); ``wordlist`` is kept as an array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from subsetgrad.bench.data.core import DataError, Dataset, DatasetSpec, RawFile, register_dataset
from subsetgrad.bench.data.download import require_raw_files

W100_FILE = RawFile(
    "20news_w100.mat",
    ("https://cs.nyu.edu/~roweis/data/20news_w100.mat",),
    "sha256",
    "6667c5459e22eb544a854bff1443edaaea71735cf1af7b12cc5d986e74af7064",
)


def _strings(cell) -> list[str]:
    """MATLAB cell array of strings (as loaded by scipy) to a Python list."""
    return [
        str(np.asarray(item).ravel()[0]) if np.asarray(item).size else "" for item in np.asarray(cell).ravel()
    ]


def read_w100(path: str | Path) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """``(x [N, words] float32, y [N] int64 in 0..C-1, words, group names)`` from the .mat file."""
    import scipy.io
    import scipy.sparse

    path = Path(path)
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises ValueError/TypeError/OSError on damaged files
        raise DataError(
            f"{path} is not a readable MATLAB file ({type(err).__name__}: {err}); "
            f"delete it and download it again"
        ) from err
    missing = [k for k in ("documents", "newsgroups") if k not in mat]
    if missing:
        raise DataError(f"{path}: lacks variable(s) {missing}; expected 20news_w100.mat")
    documents = mat["documents"]
    documents = documents.toarray() if scipy.sparse.issparse(documents) else np.asarray(documents)
    labels = np.asarray(mat["newsgroups"]).ravel().astype(np.int64)
    if documents.ndim != 2 or documents.shape[1] != len(labels):
        raise DataError(
            f"{path}: documents {documents.shape} do not match {len(labels)} labels "
            f"(expected words x documents)"
        )
    if labels.size and labels.min() < 1:
        raise DataError(f"{path}: newsgroup labels must start at 1 (MATLAB), found {labels.min()}")
    words = _strings(mat["wordlist"]) if "wordlist" in mat else [f"w{i}" for i in range(documents.shape[0])]
    groups = _strings(mat["groupnames"]) if "groupnames" in mat else [str(i) for i in range(labels.max())]
    return documents.T.astype(np.float32), labels - 1, words, groups


def _prepare_w100(raw_dir: Path, split_seed: int, train_size: int = 15000) -> Dataset:
    spec = _SPECS["newsgroups20_w100"]
    sources = require_raw_files(spec, raw_dir)
    x, y, words, groups = read_w100(raw_dir / W100_FILE.name)
    if not 0 < train_size < len(y):
        raise DataError(f"newsgroups20_w100: train_size must be in 1..{len(y) - 1}, got {train_size}")
    order = np.random.default_rng(split_seed).permutation(len(y))
    train, test = order[:train_size], order[train_size:]
    arrays = {
        "x_train": x[train],
        "y_train": y[train],
        "x_val": x[:0],
        "y_val": y[:0],
        "x_test": x[test],
        "y_test": y[test],
        "wordlist": np.array(words, dtype=str),
    }
    meta = {
        "description": spec.description,
        "kind": "tabular",
        "source_files": sources,
        "split_seed": split_seed,
        "split_sizes": {"train": len(train), "val": 0, "test": len(test)},
        "split_note": "documents shuffled by split_seed; the first 15,000 train, the rest test "
        "(the paper's t-SNE split); no validation split",
        "num_classes": len(groups),
        "class_names": groups,
    }
    return Dataset("newsgroups20_w100", arrays, meta)


_SPECS = {
    "newsgroups20_w100": register_dataset(
        DatasetSpec(
            name="newsgroups20_w100",
            prepare=_prepare_w100,
            description="20 Newsgroups, 100 binary keyword features, 4 super-groups (Roweis): "
            "15,000 train / 0 validation / 1,242 test",
            kind="tabular",
            raw_files=(W100_FILE,),
        )
    ),
}
