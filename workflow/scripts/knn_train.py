from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.gpu_slots import claim_for_job

claim_for_job(snakemake)  # noqa: F821 (under profiles/gpu: this job's device, before CUDA starts)

from subsetgrad.bench.data import load_dataset
from subsetgrad.bench.experiments.common import parse_tau_label
from subsetgrad.bench.experiments.knn import train_knn_run
from subsetgrad.bench.io import torch_save, write_csv, write_json
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device, set_threads

set_threads(snakemake.threads)
wc, task = snakemake.wildcards, snakemake.params.task
device = resolve_device(snakemake.params.device)
tau, seed = parse_tau_label(wc.tau), int(wc.seed)
prov = provenance(
    {"knn": task, "dataset": wc.dataset, "estimator": wc.estimator, "tau": tau}, seed=seed, device=str(device)
)
data = load_dataset(snakemake.input.data)
rows, curve, best = train_knn_run(
    data, task, wc.dataset, wc.estimator, tau, seed, snakemake.params.checkpoint, device=device
)
torch_save({**best, "net": task["nets"][wc.dataset], "provenance": prov}, snakemake.output.model)
write_csv(snakemake.output.curve, curve)
write_metrics(snakemake.output.metrics, rows, prov)
write_json(snakemake.output.provenance, prov)
