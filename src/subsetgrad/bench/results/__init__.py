"""Results: aggregation of every run's tidy metrics, paper-style tables (CSV,
Markdown, LaTeX, HTML), figures in one style, and published reference numbers.

The Snakemake rules in ``workflow/rules/report.smk`` call into this package; the
``snakemake --report`` HTML report collects what they write.
"""

from subsetgrad.bench.results.aggregate import (
    AGGREGATE_COLUMNS,
    MetricsFileError,
    collect_metrics,
    collect_provenance,
    read_metrics,
)
from subsetgrad.bench.results.published import load_published, published
from subsetgrad.bench.results.tables import MISSING, NOT_APPLICABLE, ResultTable, summary_table, write_tables

__all__ = [
    "AGGREGATE_COLUMNS",
    "MISSING",
    "MetricsFileError",
    "NOT_APPLICABLE",
    "ResultTable",
    "collect_metrics",
    "collect_provenance",
    "load_published",
    "published",
    "read_metrics",
    "summary_table",
    "write_tables",
]
