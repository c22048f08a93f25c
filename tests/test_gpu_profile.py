"""profiles/gpu: Snakemake's cap on concurrent GPU jobs and the per-job device slots.

No GPU is needed: the scheduling test pretends the machine has 2 GPUs (SUBSETGRAD_GPUS)
and runs dummy jobs that claim their device exactly as the training scripts do.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from subsetgrad.bench import gpu_slots
from subsetgrad.bench.gpu_slots import GpuSlotError, activate_profile, claim, detect_gpus

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
MODULE = REPO / "src/subsetgrad/bench/gpu_slots.py"


@pytest.fixture(autouse=True)
def _release_slots():
    yield
    gpu_slots.release_all()


def _profile_env(gpus=2, jobs_per_gpu=2):
    env = {}
    activate_profile(gpus, jobs_per_gpu, environ=env)
    return env


def _config(gpus=2, jobs_per_gpu=2, gpus_per_job=1):
    return {"gpus": gpus, "jobs_per_gpu": jobs_per_gpu, "gpus_per_job": gpus_per_job}


def test_without_the_profile_nothing_happens(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3"}
    assert claim({"gpus_per_job": 1}, lock_dir=tmp_path, environ=env) is None
    assert env == {"CUDA_VISIBLE_DEVICES": "3"}  # e.g. SLURM's own assignment is kept
    assert not any(tmp_path.iterdir())


def test_slots_spread_over_devices_and_never_exceed_jobs_per_gpu(tmp_path):
    env = _profile_env(2, 2)
    devices = []
    for _ in range(4):
        job_env = dict(env)
        slot = claim(_config(), lock_dir=tmp_path, environ=job_env)
        devices.append(job_env["CUDA_VISIBLE_DEVICES"])
        assert slot.visible == devices[-1]
    assert devices == ["0", "1", "0", "1"]
    with pytest.raises(GpuSlotError, match="all 4 GPU slots"):
        claim(_config(), lock_dir=tmp_path, wait_s=0, environ=dict(env))
    gpu_slots.release_all()
    assert claim(_config(), lock_dir=tmp_path, wait_s=0, environ=dict(env)).index == 0


def test_devices_index_into_an_inherited_cuda_visible_devices(tmp_path):
    env = {**_profile_env(2, 1), "CUDA_VISIBLE_DEVICES": "5,7"}
    first, second = dict(env), dict(env)
    claim(_config(2, 1), lock_dir=tmp_path, environ=first)
    claim(_config(2, 1), lock_dir=tmp_path, environ=second)
    assert (first["CUDA_VISIBLE_DEVICES"], second["CUDA_VISIBLE_DEVICES"]) == ("5", "7")


def test_a_crashed_job_releases_its_slot(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import importlib.util, sys, time
            spec = importlib.util.spec_from_file_location("gpu_slots", {str(MODULE)!r})
            module = sys.modules["gpu_slots"] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # stdlib only: no torch import in the child
            claim = module.claim
            env = {{"SUBSETGRAD_GPU_POOL": "1x1"}}
            claim({{"gpus": 1, "jobs_per_gpu": 1, "gpus_per_job": 1}}, lock_dir={str(tmp_path)!r},
                  environ=env)
            print("claimed", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        env = _profile_env(1, 1)
        with pytest.raises(GpuSlotError, match="stayed busy"):
            claim(_config(1, 1), lock_dir=tmp_path, wait_s=0, environ=dict(env))
        holder.send_signal(signal.SIGKILL)  # no cleanup code runs: the kernel drops the lock
        holder.wait(timeout=10)
        assert claim(_config(1, 1), lock_dir=tmp_path, wait_s=0, environ=dict(env)).index == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_jobs_without_a_gpu_are_kept_off_the_gpus(tmp_path):
    env = _profile_env(2, 1)
    assert claim(_config(2, 1, gpus_per_job=0), lock_dir=tmp_path, environ=env) is None
    assert env["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.parametrize(
    "pool, config, message",
    [
        ("0x1", _config(0, 1), "found no GPU"),
        ("2x1", _config(2, 1, gpus_per_job=2), "one device"),
        ("2x1", {"jobs_per_gpu": 4, "gpus_per_job": 1}, "replaces the profile's config"),
    ],
)
def test_inconsistent_settings_fail_clearly(tmp_path, pool, config, message):
    env = {"SUBSETGRAD_GPU_POOL": pool}
    with pytest.raises(GpuSlotError, match=message):
        claim(config, lock_dir=tmp_path, wait_s=0, environ=env)


def test_profile_settings_come_from_the_environment_or_detection():
    env = {"SUBSETGRAD_GPUS": "3", "SUBSETGRAD_JOBS_PER_GPU": "4"}
    assert activate_profile(None, 1, environ=env) == (3, 4)
    assert env["SUBSETGRAD_GPU_POOL"] == "3x4"
    assert activate_profile(None, 2, environ={"CUDA_VISIBLE_DEVICES": "0,1"}) == (2, 2)
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == 0
    with pytest.raises(GpuSlotError, match="whole number"):
        activate_profile(None, 1, environ={"SUBSETGRAD_GPUS": "two"})


JOB_SCRIPT = """
import importlib.util, json, os, sys, time
launched = time.time()  # before the claim: measures Snakemake's cap, not the lock wait
spec = importlib.util.spec_from_file_location("gpu_slots", snakemake.params.module)
gpu_slots = sys.modules["gpu_slots"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_slots)  # the real module, without importing torch per job
slot = gpu_slots.claim_for_job(snakemake)
start = time.time()
time.sleep(1.5)
json.dump({"launched": launched, "start": start, "end": time.time(), "slot": slot.index,
           "device": os.environ["CUDA_VISIBLE_DEVICES"]}, open(snakemake.output[0], "w"))
