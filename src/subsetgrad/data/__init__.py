"""The data layer: every task reads prepared datasets through :func:`load_dataset`.

A prepared dataset is one ``<name>.npz`` holding arrays ``x_<split>`` and
``y_<split>`` for the splits ``train``, ``val`` and ``test`` (plus optional
extra arrays, e.g. ground-truth feature masks), and a JSON sidecar
``<name>.json`` (source files and checksums, split seed, shapes, class counts).
Task code never needs to know where a dataset came from.

Builtin datasets are registered in :data:`DATASETS` with a ``prepare``
function; the Snakemake rules in ``workflow/rules/data.smk`` call
:func:`prepare_dataset` and :func:`save_dataset`.
"""
from .core import DATASETS, SPLITS, Dataset, DatasetSpec, load_dataset, prepare_dataset, register_dataset, save_dataset
from . import embedded  # noqa: F401  (registers the embedded datasets)

__all__ = ["DATASETS", "SPLITS", "Dataset", "DatasetSpec", "load_dataset", "prepare_dataset",
           "register_dataset", "save_dataset"]
