from pathlib import Path

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

import torch

from subsetgrad.bench.checkpoints import remove_checkpoint
from subsetgrad.bench.data import load_dataset
from subsetgrad.bench.experiments.common import parse_tau_label
from subsetgrad.bench.experiments.l2x.train import run_explainer
from subsetgrad.bench.io import torch_save, write_csv, write_json, write_text
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device, set_threads

set_threads(snakemake.threads)
device = resolve_device(snakemake.params.device)
wc = snakemake.wildcards
seed = int(wc.seed)
settings = snakemake.params.settings
prov = provenance(
    {
        "l2x": settings,
        "dataset": wc.dataset,
        "estimator": wc.estimator,
        "tau": parse_tau_label(wc.tau),
        "estimator_options": snakemake.params.estimator_options,
    },
    seed=seed,
    device=str(device),
)
# a state dict and the spec to rebuild the model from: plain data, loaded without running code
black_box = torch.load(snakemake.input.black_box, map_location="cpu", weights_only=True)
# Per-epoch resume state: not a declared output, so Snakemake never deletes it on failure.
resume = Path(snakemake.output.explainer).with_name("resume_state.pt")
result = run_explainer(
    load_dataset(snakemake.input.data),
    black_box,
    settings,
    wc.estimator,
    wc.tau,
    seed,
    device,
    resume,
    snakemake.params.num_examples,
    snakemake.params.estimator_options,
)
torch_save(result.checkpoint, snakemake.output.explainer)
write_csv(snakemake.output.curve, result.curve)
write_text(snakemake.output.examples, result.extras["examples_html"])
write_metrics(snakemake.output.metrics, result.metrics, prov)
write_json(snakemake.output.provenance, prov)
remove_checkpoint(resume)  # finished: a forced rerun trains afresh
for row in result.metrics:
    print(f"{row['metric']}: {row['value']:.4f}")
