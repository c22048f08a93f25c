"""Fixtures and helpers shared by the tests; the workflow tests import ``run_snakemake`` and
``copy_workflow`` from here (``from conftest import ...``)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# Without a GPU, the Triton kernels' tests run them on CPU tensors under Triton's
# interpreter. Triton reads this variable when its language module is first
# imported, so it is set here, before any test module can import Triton.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
SHARED_DATA = Path(os.environ.get("SUBSETGRAD_SHARED_DATA", REPO.parent / "shared" / "data"))
#: The snakemake of the interpreter running the tests, so runs use this environment's packages.
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
#: What a copy of the workflow leaves out: environments, outputs, caches and data, which a run
#: in the copy must make (or miss) itself rather than find from the checkout.
COPY_IGNORE = (
    ".venv",
    ".git",
    "results",
    ".snakemake",
    "data",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
)


def copy_workflow(dest: Path, *ignore: str) -> Path:
    """Copy the checkout to ``dest`` without :data:`COPY_IGNORE` (and ``ignore``), so that a
    run writes its results, logs and locks there and the checkout stays clean."""
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*COPY_IGNORE, *ignore))
    return dest


def snakemake_env(**extra: str) -> dict:
    """The environment of a Snakemake run: this one, with Python warnings silenced so that
    stderr holds what the workflow says, plus ``extra``."""
    return {**os.environ, "PYTHONWARNINGS": "ignore", **extra}


def run_snakemake(
    workdir: Path,
    *args,
    timeout: float | None = 900,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """``snakemake *args`` in ``workdir`` with output captured, in :func:`snakemake_env` plus
    ``env``; no stdin, so a prompt fails instead of hanging."""
    return subprocess.run(
        [SNAKEMAKE, *map(str, args)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=snakemake_env(**(env or {})),
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A fresh copy of the workflow (:func:`copy_workflow`) in ``tmp_path/wf``."""
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_data() -> Path:
    """The real data pieces in ../shared/data; the test is skipped where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def resolved_profile(name: str) -> dict:
    """config/<name>.yaml merged over config/config.yaml, as Snakemake's --configfile merges it."""
    import yaml

    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    default = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return merge(default, yaml.safe_load((REPO / f"config/{name}.yaml").read_text()))


def synthetic_law_p_values(distribution) -> dict:
    """Chi-square p-value per temperature of a synthetic run's subset counts against the exact
    probabilities in the same table (which the tests check separately against the formula)."""
    from scipy import stats

    return {
        tau: float(stats.chisquare(group["count"], group["count"].sum() * group.exact_prob).pvalue)
        for tau, group in distribution.groupby("tau")
    }


def textbook_relaxed_steps(scores, k: int, tau: float) -> list:
    """Xie & Ermon, Algorithm 2, as a plain autograd loop: the step outputs a_1..a_k with
    a_j = softmax(r_j / tau), r_1 = scores, r_{j+1} = r_j + log(clamp(1 - a_j, min=tiny)).
    The independent reference the fused and Triton kernels and the estimators are held to."""
    tiny = torch.finfo(scores.dtype).tiny
    r, steps = scores, []
    for j in range(k):
        if j:
            r = r + torch.log(torch.clamp(1.0 - steps[-1], min=tiny))
        steps.append(torch.softmax(r / tau, dim=-1))
    return steps


def textbook_relaxed_topk(scores, k: int, tau: float, mode: str):
    """The textbook loop in one of the library op's output modes: 'soft' (the relaxed k-hot),
    'hard' (straight-through: exact top-k forward, soft backward) or 'sequence' (the steps)."""
    from subsetgrad import topk_khot

    steps = torch.stack(textbook_relaxed_steps(scores, k, tau), dim=-2)
    if mode == "sequence":
        return steps
    soft = steps.sum(-2)
    return soft if mode == "soft" else topk_khot(scores, k) - soft.detach() + soft
