"""One study problem (n, k, loss): every estimator setting and seed against exact gradients."""

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.experiments.study import check_dataset_in_config, run_study
from subsetgrad.bench.io import write_json
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import resolve_device, seed_everything, set_threads

set_threads(snakemake.threads)
task, seeds = snakemake.params.task, list(snakemake.params.seeds)
dataset = snakemake.wildcards.dataset
n, k, loss = check_dataset_in_config(dataset, task)
device = resolve_device(snakemake.params.device)
seed_everything(seeds[0])  # sampling uses per-setting generators; this pins anything global
prov = provenance({"study": task, "dataset": dataset, "seeds": seeds}, seed=seeds, device=str(device))
rows = run_study(
    n, k, loss, task["estimators"], task["temperatures"], seeds, task["num_gradients"], device=device
)
write_metrics(snakemake.output.metrics, rows, prov)
write_json(snakemake.output.provenance, prov)
print(f"{dataset}: {len(rows)} metric rows")
