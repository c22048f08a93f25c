import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.experiments.l2x.report import black_box_table, plot_summary, summary_markdown, summary_table
from subsetgrad.io import save_figure, write_csv, write_text

metrics = pd.concat([pd.read_csv(p) for p in [*snakemake.input.black_boxes, *snakemake.input.runs]],
                    ignore_index=True)
write_csv(snakemake.output.metrics, metrics)
table = summary_table(metrics)
write_csv(snakemake.output.csv, table)
markdown = summary_markdown(table, black_box_table(metrics))
write_text(snakemake.output.md, markdown)
save_figure(plot_summary(metrics), snakemake.output.png, snakemake.output.pdf)
print(markdown)
