import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

import torch

from subsetgrad.data import load_dataset
from subsetgrad.experiments.l2x.run import run_explainer
from subsetgrad.io import torch_save, write_csv, write_json, write_text
from subsetgrad.metrics import write_metrics
from subsetgrad.provenance import provenance
from subsetgrad.runtime import resolve_device, set_threads

set_threads(snakemake.threads)
device = resolve_device(snakemake.params.device)
wc = snakemake.wildcards
seed = int(wc.l2x_seed)
settings = snakemake.params.settings
prov = provenance({"l2x": settings, "dataset": wc.l2x_dataset, "estimator": wc.l2x_estimator,
                   "tau": wc.l2x_tau, "estimator_options": snakemake.params.estimator_options},
                  seed=seed, device=str(device))
black_box = torch.load(snakemake.input.black_box, map_location="cpu", weights_only=False)
# Per-epoch resume state: not a declared output, so Snakemake never deletes it on failure.
resume = Path(snakemake.output.explainer).with_name("resume_state.pt")
result = run_explainer(load_dataset(snakemake.input.data), black_box, settings, wc.l2x_estimator,
                       wc.l2x_tau, seed, device, resume, snakemake.params.num_examples,
                       snakemake.params.estimator_options)
torch_save(result.checkpoint, snakemake.output.explainer)
write_csv(snakemake.output.curve, result.curve)
write_text(snakemake.output.examples, result.extras["examples_html"])
write_metrics(snakemake.output.metrics, result.metrics, prov)
write_json(snakemake.output.provenance, prov)
resume.unlink(missing_ok=True)  # finished: a forced rerun trains afresh
for row in result.metrics:
    print(f"{row['metric']}: {row['value']:.4f}")
