from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.experiments.synthetic import run_synthetic, tv_table
from subsetgrad.bench.io import write_csv, write_json, write_text
from subsetgrad.bench.metrics import write_metrics
from subsetgrad.bench.provenance import provenance
from subsetgrad.bench.runtime import set_threads

set_threads(snakemake.threads)
task, seeds = snakemake.params.task, snakemake.params.seeds
prov = provenance({"synthetic": task, "seeds": seeds}, seed=seeds, device="cpu")
distribution, metrics = run_synthetic(
    task["weights"], task["k"], task["temperatures"], task["num_samples"], seeds
)
write_csv(snakemake.output.distribution, distribution)
write_metrics(snakemake.output.metrics, metrics.to_dict("records"), prov)
table = tv_table(metrics)
write_csv(snakemake.output.tv_csv, table)
write_text(snakemake.output.tv_md, table.to_markdown(index=False, floatfmt=("g", ".4f", ".4f", "d")) + "\n")
write_json(snakemake.output.provenance, prov)
print(table.to_string(index=False))
