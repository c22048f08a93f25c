from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.bench.experiments.l2x.figures import plot_summary
from subsetgrad.bench.io import save_figure, write_csv

# Every run's rows in one file (the results rules read it); the tables are theirs.
metrics = pd.concat(
    [pd.read_csv(p) for p in [*snakemake.input.black_boxes, *snakemake.input.runs]], ignore_index=True
)
write_csv(snakemake.output.metrics, metrics)
save_figure(plot_summary(metrics), snakemake.output.png, snakemake.output.pdf)
print(
    f"{len(metrics)} metric rows from {len(snakemake.input.runs)} explainer runs and "
    f"{len(snakemake.input.black_boxes)} black boxes"
)
