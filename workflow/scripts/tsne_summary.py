from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.experiments.tsne.jobs import summary_job

summary_job(
    metrics_paths=[*snakemake.input.runs, *snakemake.input.references], metrics_out=snakemake.output.metrics
)
