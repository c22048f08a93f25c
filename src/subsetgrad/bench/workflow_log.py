"""Send a workflow script's output to its rule's log file.

Snakemake runs each script in its own process; without this, warnings, progress and
tracebacks would interleave on the terminal of the whole run instead of landing in
``results/<profile>/logs/``, where a failed job's message is looked for.
"""

import logging
import sys


def _report_data_errors(kind, error, traceback) -> None:
    """A bad data file is the user's to fix, not a bug: its message alone, no traceback."""
    from subsetgrad.bench.data.core import DataError

    if isinstance(error, DataError):
        print(f"error: {error}", file=sys.stderr, flush=True)
    else:
        sys.__excepthook__(kind, error, traceback)


def redirect_to_log(snakemake) -> None:
    """Redirect stdout, stderr and the ``logging`` records (the library's included) to the
    first log file of the job, line-buffered so that a killed job keeps what it wrote. A
    :class:`~subsetgrad.bench.data.core.DataError` ends the job with its message alone."""
    sys.excepthook = _report_data_errors
    if not snakemake.log:
        return
    handle = open(snakemake.log[0], "w", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, force=True, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
