from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.experiments.synthetic import plot_distribution
from subsetgrad.bench.io import save_figure

fig = plot_distribution(pd.read_csv(snakemake.input.distribution))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
