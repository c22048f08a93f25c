"""The study's problems merged into one tidy metrics file, and its figures."""

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.experiments.study import plot_bias_variance, plot_versus_temperature
from subsetgrad.bench.io import save_figure, write_csv

metrics = pd.concat([pd.read_csv(path) for path in snakemake.input.metrics], ignore_index=True)
write_csv(snakemake.output.metrics, metrics)
save_figure(
    plot_versus_temperature(metrics), snakemake.output.temperature_png, snakemake.output.temperature_pdf
)
save_figure(plot_bias_variance(metrics), snakemake.output.scatter_png, snakemake.output.scatter_pdf)
print(f"{len(metrics)} metric rows from {len(snakemake.input.metrics)} problem(s)")
