"""The profile's results document (tables, job wall times, metrics CSV, figures)."""

from pathlib import Path

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.results.document import write_results_document
from subsetgrad.bench.results.specs import build_title, task_of_table

params, out = snakemake.params, snakemake.output
sections = [
    (task_of_table(name), build_title(name), Path(md))
    for name, md in zip(params.tables, snakemake.input.tables)
]
figures = {task: [Path(p) for p in paths] for task, paths in params.figures.items()}
write_results_document(
    snakemake.config["profile"],
    sections,
    figures,
    Path(snakemake.input.metrics),
    Path(params.benchmark_dir),
    Path(out.markdown),
    Path(out.csv),
    Path(params.image_dir),
    params.max_image_bytes,
)
