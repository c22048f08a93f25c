from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

from subsetgrad.bench.experiments.tsne.jobs import pretrain_job
from subsetgrad.bench.runtime import set_threads

set_threads(snakemake.threads)
wc = snakemake.wildcards
pretrain_job(
    data_path=snakemake.input.data,
    dataset=wc.dataset,
    task=snakemake.params.task,
    dim=int(wc.dim),
    seed=int(wc.seed),
    device=snakemake.params.device,
    weights_path=snakemake.output.weights,
    history_path=snakemake.output.history,
    checkpoint_dir=snakemake.params.checkpoint_dir,
)
