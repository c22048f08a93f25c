"""The tidy metrics schema shared by every task: one row per (run, metric)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from subsetgrad.bench.io import write_csv

#: Columns of every ``metrics.csv``; aggregation relies on this order and these names.
METRIC_COLUMNS = (
    "task",
    "dataset",
    "estimator",
    "tau",
    "k",
    "seed",
    "metric",
    "value",
    "wall_time_s",
    "epochs",
    "git_commit",
    "config_hash",
    "device",
)


def metrics_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """Build a DataFrame with exactly ``METRIC_COLUMNS``; missing optional fields become NaN.

    ``task``, ``metric`` and ``value`` are required in every row.
    """
    rows = list(rows)
    for i, row in enumerate(rows):
        unknown = set(row) - set(METRIC_COLUMNS)
        if unknown:
            raise ValueError(f"metrics row {i} has unknown column(s) {sorted(unknown)}")
        for key in ("task", "metric", "value"):
            if key not in row:
                raise ValueError(f"metrics row {i} lacks the required column {key!r}")
        if not isinstance(row["value"], (int, float)) or isinstance(row["value"], bool):
            raise ValueError(f"metrics row {i}: value must be a number, got {row['value']!r}")
        if math.isinf(row["value"]):
            raise ValueError(f"metrics row {i}: value is infinite ({row['metric']})")
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def write_metrics(path, rows: Iterable[dict], provenance: dict | None = None) -> pd.DataFrame:
    """Write tidy metrics atomically, stamping each row with the run's provenance."""
    stamp = {}
    if provenance is not None:
        stamp = {
            "git_commit": provenance.get("git_commit"),
            "config_hash": provenance.get("config_hash"),
            "device": provenance.get("device"),
        }
    frame = metrics_frame({**stamp, **row} for row in rows)
    write_csv(path, frame)
    return frame
