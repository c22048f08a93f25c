"""Reliability of the workflow on CPU: failed jobs and stale checkpoints.

Determinism and resume after SIGKILL, for every kind of training job, are tested in
tests/test_kill_anywhere.py; checkpoint integrity in tests/test_checkpoints.py.

A run of the test profile (the kNN section raised to 4 epochs of 100 steps) poisons the
kNN loss with NaN from the second epoch on (a `sitecustomize` module on PYTHONPATH, only
in this test): the job must stop with an error that names the
epoch, step, estimator and temperature, keep the last good checkpoint, and leave none of
its outputs behind.
"""

import os
import re
from pathlib import Path

import pytest
import torch
import yaml
from conftest import copy_workflow, run_snakemake

from subsetgrad.bench.checkpoints import read_checkpoint
from subsetgrad.bench.training import TrainingRun

EPOCHS, STEPS = 4, 100
OVERLAY = {
    "device": "cpu",
    "tasks": {
        "knn": {"estimators": ["relaxed"], "temperatures": [1], "epochs": EPOCHS, "steps_per_epoch": STEPS}
    },
}
UNTIL = ["knn_train"]
KNN_RUN = "results/test/knn/digits/relaxed/tau1/seed0"
# seed<s>-<hash of the run's settings>.pt (subsetgrad.bench.experiments.knn.plan.checkpoint_path)
KNN_CHECKPOINT_DIR = "results/test/knn/checkpoints/digits/relaxed/tau1"


def _knn_checkpoint(work: Path) -> Path | None:
    """The kNN run's checkpoint once written (atomic writes use hidden temporary names)."""
    found = sorted((work / KNN_CHECKPOINT_DIR).glob("seed0-*.pt"))
    return found[0] if found else None


KNN_LOG = "results/test/logs/knn/train_digits_relaxed_tau1_seed0.log"
KNN_OUTPUTS = ("metrics.csv", "curve.csv", "best_model.pt", "provenance.json")

POISON = '''\
"""Test-only fault injection (tests/test_reliability.py): NaN loss from a given call on."""
import os

if os.environ.get("SUBSETGRAD_TEST_NAN_AFTER_CALLS"):
    from subsetgrad.bench.experiments.knn import train as _train

    _clean, _calls = _train.neighbour_loss, [0]
    _limit = int(os.environ["SUBSETGRAD_TEST_NAN_AFTER_CALLS"])

    def _poisoned(khot, same_label):
        _calls[0] += 1
        loss = _clean(khot, same_label)
        return loss * float("nan") if _calls[0] > _limit else loss

    _train.neighbour_loss = _poisoned
'''


def _copy_workflow(dest: Path) -> Path:
    copy_workflow(dest, "benchmarks")  # the package's micro-benchmarks play no part in a run
    (dest / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    return dest


def _arguments(*extra, until=UNTIL) -> list[str]:
    """Snakemake's arguments for the test profile with the overlay, up to ``until``."""
    return ["--cores", "2", "--configfile", "config/test.yaml", "overlay.yaml", "--until", *until, *extra]


def _checkpoint_epoch(path: Path) -> int:
    return read_checkpoint(path)["epoch"]


@pytest.mark.slow
def test_nan_loss_stops_the_job_naming_where_and_keeps_the_last_checkpoint(tmp_path):
    work = _copy_workflow(tmp_path / "wf")
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(POISON)
    # neighbour_loss runs twice per step (surrogate, then the logged loss): NaN from epoch 1, step 0
    result = run_snakemake(
        work,
        *_arguments(until=["knn_train"]),
        env={
            "PYTHONPATH": f"{inject}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "SUBSETGRAD_TEST_NAN_AFTER_CALLS": str(2 * STEPS),
        },
    )
    assert result.returncode != 0, "the poisoned run succeeded"
    log = (work / KNN_LOG).read_text()
    assert re.search(
        r"NonFiniteLossError: loss became nan at epoch 1, step 0 \(dataset=digits, "
        r"estimator=relaxed, tau=1(\.0)?, seed=0\)",
        log,
    ), log[-3000:]
    assert "last good checkpoint (epoch 0) is kept" in log
    assert _checkpoint_epoch(_knn_checkpoint(work)) == 0
    left = [name for name in KNN_OUTPUTS if (work / KNN_RUN / name).exists()]
    assert left == [], f"the failed job left {left}"


def test_a_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    """A changed config reruns a job; it must start afresh, not continue the old run."""

    def run(fingerprint):
        model = torch.nn.Linear(3, 1)
        training = TrainingRun(tmp_path / "run.pt", {"model": model}, fingerprint=fingerprint)
        return training, model

    first, _ = run({"epochs": 4, "lr": 0.1})
    first.end_epoch(0, {"loss": 1.0})
    same, _ = run({"lr": 0.1, "epochs": 4})  # key order does not matter
    assert same.resume() == 1
    changed, _ = run({"epochs": 4, "lr": 0.01})
    assert changed.resume() == 0 and changed.history == []
