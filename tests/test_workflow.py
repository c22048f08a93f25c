"""The Snakemake workflow: dry runs of every profile, lint, a tiny end-to-end run, bad config."""

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, synthetic_law_p_values

CONFIGS = sorted(p for p in (REPO / "config").glob("*.yaml") if p.name != "config.yaml")


@pytest.mark.parametrize("configfile", [None, *CONFIGS], ids=lambda p: p.name if p else "config.yaml")
def test_dry_run_resolves(configfile):
    args = ["-n", "--quiet", "rules"] + (["--configfile", str(configfile)] if configfile else [])
    result = run_snakemake(REPO, *args)
    assert result.returncode == 0, result.stderr + result.stdout


def test_lint_is_clean():
    result = run_snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_config_is_rejected_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  synthetic:\n    k: 0\n")
    result = run_snakemake(REPO, "-n", "--configfile", bad)
    assert result.returncode != 0
    assert "tasks.synthetic.k': 0 is below the minimum 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_tiny_end_to_end_run(workflow_copy):
    """Run the test profile in a copy of the workflow so the checkout stays clean."""
    result = run_snakemake(workflow_copy, "--cores", "2", "--configfile", "config/test.yaml")
    assert result.returncode == 0, result.stderr[-5000:]
    out = workflow_copy / "results/test"
    dist = pd.read_csv(out / "synthetic/subset_distribution.csv")
    assert len(dist) == 6 * 2  # 6 subsets x 2 temperatures x 1 seed
    metrics = pd.read_csv(out / "synthetic/metrics.csv")
    tv = metrics[metrics.metric == "tv_distance"].value
    assert len(tv) == 2 and (tv < 0.02).all()  # N = 20,000: TV by chance is about 0.005
    # the law itself: at N = 20,000 this rejects reversed Gumbel noise (TV 0.023) with power 0.99999
    assert min(synthetic_law_p_values(dist).values()) > 1e-3
    assert (out / "synthetic/subset_distribution.png").stat().st_size > 10_000
    assert (out / "synthetic/provenance.json").exists()
    assert (out / "benchmarks/synthetic_sample.tsv").exists()
