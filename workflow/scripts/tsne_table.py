import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.experiments.tsne.jobs import table_job

table_job(metrics_paths=[*snakemake.input.runs, *snakemake.input.references],
          metrics_out=snakemake.output.metrics, table_csv=snakemake.output.csv,
          table_md=snakemake.output.md)
