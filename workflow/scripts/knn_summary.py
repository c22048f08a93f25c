from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.experiments.knn.figures import plot_accuracy, plot_curves
from subsetgrad.bench.io import save_figure, write_csv

metrics = pd.concat(
    [pd.read_csv(p) for p in [*snakemake.input.runs, *snakemake.input.baselines]], ignore_index=True
)
curves = pd.concat([pd.read_csv(p) for p in snakemake.input.curves], ignore_index=True)
write_csv(snakemake.output.metrics, metrics)
write_csv(snakemake.output.curves, curves)
save_figure(plot_accuracy(metrics), snakemake.output.figure_png, snakemake.output.figure_pdf)
save_figure(plot_curves(curves), snakemake.output.curves_png)
