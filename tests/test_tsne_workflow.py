"""The t-SNE rules end to end on the test profile (pretraining, three methods, references,
table and scatter figure), in a copy of the workflow so the checkout stays clean."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


@pytest.mark.slow
def test_tsne_rules_end_to_end(tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", ".snakemake", "data", "__pycache__", ".hypothesis"))
    out = work / "results/test/tsne"
    targets = ["results/test/tsne/table.md", "results/test/tsne/scatter_digits_pretrained.png"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([SNAKEMAKE, "--cores", "2", "--configfile", "config/test.yaml", "--", *targets],
                            cwd=work, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-5000:]

    table = pd.read_csv(out / "table.csv")
    trained = {"subset_sequence", "ptsne", "relaxed"}
    assert set(table.method) == trained | {"random_projection", "pca"}
    assert set(table[table.method.isin(trained)].init) == {"pretrained"}
    assert set(table[~table.method.isin(trained)].init) == {"none"}
    assert table.one_nn_error_mean.between(0, 1).all()
    assert table.trustworthiness_12_mean.between(0, 1).all()

    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics.metric) == {"one_nn_error", "trustworthiness_12"}
    assert set(metrics.dataset) == {"digits_d2", "digits_d2_pretrained"}
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
