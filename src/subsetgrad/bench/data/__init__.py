"""The data layer: every task reads prepared datasets through :func:`load_dataset`.

A prepared dataset is one ``<name>.npz`` holding arrays ``x_<split>`` and
``y_<split>`` for the splits ``train``, ``val`` and ``test`` (plus optional
extra arrays, e.g. ground-truth feature masks), and a JSON sidecar
``<name>.json`` (source files and checksums, split seed, shapes, class counts).
Task code never needs to know where a dataset came from.

Builtin datasets are registered in :data:`DATASETS` with a ``prepare``
function; the Snakemake rules in ``workflow/rules/data.smk`` call
:func:`prepare_dataset` and :func:`save_dataset`. Downloaded datasets list
their official files (:class:`RawFile`, pinned checksums) under
``<data_dir>/raw/<source>/`` (:mod:`.download`); datasets declared in the
config's ``datasets:`` key are prepared by :func:`prepare_byo`.
"""

from subsetgrad.bench.data import (  # noqa: F401  (register the downloaded datasets)
    cifar,
    embedded,  # noqa: F401  (registers the embedded datasets)
    imdb,
    l2x_synthetic,  # noqa: F401  (registers the L2X synthetic datasets)
    mnist,
    newsgroups,
)
from subsetgrad.bench.data.byo import prepare_byo, read_npz, validate_arrays
from subsetgrad.bench.data.core import (
    DATASETS,
    SPLITS,
    DataError,
    Dataset,
    DatasetSpec,
    RawFile,
    load_dataset,
    prepare_dataset,
    register_dataset,
    save_dataset,
    split_by_sizes,
    stratified_split,
    take_splits,
)
from subsetgrad.bench.data.download import (
    ChecksumError,
    MissingRawFileError,
    download_raw_file,
    file_checksum,
    raw_file_table,
    require_raw_files,
    verify_raw_file,
)

# Datasets of the paper profile (downloaded from their official sources).
PAPER_DATASETS = ("mnist", "fashion_mnist", "cifar10", "imdb_word", "imdb_sentence", "newsgroups20_w100")
# Datasets built only from the real files in ../shared/data (config/real_small.yaml).
REAL_SMALL_DATASETS = (
    "mnist_test_small",
    "newsgroups20_w100",
    "imdb_word_small",
    "imdb_sentence_small",
    "cifar10_jpeg_small",
)

__all__ = [
    "DATASETS",
    "PAPER_DATASETS",
    "REAL_SMALL_DATASETS",
    "SPLITS",
    "ChecksumError",
    "DataError",
    "Dataset",
    "DatasetSpec",
    "MissingRawFileError",
    "RawFile",
    "download_raw_file",
    "file_checksum",
    "load_dataset",
    "prepare_byo",
    "prepare_dataset",
    "raw_file_table",
    "read_npz",
    "register_dataset",
    "require_raw_files",
    "save_dataset",
    "split_by_sizes",
    "stratified_split",
    "take_splits",
    "validate_arrays",
    "verify_raw_file",
]
