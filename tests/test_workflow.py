"""The Snakemake workflow: dry runs of every profile, lint, a tiny end-to-end run, bad config."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
CONFIGS = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "config.yaml")


def snakemake(*args, cwd=REPO, timeout=900):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.mark.parametrize("configfile", [None, *CONFIGS], ids=lambda p: p.name if p else "config.yaml")
def test_dry_run_resolves(configfile):
    args = ["-n", "--quiet", "rules"] + (["--configfile", str(configfile)] if configfile else [])
    result = snakemake(*args)
    assert result.returncode == 0, result.stderr + result.stdout


def test_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_config_is_rejected_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  synthetic:\n    k: 0\n")
    result = snakemake("-n", "--configfile", str(bad))
    assert result.returncode != 0
    assert "tasks.synthetic.k': 0 is below the minimum 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_tiny_end_to_end_run(tmp_path):
    """Run the test profile in a copy of the workflow so the checkout stays clean."""
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", ".snakemake", "data", "__pycache__", ".hypothesis"))
    result = snakemake("--cores", "2", "--configfile", "config/test.yaml", cwd=work)
    assert result.returncode == 0, result.stderr[-5000:]
    out = work / "results/test"
    dist = pd.read_csv(out / "synthetic/subset_distribution.csv")
    assert len(dist) == 6 * 2  # 6 subsets x 2 temperatures x 1 seed
    metrics = pd.read_csv(out / "synthetic/metrics.csv")
    tv = metrics[metrics.metric == "tv_distance"].value
    assert len(tv) == 2 and (tv < 0.05).all()  # N = 2000: expected TV by chance is about 0.017
    assert (out / "synthetic/subset_distribution.png").stat().st_size > 10_000
    assert (out / "synthetic/provenance.json").exists()
    assert (out / "benchmarks/synthetic_sample.tsv").exists()
