"""Published numbers the measured results are compared with, kept apart from them.

They live in one data file, ``published.csv`` next to this module, one row per
quoted number: ``table, dataset, method, metric, value, unit, relation, source,
note``. ``relation`` is ``=`` for a reported value and ``<=`` for a reported
bound ("within 0.016"). ``unit`` is ``fraction`` or ``percent`` as printed in the
source; :func:`published` converts to the unit a table asks for. Every value is
quoted from the paper or the paper it compares against (``source`` names the
table); none is a result of this project.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

PUBLISHED_COLUMNS = ("table", "dataset", "method", "metric", "value", "unit", "relation", "source", "note")
_UNIT_SCALE = {"fraction": 1.0, "percent": 100.0}


def load_published() -> pd.DataFrame:
    """All published numbers, as stored (units as printed in the source)."""
    with resources.files(__package__).joinpath("published.csv").open() as handle:
        frame = pd.read_csv(handle, keep_default_na=False, na_values=[""])
    missing = set(PUBLISHED_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"published.csv lacks the column(s) {sorted(missing)}")
    unknown_units = set(frame.unit) - set(_UNIT_SCALE)
    if unknown_units:
        raise ValueError(
            f"published.csv: unknown unit(s) {sorted(unknown_units)}; use one of {sorted(_UNIT_SCALE)}"
        )
    return frame


def published(table: str, metric: str | None = None, unit: str = "fraction") -> pd.DataFrame:
    """Published rows of one table (and metric), with ``value`` converted to ``unit``."""
    frame = load_published()
    frame = frame[frame.table == table]
    if metric is not None:
        frame = frame[frame.metric == metric]
    frame = frame.copy()
    frame["value"] = frame.value * _UNIT_SCALE[unit] / frame.unit.map(_UNIT_SCALE)
    frame["unit"] = unit
    return frame.reset_index(drop=True)
