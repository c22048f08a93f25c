"""Aggregate the study's problems into one table (CSV + Markdown)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

import pandas as pd

from subsetgrad.experiments.study import study_table, table_markdown
from subsetgrad.io import write_csv, write_text

metrics = pd.concat([pd.read_csv(path) for path in snakemake.input.metrics], ignore_index=True)
table = study_table(metrics)
write_csv(snakemake.output.csv, table)
markdown = table_markdown(table)
write_text(snakemake.output.md, "# Estimator study: bias and variance against exact gradients\n\n" + markdown)
print(markdown)