"""

TEST_SNAKEFILE = f"""
configfile: "config.yaml"

rule all:
    input: expand("out/job{{i}}.json", i=range(8))

rule train:
    output: "out/job{{i}}.json"
    params: module={str(MODULE)!r}
    threads: 1
    resources:
        gpu=config["gpus_per_job"],
        gpu_slots=1 if config["gpus_per_job"] else 0,
    script: "job.py"
"""


def _max_overlap(intervals):
    events = sorted(
        [(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1])
    )  # an end before a start at the same instant
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def test_the_gpu_profile_caps_concurrent_jobs_per_machine_and_device(tmp_path):
    (tmp_path / "Snakefile").write_text(TEST_SNAKEFILE)
    (tmp_path / "job.py").write_text(JOB_SCRIPT)
    (tmp_path / "config.yaml").write_text("gpus_per_job: 1\n")
    env = {
        **os.environ,
        "SUBSETGRAD_GPUS": "2",
        "SUBSETGRAD_JOBS_PER_GPU": "2",
        "PYTHONWARNINGS": "ignore",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in ("CUDA_VISIBLE_DEVICES", "SUBSETGRAD_GPU_POOL"):
        env.pop(name, None)
    result = subprocess.run(
        [
            SNAKEMAKE,
            "--workflow-profile",
            str(REPO / "profiles/gpu"),
            "--cores",
            "8",
            "--snakefile",
            str(tmp_path / "Snakefile"),
            "--directory",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    jobs = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").glob("*.json"))]
    assert len(jobs) == 8
    # Snakemake's cap: 2 GPUs x 2 jobs, though 8 cores would run all 8 jobs at once
    launched = _max_overlap([(j["launched"], j["end"]) for j in jobs])
    assert 2 <= launched <= 4, launched
    per_device = {
        d: _max_overlap([(j["start"], j["end"]) for j in jobs if j["device"] == d])
        for d in {j["device"] for j in jobs}
    }
    assert set(per_device) == {"0", "1"}
    assert max(per_device.values()) <= 2, per_device
    print(f"max concurrent jobs {launched}, per device {per_device}")
