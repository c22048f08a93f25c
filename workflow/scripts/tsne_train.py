from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

from subsetgrad.bench.experiments.tsne.jobs import train_job
from subsetgrad.bench.runtime import set_threads

set_threads(snakemake.threads)
wc, out = snakemake.wildcards, snakemake.output
pretrained = list(snakemake.input.pretrained)
train_job(
    data_path=snakemake.input.data,
    dataset=wc.dataset,
    task=snakemake.params.task,
    dim=int(wc.dim),
    init=wc.init,
    method=wc.method,
    seed=int(wc.seed),
    device=snakemake.params.device,
    pretrained_path=pretrained[0] if pretrained else None,
    metrics_path=out.metrics,
    embedding_path=out.embedding,
    history_path=out.history,
    provenance_path=out.provenance,
    checkpoint_dir=snakemake.params.checkpoint_dir,
)
