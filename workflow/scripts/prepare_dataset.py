import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.data import prepare_dataset, save_dataset

dataset = prepare_dataset(snakemake.wildcards.dataset, snakemake.params.raw_dir,
                          snakemake.params.split_seed)
save_dataset(dataset, snakemake.output.npz)
print(dataset.describe())
