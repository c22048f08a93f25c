"""Send a workflow script's output to its rule's log file.

Snakemake runs each script in its own process; without this, warnings, progress and
tracebacks would interleave on the terminal of the whole run instead of landing in
``results/<profile>/logs/``, where a failed job's message is looked for.

Every workflow script calls :func:`redirect_to_log` first, so it is also where a job makes
the config's plug-in estimators known in its own process (:mod:`subsetgrad.bench.plugins`).
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
    first log file of the job, line-buffered so that a killed job keeps what it wrote; then
    register the config's plug-in estimators in this process. A
    :class:`~subsetgrad.bench.data.core.DataError` ends the job with its message alone."""
    sys.excepthook = _report_data_errors
    if snakemake.log:
        _redirect(snakemake.log[0])
    from subsetgrad.bench.plugins import register_config_estimators

    problems = register_config_estimators(snakemake.config)
    if problems:  # validated before the run; a module edited since then fails here
        raise RuntimeError("plug-in estimators of the config:\n" + "\n".join(problems))


def _redirect(path) -> None:
    handle = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = handle
    logging.basicConfig(
        stream=handle, level=logging.INFO, force=True, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
