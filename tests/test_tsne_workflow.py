"""The t-SNE rules end to end on the test profile (pretraining, three methods, references,
merged metrics and scatter figure), in a copy of the workflow so the checkout stays clean."""

import pandas as pd
import pytest
from conftest import run_snakemake


@pytest.mark.slow
def test_tsne_rules_end_to_end(workflow_copy):
    work = workflow_copy
    out = work / "results/test/tsne"
    targets = ["results/test/tsne/metrics.csv", "results/test/tsne/scatter_digits_pretrained.png"]
    result = run_snakemake(work, "--cores", "2", "--configfile", "config/test.yaml", "--", *targets)
    assert result.returncode == 0, result.stderr[-5000:]

    metrics = pd.read_csv(out / "metrics.csv")
    trained = {"subset_sequence", "ptsne", "relaxed"}
    assert set(metrics.estimator) == trained | {"random_projection", "pca"}
    assert set(metrics.metric) == {"one_nn_error", "trustworthiness_12"}
    assert metrics.value.between(0, 1).all()
    # trained runs are labelled with their init; the references have none (scratch label)
    assert set(metrics[metrics.estimator.isin(trained)].dataset) == {"digits_d2_pretrained"}
    assert set(metrics[~metrics.estimator.isin(trained)].dataset) == {"digits_d2"}
    assert (metrics.task == "tsne").all() and metrics.git_commit.notna().all()
    ptsne = metrics[metrics.estimator == "ptsne"]
    assert ptsne.tau.isna().all() and ptsne.k.isna().all()
    assert (metrics[metrics.estimator == "subset_sequence"].tau == 0.1).all()

    run = out / "runs/digits/d2/pretrained/subset_sequence/seed0"
    for name in ("metrics.csv", "embedding.npz", "history.csv", "provenance.json"):
        assert (run / name).exists(), name
    assert len(pd.read_csv(run / "history.csv")) == 2  # the test profile's epochs
    assert len(pd.read_csv(out / "pretrained/digits/d2/seed0_history.csv")) == 4  # one per layer
    assert (out / "scatter_digits_pretrained.png").stat().st_size > 10_000
    assert (work / "results/test/benchmarks/tsne/train_digits_d2_pretrained_ptsne_seed0.tsv").exists()
