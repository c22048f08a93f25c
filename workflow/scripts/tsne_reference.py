from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.experiments.tsne.jobs import reference_job
from subsetgrad.bench.runtime import set_threads

set_threads(snakemake.threads)
wc, out = snakemake.wildcards, snakemake.output
reference_job(
    data_path=snakemake.input.data,
    dataset=wc.dataset,
    dim=int(wc.dim),
    seed=int(wc.seed),
    metrics_path=out.metrics,
    embedding_paths=dict(zip(snakemake.params.references, out.embeddings)),
    provenance_path=out.provenance,
)
