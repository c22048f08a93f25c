from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.experiments.tsne.jobs import scatter_job

wc = snakemake.wildcards
scatter_job(
    embedding_paths=[*snakemake.input.runs, *snakemake.input.references],
    methods=snakemake.params.methods,
    title=f"{wc.dataset}, d = 2, {wc.init}, seed {snakemake.params.seed}: test embeddings",
    png=snakemake.output.png,
    pdf=snakemake.output.pdf,
)
