"""Reliability of the workflow on CPU: determinism, resume after SIGKILL, failed jobs.

Two runs of the test profile (one training rule per task, in copies of the workflow):

* run A goes through uninterrupted;
* run B is killed with SIGKILL (the whole Snakemake process group, as a pre-emption or a
  lost node would) as soon as the kNN training job has written its first epoch
  checkpoint, then `snakemake --unlock` and the same command again finish it.

Every metrics file of B must equal A's (determinism), and the resumed kNN run must equal
the uninterrupted one bit for bit: metrics, learning curve and the best weights. Timings
(`wall_time_s`, `*_time_s` columns, metrics named `*time*`) and provenance stamps are the
only things allowed to differ. The kNN section is raised to 4 epochs of 100 steps so that
the kill lands between two checkpoints, not after the run.

A third run poisons the kNN loss with NaN from the second epoch on (a `sitecustomize`
module on PYTHONPATH, only in this test): the job must stop with an error that names the
epoch, step, estimator and temperature, keep the last good checkpoint, and leave none of
its outputs behind.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import SNAKEMAKE, copy_workflow, run_snakemake, snakemake_env

from subsetgrad.bench.checkpoints import read_checkpoint
from subsetgrad.bench.training import TrainingRun

EPOCHS, STEPS = 4, 100
OVERLAY = {
    "device": "cpu",
    "tasks": {
        "knn": {"estimators": ["relaxed"], "temperatures": [1], "epochs": EPOCHS, "steps_per_epoch": STEPS}
    },
}
# One training (or sampling) rule per task keeps the two runs to seconds.
UNTIL = ["synthetic_sample", "study_gradients", "l2x_explainer", "tsne_reference", "knn_train"]
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


def _processes_in(folder: Path) -> list[int]:
    """PIDs of live processes whose working directory is ``folder`` (after a short grace)."""
    for _ in range(50):
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if (
                    entry.name.isdigit()
                    and Path(os.readlink(entry / "cwd")) == folder.resolve()
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
                ):
                    found.append(int(entry.name))
            except OSError:  # the process ended meanwhile, or it is not ours to inspect
                continue
        if not found:
            return []
        time.sleep(0.1)
    return found


def _checkpoint_epoch(path: Path) -> int:
    return read_checkpoint(path)["epoch"]


def _is_timing(name: str) -> bool:
    return "time" in name or name.endswith("_s")


def _comparable(path: Path) -> pd.DataFrame:
    """A metrics or curve CSV without its timings: what two runs must agree on."""
    frame = pd.read_csv(path)
    frame = frame[[c for c in frame.columns if not _is_timing(c)]]
    if "metric" in frame.columns:
        frame = frame[~frame.metric.map(_is_timing)]
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    work = _copy_workflow(tmp_path_factory.mktemp("run_a") / "wf")
    result = run_snakemake(work, *_arguments())
    assert result.returncode == 0, result.stderr[-5000:]
    return work


@pytest.fixture(scope="module")
def killed_then_resumed(tmp_path_factory) -> dict:
    work = _copy_workflow(tmp_path_factory.mktemp("run_b") / "wf")
    with open(work / "first_attempt.log", "w") as log:
        run = subprocess.Popen(
            [SNAKEMAKE, *_arguments()],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=snakemake_env(),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while _knn_checkpoint(work) is None and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)  # Snakemake and every job it started
        run.wait()
    checkpoint = _knn_checkpoint(work)
    assert checkpoint is not None, (work / "first_attempt.log").read_text()[-3000:]
    assert _processes_in(work) == [], "a job survived the kill"
    state = {
        "work": work,
        "killed_at_epoch": _checkpoint_epoch(checkpoint),
        "outputs_after_kill": sorted(os.listdir(work / KNN_RUN)) if (work / KNN_RUN).is_dir() else [],
    }
    # What a user does after a kill: release Snakemake's lock, run the same command again.
    unlock = run_snakemake(work, *_arguments("--unlock"))
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    rerun = run_snakemake(work, *_arguments())
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    state["rerun_log"] = rerun.stdout + rerun.stderr
    return state


@pytest.mark.slow
def test_the_kill_landed_mid_training_and_left_no_outputs(killed_then_resumed):
    state = killed_then_resumed
    assert state["killed_at_epoch"] < EPOCHS - 1, "the run finished before the kill"
    # The job writes its outputs only at the end, each atomically: after the kill there is
    # neither a result nor a half-written temporary file in the run's folder.
    assert state["outputs_after_kill"] == []


@pytest.mark.slow
def test_resume_after_sigkill_equals_the_uninterrupted_run(uninterrupted, killed_then_resumed):
    resumed = killed_then_resumed["work"]
    log = (resumed / KNN_LOG).read_text()
    assert f"at epoch {killed_then_resumed['killed_at_epoch'] + 1}" in log, log[-2000:]
    for name in ("metrics.csv", "curve.csv"):
        pd.testing.assert_frame_equal(
            _comparable(resumed / KNN_RUN / name),
            _comparable(uninterrupted / KNN_RUN / name),
            check_exact=True,
        )
    weights = {
        run: torch.load(run / KNN_RUN / "best_model.pt", weights_only=True)["weights"]
        for run in (resumed, uninterrupted)
    }
    assert weights[resumed].keys() == weights[uninterrupted].keys()
    for key, tensor in weights[uninterrupted].items():
        assert torch.equal(weights[resumed][key], tensor), key


@pytest.mark.slow
def test_two_runs_give_identical_metrics_for_every_task(uninterrupted, killed_then_resumed):
    resumed = killed_then_resumed["work"]
    files = sorted(p.relative_to(uninterrupted) for p in (uninterrupted / "results").rglob("metrics.csv"))
    tasks = {p.parts[2] for p in files}
    assert {"synthetic", "study", "l2x", "tsne", "knn"} <= tasks, files
    assert files == sorted(p.relative_to(resumed) for p in (resumed / "results").rglob("metrics.csv"))
    for path in files:
        first, second = _comparable(uninterrupted / path), _comparable(resumed / path)
        assert len(first) > 0, path
        pd.testing.assert_frame_equal(first, second, check_exact=True, obj=str(path))


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
