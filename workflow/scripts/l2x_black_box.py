from pathlib import Path

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

from subsetgrad.bench.checkpoints import remove_checkpoint
from subsetgrad.bench.data import load_dataset
from subsetgrad.bench.experiments.l2x.train import run_black_box
from subsetgrad.bench.io import torch_save, write_csv, write_json
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device, set_threads

set_threads(snakemake.threads)
device = resolve_device(snakemake.params.device)
dataset_name, seed = snakemake.wildcards.dataset, int(snakemake.wildcards.seed)
settings = snakemake.params.settings
prov = provenance(
    {"l2x": settings, "dataset": dataset_name, "model": "black_box"}, seed=seed, device=str(device)
)
# Per-epoch resume state: not a declared output, so Snakemake never deletes it on failure.
resume = Path(snakemake.output.model).with_name("resume_state.pt")
result = run_black_box(load_dataset(snakemake.input.data), settings, seed, device, resume)
torch_save(result.checkpoint, snakemake.output.model)
write_csv(snakemake.output.curve, result.curve)
write_metrics(snakemake.output.metrics, result.metrics, prov)
write_json(snakemake.output.provenance, prov)
remove_checkpoint(resume)  # finished: a forced rerun trains afresh
for row in result.metrics:
    print(f"{row.get('estimator', '')} {row['metric']}: {row['value']:.4f}")
