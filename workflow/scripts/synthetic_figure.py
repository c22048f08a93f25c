import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.experiments.synthetic import plot_distribution
from subsetgrad.io import save_figure

fig = plot_distribution(pd.read_csv(snakemake.input.distribution))
save_figure(fig, snakemake.output.png, snakemake.output.pdf)
