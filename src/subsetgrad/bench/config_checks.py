"""Config checks that span sections, so that bad input stops the run before any job starts.

* Every number is finite. YAML spells NaN and infinity ``.nan`` and ``.inf``; NaN
  compares false with everything, so ``.nan`` passes a schema's ``exclusiveMinimum: 0``
  and a NaN temperature would only fail deep inside a training job.
* ``data_dir`` is a folder, or does not exist yet (the workflow creates it).
* Each bring-your-own dataset (top-level ``datasets:``) names a file that exists and
  holds valid arrays (shapes, dtypes, NaN, label range), or valid labelled text, checked by
  the same function that prepares it (:func:`subsetgrad.bench.data.byo.read_npz`,
  :func:`subsetgrad.bench.data.byo_text.validate_text_entry`). The file is read in full, so
  the check is skipped once ``<data_dir>/prepared/<name>.npz`` is newer than the file:
  it passed the same checks when it was prepared.
"""

from __future__ import annotations

import math
from pathlib import Path


def config_key(path) -> str:
    """A config path as users write it: ``tasks.knn.temperatures[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _non_finite(node, path=()) -> list[str]:
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _non_finite(value, (*path, key))]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in _non_finite(value, (*path, i))]
    if isinstance(node, float) and not math.isfinite(node):
        return [f"config key '{config_key(path)}': {node} is not a finite number"]
    return []


def numbers_are_finite(config: dict) -> list[str]:
    return _non_finite(config)


def data_dir_is_a_folder(config: dict) -> list[str]:
    data_dir = Path(config["data_dir"])
    if data_dir.exists() and not data_dir.is_dir():
        return [
            f"config key 'data_dir': {str(data_dir)!r} is a file, not a folder; name the folder "
            f"that holds (or will hold) raw/ and prepared/"
        ]
    return []


def own_data_files_are_valid(config: dict) -> list[str]:
    declared = config.get("datasets") or {}
    if not declared:
        return []
    from subsetgrad.bench.data.byo import read_npz
    from subsetgrad.bench.data.byo_text import is_text_entry, validate_text_entry
    from subsetgrad.bench.data.core import DataError

    problems = []
    for name, entry in declared.items():
        source = Path(entry["path"])
        prepared = Path(config["data_dir"]) / "prepared" / f"{name}.npz"
        if source.is_file() and prepared.is_file() and prepared.stat().st_mtime >= source.stat().st_mtime:
            continue
        try:
            if is_text_entry(entry):
                validate_text_entry(entry)
                continue
            read_npz(
                source,
                entry.get("x_key"),
                entry.get("y_key"),
                entry.get("num_classes"),
                entry.get("layout", "auto"),
            )
        except DataError as err:
            problems.append(f"config key 'datasets.{name}.path': {err}")
    return problems
