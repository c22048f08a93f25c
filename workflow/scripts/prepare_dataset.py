import sys

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.data import DataError, prepare_byo, prepare_dataset, save_dataset

name, params = snakemake.wildcards.dataset, snakemake.params  # noqa: F821
try:
    if params.byo:
        dataset = prepare_byo(name, dict(params.byo), params.split_seed)
    else:
        dataset = prepare_dataset(name, params.raw_dir, params.split_seed)
except DataError as err:
    # A clear message instead of a traceback; Snakemake prints the log of a failed job.
    print(f"error: {err}", flush=True)
    sys.exit(1)
save_dataset(dataset, snakemake.output.npz)  # noqa: F821
print(dataset.describe())
