"""Test-only fault injection for tests/test_kill_anywhere.py: SIGKILL a workflow mid-job.

Python imports this module at start-up when its folder is on PYTHONPATH. It acts only in
the processes Snakemake starts for the workflow's scripts (``.snakemake/scripts/tmp*.<script>.py``)
and only when ``SUBSETGRAD_TEST_KILL_DIR`` names a folder; it then counts *events* in the
job: every backward pass (``Tensor.backward``, ``torch.autograd.grad``) and every step of
an atomic write (``os.fsync``, ``os.replace``), so that kill points fall inside training
steps, between epochs and between the steps of writing a checkpoint or an output.

* Counting: at exit the job adds its number of events to ``<dir>/counts/<script>.<pid>``.
* Killing: ``<dir>/plan.json`` maps a script to an event number N. The first job of that
  script to reach event N (before running it) records ``<dir>/fired/<script>`` and SIGKILLs
  the process group in ``SUBSETGRAD_TEST_KILL_GROUP`` (the Snakemake run's), which takes
  itself and every other job down with it. Each point fires once per folder. The record
  (JSON) holds the point, the job's log file and how many checkpoints the job had written,
  so that the test can tell which reruns must resume.
"""

import os
import sys


def _script_name():
    base = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    parts = base.split(".")
    if len(parts) >= 3 and parts[0].startswith("tmp") and parts[-1] == "py":
        return parts[-2]
    return None


def _install(folder, script):
    import atexit
    import json
    import signal

    plan = {}
    if os.path.exists(os.path.join(folder, "plan.json")):
        with open(os.path.join(folder, "plan.json")) as handle:
            plan = json.load(handle)
    fired = os.path.join(folder, "fired", script)
    target = plan.get(script) if not os.path.exists(fired) else None
    count, checkpoints = [0], [0]

    def event():
        count[0] += 1
        if target is not None and count[0] == target:
            os.makedirs(os.path.dirname(fired), exist_ok=True)
            log = getattr(sys.stdout, "name", None)
            with open(fired, "w") as handle:
                json.dump({"at": target, "log": log, "checkpoints": checkpoints[0]}, handle)
            os.killpg(int(os.environ["SUBSETGRAD_TEST_KILL_GROUP"]), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)  # not reached when this job is in that group

    def counted(function):
        def wrapper(*args, **kwargs):
            event()
            return function(*args, **kwargs)

        return wrapper

    real_replace = os.replace

    def replace(source, destination, *args, **kwargs):
        event()
        real_replace(source, destination, *args, **kwargs)
        name = os.path.basename(str(destination))
        if "checkpoints" in str(destination) or name.startswith("resume_state"):
            checkpoints[0] += 1

    os.fsync = counted(os.fsync)
    os.replace = replace
    import torch

    torch.Tensor.backward = counted(torch.Tensor.backward)
    torch.autograd.grad = counted(torch.autograd.grad)

    def record():
        os.makedirs(os.path.join(folder, "counts"), exist_ok=True)
        with open(os.path.join(folder, "counts", f"{script}.{os.getpid()}"), "w") as handle:
            handle.write(str(count[0]))

    atexit.register(record)


if os.environ.get("SUBSETGRAD_TEST_KILL_DIR") and _script_name():
    _install(os.environ["SUBSETGRAD_TEST_KILL_DIR"], _script_name())
