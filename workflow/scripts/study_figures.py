"""The study's figures: bias and variance vs temperature, and bias against variance."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.experiments.study import plot_bias_variance, plot_versus_temperature
from subsetgrad.io import save_figure

metrics = pd.concat([pd.read_csv(path) for path in snakemake.input.metrics], ignore_index=True)
save_figure(plot_versus_temperature(metrics), snakemake.output.temperature_png,
            snakemake.output.temperature_pdf)
save_figure(plot_bias_variance(pd.read_csv(snakemake.input.table)), snakemake.output.scatter_png,
            snakemake.output.scatter_pdf)
