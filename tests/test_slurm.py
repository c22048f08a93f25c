"""profiles/slurm on a real single-node SLURM cluster, started by .ci/slurm-up.sh.

The session fixture installs SLURM and munge with apt-get where they are missing, starts
munged, slurmctld and slurmd, and stops the daemons it started by their PIDs at the end.
Where that is impossible (not root, no apt-get, a site's own slurm.conf) the test skips
and says why. The cluster has no accounting daemon, so the run adds the two options a
site without slurmdbd needs (no account, squeue-based job status).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, synthetic_law_p_values

SLURM_UP, SLURM_DOWN = REPO / ".ci/slurm-up.sh", REPO / ".ci/slurm-down.sh"
CANNOT_SET_UP = 77  # slurm-up.sh's exit status for "not possible on this machine"


@pytest.fixture(scope="session")
def slurm_cluster():
    """A SLURM cluster that runs jobs; yields the names of the daemons started here."""
    if not sys.platform.startswith("linux") or shutil.which("bash") is None:
        pytest.skip("the SLURM test needs Linux and bash")
    up = subprocess.run(
        ["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
    )
    if up.returncode == CANNOT_SET_UP:
        reasons = up.stderr.strip().splitlines() or ["slurm-up.sh cannot set up SLURM here"]
        pytest.skip(reasons[-1])
    started = re.findall(r"^started (\S+) \d+$", up.stdout, flags=re.M)
    try:
        assert up.returncode == 0, f"slurm-up.sh failed:\n{up.stdout}\n{up.stderr}"
        yield started
    finally:
        if started:
            subprocess.run(["bash", str(SLURM_DOWN), *reversed(started)], timeout=120, capture_output=True)


@pytest.mark.slow
def test_test_profile_runs_through_the_slurm_executor(slurm_cluster, workflow_copy):
    work = workflow_copy
    targets = ["results/test/synthetic/tv_distance.md", "results/test/synthetic/subset_distribution.png"]
    # the SLURM jobs find snakemake and python on PATH: this environment's first
    path = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = run_snakemake(
        work,
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        "config/test.yaml",
        # a cluster without slurmdbd: no account to charge, job states from squeue
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        *targets,
        timeout=600,
        env=path,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]

    # Every job went through sbatch and SLURM records it as completed.
    submitted = dict(re.findall(r"rule (\w+):.*?submitted with SLURM jobid (\d+)", log, flags=re.S))
    assert set(submitted) == {"synthetic_sample", "synthetic_figure"}, log[-3000:]
    for rule, jobid in submitted.items():
        state = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", jobid, "-o", "%T"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        assert state == "COMPLETED", (rule, jobid, state)

    out = work / "results/test/synthetic"
    metrics = pd.read_csv(out / "metrics.csv")
    tv = metrics[metrics.metric == "tv_distance"].value
    assert len(tv) == 2 and (tv < 0.02).all()  # N = 20,000: TV by chance is about 0.005
    # the law itself: at N = 20,000 this rejects reversed Gumbel noise (TV 0.023) with power 0.99999
    assert min(synthetic_law_p_values(pd.read_csv(out / "subset_distribution.csv")).values()) > 1e-3
    assert (out / "subset_distribution.png").stat().st_size > 10_000


@pytest.mark.slow
def test_slurm_profile_gives_training_rules_their_resources(slurm_cluster):
    """A dry run with profiles/slurm: training jobs ask for the config's GPUs and more time."""
    result = run_snakemake(
        REPO,
        "-n",
        "--workflow-profile",
        "profiles/slurm",
        "--configfile",
        "config/test.yaml",
        "--config",
        "gpus_per_job=1",
        "--slurm-no-account",
        "--until",
        "knn_train",
        timeout=300,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    jobs = re.findall(r"rule knn_train:.*?resources: ([^\n]+)", log, flags=re.S)
    assert jobs, log[-3000:]
    for resources in jobs:
        assert "gpu=1" in resources and "runtime=720" in resources, resources
