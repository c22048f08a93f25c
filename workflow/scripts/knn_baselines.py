from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.data import load_dataset
from subsetgrad.bench.experiments.knn import run_baselines
from subsetgrad.bench.io import write_json
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device, set_threads

set_threads(snakemake.threads)
task, dataset = snakemake.params.task, snakemake.wildcards.dataset
device = resolve_device(snakemake.params.device)
prov = provenance({"knn": task, "dataset": dataset, "baselines": True}, device=str(device))
rows = run_baselines(load_dataset(snakemake.input.data), task, dataset, device=device)
write_metrics(snakemake.output.metrics, rows, prov)
write_json(snakemake.output.provenance, prov)
