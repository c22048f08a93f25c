import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.experiments.knn.report import accuracy_table, plot_accuracy, plot_curves, table_markdown
from subsetgrad.io import save_figure, write_csv, write_text

metrics = pd.concat([pd.read_csv(p) for p in [*snakemake.input.runs, *snakemake.input.baselines]],
                    ignore_index=True)
curves = pd.concat([pd.read_csv(p) for p in snakemake.input.curves], ignore_index=True)
table = accuracy_table(metrics)
write_csv(snakemake.output.metrics, metrics)
write_csv(snakemake.output.curves, curves)
write_csv(snakemake.output.table_csv, table)
write_text(snakemake.output.table_md, table_markdown(table))
save_figure(plot_accuracy(table), snakemake.output.figure_png, snakemake.output.figure_pdf)
save_figure(plot_curves(curves), snakemake.output.curves_png)
print(table.to_string(index=False))
