"""Collect every run's tidy metrics into one file per profile.

Each task writes ``metrics.csv`` files with :data:`subsetgrad.bench.metrics.METRIC_COLUMNS`
(task, dataset, estimator, tau, k, seed, metric, value, wall time, epochs, git
commit, config hash, device). :func:`collect_metrics` concatenates them, checks
the schema, and adds ``source`` (the file a row came from, so every number in a
table can be traced to its run). :func:`collect_provenance` gathers the
``provenance.json`` written next to the metrics files (package versions, config,
platform) into one table, one row per file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from subsetgrad.bench.metrics import METRIC_COLUMNS

AGGREGATE_COLUMNS = (*METRIC_COLUMNS, "source")


class MetricsFileError(ValueError):
    """A metrics file does not follow the shared schema."""


def read_metrics(path: str | Path) -> pd.DataFrame:
    """One task's metrics file, checked against :data:`METRIC_COLUMNS`."""
    path = Path(path)
    if not path.is_file():
        raise MetricsFileError(f"metrics file {path} does not exist; rerun the rule that writes it")
    frame = pd.read_csv(path)
    missing = [c for c in METRIC_COLUMNS if c not in frame.columns]
    if missing:
        raise MetricsFileError(
            f"metrics file {path} lacks the column(s) {missing}; write it with "
            f"subsetgrad.bench.metrics.write_metrics so that it has METRIC_COLUMNS"
        )
    extra = [c for c in frame.columns if c not in METRIC_COLUMNS]
    if extra:
        raise MetricsFileError(f"metrics file {path} has unknown column(s) {extra}")
    frame["source"] = str(path)
    return frame


def collect_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All metrics files concatenated (``AGGREGATE_COLUMNS``); each path and each identical row once."""
    paths = list(dict.fromkeys(str(p) for p in paths))
    frames = [read_metrics(p) for p in paths]
    if not frames:
        return pd.DataFrame(columns=list(AGGREGATE_COLUMNS))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(AGGREGATE_COLUMNS))
    frame = pd.concat(frames, ignore_index=True)[list(AGGREGATE_COLUMNS)]
    # A task may write per-run files and a merged one; the same measurement (every
    # column equal, wall time included) is counted once, from the first file.
    frame = frame.drop_duplicates(subset=list(METRIC_COLUMNS), keep="first")
    return frame.sort_values(
        ["task", "dataset", "estimator", "tau", "k", "metric", "seed"], kind="stable", na_position="last"
    ).reset_index(drop=True)


def collect_provenance(metrics_paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per ``provenance.json`` found next to a metrics file.

    Columns: ``source`` (the provenance file), seed, config hash, git commit,
    device, platform, created, and one ``pkg:<name>`` column per package version.
    """
    records = []
    seen = set()
    for metrics_path in metrics_paths:
        candidate = Path(metrics_path).with_name("provenance.json")
        if candidate in seen or not candidate.is_file():
            continue
        seen.add(candidate)
        prov = json.loads(candidate.read_text())
        record = {"source": str(candidate)}
        for key in ("seed", "config_hash", "git_commit", "device", "platform", "created"):
            value = prov.get(key)
            record[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
        for package, version in sorted((prov.get("packages") or {}).items()):
            record[f"pkg:{package}"] = version
        records.append(record)
    return pd.DataFrame(records)
