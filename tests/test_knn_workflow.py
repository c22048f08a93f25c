"""The kNN rules end to end on the test profile, in a copy of the workflow: outputs,
table, figures, and a rerun that resumes from the kept checkpoint."""
import shutil

import pandas as pd
import pytest

from test_workflow import REPO, snakemake

KNN = "results/test/knn"


@pytest.mark.slow
def test_knn_rules_produce_table_and_resume(tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", ".snakemake", "data", "__pycache__", ".hypothesis"))
    targets = [f"{KNN}/accuracy.md", f"{KNN}/accuracy.png", f"{KNN}/curves.png"]
    result = snakemake("--cores", "2", "--configfile", "config/test.yaml", "--", *targets, cwd=work)
    assert result.returncode == 0, result.stderr[-5000:]
    out = work / KNN

    table = pd.read_csv(out / "accuracy.csv")
    assert sorted(table.estimator) == ["pca10", "raw_pixels", "reinforce", "relaxed"]
    assert table.test_accuracy_mean.between(0, 1).all()
    assert (table.loc[table.kind == "baseline", "test_accuracy_mean"] > 0.9).all()
    metrics = pd.read_csv(out / "metrics.csv")
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
    result = snakemake("--cores", "1", "--configfile", "config/test.yaml", "--",
                       f"{KNN}/digits/relaxed/tau1/seed0/metrics.csv", cwd=work)
    assert result.returncode == 0, result.stderr[-5000:]
    log = (work / "results/test/logs/knn/train_digits_relaxed_tau1_seed0.log").read_text()
    assert "resumed from" in log
    after = pd.read_csv(run_dir / "metrics.csv")
    assert after.set_index("metric").value.equals(before.set_index("metric").value)
