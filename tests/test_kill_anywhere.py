"""Kill anywhere: every kind of training job survives a SIGKILL of the whole workflow.

The rule kinds: dataset preparation, L2X black box, L2X explainer, kNN training, t-SNE
pretraining, t-SNE training and the estimator study. A reference run of the test profile
(one job per kind, :data:`OVERLAY`) goes through uninterrupted with the fault-injection
module ``tests/fault_injection/sitecustomize.py`` counting each job's *events*: backward
passes and the steps of atomic writes (``fsync``, ``os.replace``). Kill points are event
numbers drawn from a seeded generator, :data:`POINTS_PER_KIND` per kind; round ``r``
takes the ``r``-th point of every kind.

In a round, a fresh copy of the workflow runs the same command as the reference; the first
job to reach its kill point SIGKILLs Snakemake's process group (Snakemake and every job);
``snakemake --unlock`` and the same command again follow, until every kind's point has
fired and a run completes. Then every output must equal the reference's:

* bitwise: model files (``.pt``, as loaded tensors and values), arrays (``.npz``, array by
  array: the zip container stamps its members' times), HTML pages, prepared-data sidecars;
* without timings: CSV files lose their ``*time*``, ``*_s`` and ``seconds`` columns and
  metric rows,
  ``provenance.json`` its ``created`` timestamp; logs and benchmark files (wall times) are
  not compared.

No temporary file may be left anywhere, and every checkpoint left must be valid. A job
killed after it had written a checkpoint must say in its log, the next time it runs,
that it resumed.

CI runs round 0 (one kill point per kind); ``SUBSETGRAD_KILL_ALL=1`` runs every round.
"""

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import REPO, SNAKEMAKE, copy_workflow, run_snakemake, snakemake_env

from subsetgrad.bench.checkpoints import read_checkpoint

FAULT_INJECTION = REPO / "tests" / "fault_injection"
SEED = 20190810
POINTS_PER_KIND = 3
ROUNDS = range(POINTS_PER_KIND) if os.environ.get("SUBSETGRAD_KILL_ALL") == "1" else range(1)
#: rule kind -> the workflow script its jobs run
KINDS = {
    "dataset preparation": "prepare_dataset",
    "L2X black box": "l2x_black_box",
    "L2X explainer": "l2x_explainer",
    "kNN training": "knn_train",
    "t-SNE pretraining": "tsne_pretrain",
    "t-SNE training": "tsne_train",
    "estimator study": "study_gradients",
}
OVERLAY = {
    "device": "cpu",
    "tasks": {
        "l2x": {"estimators": ["relaxed"]},
        "knn": {"estimators": ["relaxed"], "epochs": 3},
        "tsne": {"methods": ["subset_sequence"], "epochs": 3},
        "study": {"estimators": ["reinforce", "imle"], "num_gradients": 100},
    },
}
# synthetic_sample (no training) rides along so that every task's results are compared
UNTIL = ["l2x_explainer", "knn_train", "tsne_train", "study_gradients", "synthetic_sample"]
NOT_COMPARED = ("logs", "benchmarks")  # wall times and the jobs' own chatter


def _arguments(*extra) -> list[str]:
    return ["--cores", "2", "--configfile", "config/test.yaml", "overlay.yaml", "--until", *UNTIL, *extra]


