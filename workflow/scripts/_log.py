"""Send a script's stdout and stderr (warnings, tracebacks) to its rule's log file."""
import sys


def redirect_to_log(snakemake) -> None:
    if snakemake.log:
        handle = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = handle
