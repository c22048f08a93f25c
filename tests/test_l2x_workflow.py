"""L2X in the workflow: the paper profile's DAG resolves; the test profile runs end to end."""

import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake

# The l2x part of the paper profile (the same as in config/paper.yaml once that exists).
PAPER_L2X = """
datasets: [imdb_word, imdb_sentence]
estimators: [relaxed, straight_through, reinforce, reinforce_loo, concrete, neuralsort]
temperatures: [0.1, 0.5, 1, 2, 5]
num_examples: 20
settings:
  imdb_word:
    k: 10
    black_box: {epochs: 5, batch_size: 40, lr: 1.0e-3, optimizer: adam}
    explainer: {epochs: 50, batch_size: 40, lr: 1.0e-3, optimizer: rmsprop}
  imdb_sentence:
    k: 1
    black_box: {epochs: 5, batch_size: 100, lr: 1.0e-3, optimizer: adam}
    explainer: {epochs: 50, batch_size: 100, lr: 1.0e-3, optimizer: rmsprop}
"""


def _paper_l2x() -> dict:
    paper = REPO / "config/paper.yaml"
    if paper.exists():
        section = (yaml.safe_load(paper.read_text()).get("tasks") or {}).get("l2x")
        if section:
            return section
    return yaml.safe_load(PAPER_L2X)


def test_paper_l2x_dry_run_resolves(tmp_path):
    section = _paper_l2x()
    assert section["settings"]["imdb_word"]["k"] == 10 and section["settings"]["imdb_sentence"]["k"] == 1
    assert sorted(section["temperatures"]) == [0.1, 0.5, 1, 2, 5]
    config = tmp_path / "paper_l2x.yaml"
    # Only the l2x task, so that the dry run lists exactly its jobs.
    config.write_text(
        yaml.safe_dump(
            {"profile": "paper_l2x_dry", "gpus_per_job": 1, "seeds": [0, 1, 2], "tasks": {"l2x": section}}
        )
    )
    result = run_snakemake(
        REPO,
        "-n",
        "--quiet",
        "rules",
        "--configfile",
        str(config),
        "--",
        "results/paper_l2x_dry/l2x/metrics.csv",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    counts = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    # per dataset and seed: 4 tempered estimators x 5 temperatures + 2 without a temperature
    assert counts["l2x_explainer"] == 2 * 3 * (4 * 5 + 2)
    assert counts["l2x_black_box"] == 2 * 3
    assert counts["l2x_summary"] == 1


@pytest.mark.slow
def test_l2x_test_profile_end_to_end(workflow_copy):
    """The test profile's l2x targets in a copy of the workflow (the checkout stays clean)."""
    work = workflow_copy
    targets = ["results/test/l2x/metrics.csv", "results/test/l2x/l2x.png"]
    result = run_snakemake(work, "--cores", "2", *targets, "--configfile", "config/test.yaml", timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    out = work / "results/test/l2x"
    test_config = yaml.safe_load((REPO / "config/test.yaml").read_text())["tasks"]["l2x"]
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics.task) == {"l2x"}
    assert set(test_config["estimators"]) <= set(metrics.estimator.dropna())
    posthoc = metrics[metrics.metric == "posthoc_accuracy"].value
    assert ((posthoc >= 0) & (posthoc <= 1)).all()
    run = out / "l2x_xor/reinforce/notau/seed0"
    for name in ("explainer.pt", "metrics.csv", "curve.csv", "examples.html", "provenance.json"):
        assert (run / name).exists(), name
    assert not (run / "resume_state.pt").exists()  # removed once the run finished
    assert (out / "l2x_xor/relaxed/tau1/seed0/metrics.csv").exists()
    assert (out / "l2x.png").stat().st_size > 10_000
    assert not (out / "summary.md").exists()  # the tables are the results rules'
