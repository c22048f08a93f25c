"""Send a workflow script's output to its rule's log file.

Snakemake runs each script in its own process; without this, warnings, progress and
tracebacks would interleave on the terminal of the whole run instead of landing in
``results/<profile>/logs/``, where a failed job's message is looked for.
"""

import logging
import sys


def redirect_to_log(snakemake) -> None:
    """Redirect stdout, stderr and the ``logging`` records (the library's included) to the
    first log file of the job, line-buffered so that a killed job keeps what it wrote."""
    if not snakemake.log:
        return
    handle = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, force=True, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
