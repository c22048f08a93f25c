"""The kNN rules end to end on the test profile, in a copy of the workflow: outputs,
merged metrics, figures, and a rerun that resumes from the kept checkpoint."""

import pandas as pd
import pytest
from conftest import run_snakemake

KNN = "results/test/knn"


@pytest.mark.slow
def test_knn_rules_produce_metrics_figures_and_resume(workflow_copy):
    work = workflow_copy
    targets = [f"{KNN}/metrics.csv", f"{KNN}/accuracy.png", f"{KNN}/curves.png"]
    result = run_snakemake(work, "--cores", "2", "--configfile", "config/test.yaml", "--", *targets)
    assert result.returncode == 0, result.stderr[-5000:]
    out = work / KNN

    metrics = pd.read_csv(out / "metrics.csv")
    test = metrics[metrics.metric == "test_accuracy"]
    assert sorted(test.estimator) == ["pca10", "raw_pixels", "reinforce", "relaxed"]
    assert test.value.between(0, 1).all()
    baselines = test[test.seed.isna()]
    assert sorted(baselines.estimator) == ["pca10", "raw_pixels"] and (baselines.value > 0.9).all()
    assert {"val_accuracy", "test_accuracy", "untrained_val_accuracy"} <= set(metrics.metric)
    assert (metrics.task == "knn").all()
    curve = pd.read_csv(out / "digits/relaxed/tau1/seed0/curve.csv")
    assert curve.epoch.tolist() == [0, 1, 2]
    for name in ("accuracy.png", "accuracy.pdf", "curves.png"):
        assert (out / name).stat().st_size > 10_000
    assert (out / "digits/reinforce/notau/seed0/best_model.pt").exists()
    assert (work / "results/test/benchmarks/knn/train_digits_relaxed_tau1_seed0.tsv").exists()

    # A lost result is recomputed from the checkpoint Snakemake does not own: the rerun
    # resumes after the last epoch and reproduces the numbers.
    run_dir = out / "digits/relaxed/tau1/seed0"
    before = pd.read_csv(run_dir / "metrics.csv")
    (run_dir / "metrics.csv").unlink()
    result = run_snakemake(
        work,
        "--cores",
        "1",
        "--configfile",
        "config/test.yaml",
        "--",
        f"{KNN}/digits/relaxed/tau1/seed0/metrics.csv",
    )
    assert result.returncode == 0, result.stderr[-5000:]
    log = (work / "results/test/logs/knn/train_digits_relaxed_tau1_seed0.log").read_text()
    assert "resumed from" in log
    after = pd.read_csv(run_dir / "metrics.csv")
    assert after.set_index("metric").value.equals(before.set_index("metric").value)
