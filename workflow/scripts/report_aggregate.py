"""Collect every run's tidy metrics (and their provenance) into results/<profile>/."""

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.io import write_csv
from subsetgrad.bench.results import collect_metrics, collect_provenance

paths = list(snakemake.input.metrics)
metrics = collect_metrics(paths)
write_csv(snakemake.output.metrics, metrics)
write_csv(snakemake.output.provenance, collect_provenance(paths))
for task in snakemake.params.tasks:
    if task not in set(metrics.task):
        print(f"warning: task {task!r} is enabled but has no metrics rows; its tables show it as missing")
print(f"{len(metrics)} metric rows from {len(paths)} file(s)")
print(metrics.groupby(["task", "metric"]).size().to_string() if len(metrics) else "no metrics")