def _workflow(dest: Path) -> Path:
    copy_workflow(dest, "benchmarks")
    (dest / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    return dest


def _launch(work: Path, kill_dir: Path) -> subprocess.CompletedProcess:
    """The workflow's command in ``work`` as the leader of a new process group, with the
    fault injection on; Snakemake's pid (= the group) is handed to the jobs through ``sh``."""
    env = snakemake_env(
        PYTHONPATH=os.pathsep.join(filter(None, [str(FAULT_INJECTION), os.environ.get("PYTHONPATH", "")])),
        SUBSETGRAD_TEST_KILL_DIR=str(kill_dir),
    )
    command = 'SUBSETGRAD_TEST_KILL_GROUP=$$ exec "$0" "$@"'
    with open(kill_dir / "attempts.log", "a") as log:
        return subprocess.run(
            ["sh", "-c", command, SNAKEMAKE, *_arguments()],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            timeout=900,
        )


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
            except OSError:
                continue
        if not found:
            return []
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run, its event counts per script, and the seeded kill points."""
    root = tmp_path_factory.mktemp("reference")
    work, kill_dir = _workflow(root / "wf"), root / "kill"
    kill_dir.mkdir()
    result = _launch(work, kill_dir)
    assert result.returncode == 0, (kill_dir / "attempts.log").read_text()[-5000:]
    counts = {}
    for path in (kill_dir / "counts").iterdir():
        script = path.name.split(".")[0]
        # a kind with several jobs (one per dataset): a point every one of them reaches
        counts[script] = min(counts.get(script, 10**9), int(path.read_text()))
    missing = set(KINDS.values()) - set(counts)
    assert not missing, f"no job of {missing} ran in the reference run"
    rng = np.random.default_rng(SEED)
    points = {}
    for script in KINDS.values():
        assert counts[script] >= POINTS_PER_KIND, (script, counts[script])
        drawn = rng.choice(np.arange(1, counts[script] + 1), size=POINTS_PER_KIND, replace=False)
        points[script] = [int(n) for n in drawn]
    return {"work": work, "counts": counts, "points": points}


def _kill_and_resume(work: Path, kill_dir: Path, plan: dict) -> tuple[list[str], dict[str, str]]:
    """Run until a run completes; return the scripts whose kill fired, in order, and for
    each the logs its job wrote in the attempts after its kill (each attempt rewrites them)."""
    (kill_dir / "plan.json").write_text(json.dumps(plan))
    fired, later_logs = [], {}
    for _ in range(len(plan) + 1):
        result = _launch(work, kill_dir)
        assert _processes_in(work) == [], "a job survived the kill"
        for script in fired:
            log = work / json.loads((kill_dir / "fired" / script).read_text())["log"]
            later_logs[script] = later_logs.get(script, "") + (log.read_text() if log.exists() else "")
        if result.returncode == 0:
            break
        now = sorted(p.name for p in (kill_dir / "fired").iterdir()) if (kill_dir / "fired").is_dir() else []
        new = [name for name in now if name not in fired]
        log = (kill_dir / "attempts.log").read_text()[-4000:]
        assert result.returncode == -9 and len(new) == 1, f"the run failed without a planned kill:\n{log}"
        fired += new
        _assert_no_partial_output(work)
        unlock = run_snakemake(work, *_arguments("--unlock"))
        assert unlock.returncode == 0, unlock.stderr[-3000:]
    else:
        pytest.fail("the workflow did not complete after every kill point had fired")
    return fired, later_logs


def _assert_no_partial_output(work: Path) -> None:
    """Right after a kill: every visible file is whole (it parses); a write cut short exists
    only under its hidden temporary name."""
    for rel, path in _outputs(work).items():
        if path.name.startswith("."):
            continue
        try:
            if path.suffix == ".csv":
                pd.read_csv(path)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npz":
                with np.load(path) as arrays:
                    [arrays[key] for key in arrays.files]
            elif path.suffix == ".pt":
                torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            pytest.fail(f"{rel} is a partial output after a kill: {err}")


def _timing(name: str) -> bool:
    return "time" in name or name.endswith("_s") or name == "seconds"


def _csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    frame = frame[[c for c in frame.columns if not _timing(c)]]
    if "metric" in frame.columns:
        frame = frame[~frame.metric.map(_timing)]
    return frame.reset_index(drop=True)


def _assert_same_value(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            if key != "provenance":  # a copy of provenance.json, compared there
                _assert_same_value(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_value(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def _assert_same_output(ref: Path, got: Path, rel: Path) -> None:
    where = str(rel)
    if rel.suffix == ".csv":
        pd.testing.assert_frame_equal(_csv(got), _csv(ref), check_exact=True, obj=where)
    elif rel.name == "provenance.json":
        first, second = json.loads(ref.read_text()), json.loads(got.read_text())
        first.pop("created"), second.pop("created")
        assert first == second, where
    elif rel.suffix == ".npz":
        with np.load(ref) as a, np.load(got) as b:
            assert sorted(a.files) == sorted(b.files), where
            for key in a.files:
                np.testing.assert_array_equal(b[key], a[key], err_msg=f"{where}[{key}]")
                assert a[key].dtype == b[key].dtype, f"{where}[{key}]"
    elif rel.suffix == ".pt":
        _assert_same_value(
            torch.load(ref, map_location="cpu", weights_only=True),
            torch.load(got, map_location="cpu", weights_only=True),
            where,
        )
    else:
        assert got.read_bytes() == ref.read_bytes(), where


def _outputs(work: Path) -> dict[Path, Path]:
    found = {}
    for top in ("results", "data"):
        for path in (work / top).rglob("*"):
            rel = path.relative_to(work)
            if path.is_file() and not set(rel.parts) & set(NOT_COMPARED) and "checkpoints" not in rel.parts:
                found[rel] = path
    return found


@pytest.mark.slow
@pytest.mark.parametrize("round_", ROUNDS, ids=lambda r: f"round{r}")
def test_every_training_rule_kind_survives_a_kill_and_resumes_bit_for_bit(reference, tmp_path, round_):
    work, kill_dir = _workflow(tmp_path / "wf"), tmp_path / "kill"
    kill_dir.mkdir()
    plan = {script: points[round_] for script, points in reference["points"].items()}
    fired, later_logs = _kill_and_resume(work, kill_dir, plan)
    assert sorted(fired) == sorted(KINDS.values()), f"kills that fired: {fired}; plan {plan}"
    # A job killed after writing a checkpoint must continue from one, not start over, the
    # next time it runs (a later attempt may run it again from scratch, legitimately: when a
    # kill of another job lands after it finished but before Snakemake recorded it).
    for script in fired:
        record = json.loads((kill_dir / "fired" / script).read_text())
        if record["checkpoints"]:
            log = later_logs[script]
            assert "resumed from" in log, (
                f"{script} killed at event {record['at']} did not resume:\n{log[-2000:]}"
            )

    leftovers = [p for p in (work / "results").rglob("*") if p.name.endswith(".tmp")]
    leftovers += [p for p in (work / "data").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == [], leftovers
    for checkpoint in (work / "results").rglob("checkpoints/**/*.pt*"):
        read_checkpoint(checkpoint)  # raises on an invalid one

    expected, got = _outputs(reference["work"]), _outputs(work)
    assert sorted(got) == sorted(expected)
    tasks = {rel.parts[2] for rel in expected if rel.parts[0] == "results" and rel.name == "metrics.csv"}
    assert tasks == {"synthetic", "study", "l2x", "tsne", "knn"}, tasks
    for rel, path in expected.items():
        _assert_same_output(path, got[rel], rel)
