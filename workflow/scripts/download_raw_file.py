import sys

from subsetgrad.bench.workflow_log import redirect_to_log

redirect_to_log(snakemake)  # noqa: F821 (injected by Snakemake)

from subsetgrad.bench.data import DataError, RawFile, download_raw_file

params = snakemake.params  # noqa: F821
raw_file = RawFile(
    snakemake.wildcards.raw.split("/", 1)[1],
    tuple(params.urls),
    params.algorithm,  # noqa: F821
    params.checksum,
    params.note,
)
try:
    download_raw_file(raw_file, snakemake.output[0])  # noqa: F821
except DataError as err:
    # A clear message instead of a traceback; Snakemake prints the log of a failed job.
    print(f"error: {err}", flush=True)
    sys.exit(1)
