"""One GPU per training job on a multi-GPU machine (the ``profiles/gpu`` workflow profile).

Snakemake caps how many training jobs run at once (its global ``gpu_slots`` resource,
``gpus x jobs_per_gpu``) but does not say which device a job should use. This module
does: the machine has a pool of ``gpus x jobs_per_gpu`` slots, one lock file each, and a
training job claims a free slot with an exclusive ``flock`` before torch initialises CUDA.
Slot ``i`` belongs to device ``i % gpus``, so every device owns exactly ``jobs_per_gpu``
slots (no device can run more jobs than that) and the lowest free slots spread the
first jobs over all devices. The kernel drops the lock when the process ends, however it
ends (exception, kill, out of memory), so a crashed job never leaks its slot.

The profile settles the GPU count and ``jobs_per_gpu`` once (:func:`activate_profile`)
and hands them to Snakemake's cap, to the config and to the jobs' environment. Without
the profile (the default profile; SLURM, where the cluster hands out devices itself)
:func:`claim` does nothing. Only the standard library is used, so a job or test can
load this file on its own, without the package's torch import.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

#: Where the lock files live, relative to the workflow's working directory: Snakemake's
#: own folder, so every run in the same directory shares one pool per machine.
DEFAULT_LOCK_DIR = Path(".snakemake/gpu_slots")
#: Environment overrides the profile reads (a pretend machine in tests, a quick change
#: of packing without editing the profile).
ENV_GPUS = "SUBSETGRAD_GPUS"
ENV_JOBS_PER_GPU = "SUBSETGRAD_JOBS_PER_GPU"
#: Set by the profile for its jobs: "<gpus>x<jobs_per_gpu>".
ENV_POOL = "SUBSETGRAD_GPU_POOL"
#: How long a job waits for a free slot. Snakemake's cap normally guarantees one at once;
#: a short wait covers a slot whose previous job is still exiting, a long one would hide
#: a cap larger than the pool.
DEFAULT_WAIT_S = 30.0

_HELD: list[IO] = []  # claimed lock files: open for the life of the process


class GpuSlotError(RuntimeError):
    """The GPU profile's settings are inconsistent, or no slot could be claimed."""


@dataclass(frozen=True)
class Slot:
    index: int
    device: int  # index into the machine's devices (before CUDA_VISIBLE_DEVICES mapping)
    visible: str  # the value CUDA_VISIBLE_DEVICES was set to
    path: Path


def detect_gpus(environ: Mapping[str, str] | None = None) -> int:
    """Number of GPUs this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``.

    Returns 0 where neither says anything (no driver, no GPU).
    """
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len(_visible_list(visible))
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def activate_profile(
    gpus: int | None = None, jobs_per_gpu: int = 1, environ: dict | None = None
) -> tuple[int, int]:
    """Settle ``(gpus, jobs_per_gpu)`` for ``profiles/gpu`` and announce them to its jobs.

    ``SUBSETGRAD_GPUS`` / ``SUBSETGRAD_JOBS_PER_GPU`` in the environment override the
    profile's values; ``gpus=None`` means detect (:func:`detect_gpus`). The profile turns
    the result into Snakemake's cap and the config keys ``gpus`` and ``jobs_per_gpu``,
    and this function exports it as ``SUBSETGRAD_GPU_POOL`` (jobs inherit Snakemake's
    environment): that marker says the profile is in use even when a ``--config`` on the
    command line replaced the profile's config, so :func:`claim` can fail clearly instead
    of letting jobs crowd one device.
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV_GPUS):
        gpus = _int_setting(environ[ENV_GPUS], ENV_GPUS, 0)
    elif gpus is None:
        gpus = detect_gpus(environ)
    if environ.get(ENV_JOBS_PER_GPU):
        jobs_per_gpu = _int_setting(environ[ENV_JOBS_PER_GPU], ENV_JOBS_PER_GPU, 1)
    if gpus < 0 or jobs_per_gpu < 1:
        raise GpuSlotError(
            f"profiles/gpu: need GPUS >= 0 and JOBS_PER_GPU >= 1, "
            f"got GPUS={gpus}, JOBS_PER_GPU={jobs_per_gpu}"
        )
    environ[ENV_POOL] = f"{gpus}x{jobs_per_gpu}"
    return gpus, jobs_per_gpu


def claim(
    config: Mapping,
    gpus_requested: int | None = None,
    lock_dir: str | Path = DEFAULT_LOCK_DIR,
    wait_s: float = DEFAULT_WAIT_S,
    environ: dict | None = None,
) -> Slot | None:
    """Claim a GPU slot for this process and point ``CUDA_VISIBLE_DEVICES`` at its device.

    Does nothing and returns None unless the run uses ``profiles/gpu`` (the
    ``SUBSETGRAD_GPU_POOL`` marker of :func:`activate_profile`). ``config`` is the
    workflow config, whose ``gpus`` and ``jobs_per_gpu`` must match the profile's;
    ``gpus_requested`` is the job's ``gpu`` resource (default ``config["gpus_per_job"]``).
    A job that requested no GPU is kept off the GPUs: it holds no slot, so nothing would
    stop it crowding a device. The slot stays claimed until the process exits. Call
    before torch initialises CUDA.
    """
    environ = os.environ if environ is None else environ
    pool = environ.get(ENV_POOL)
    if not pool:
        return None
    gpus, jobs_per_gpu = _parse_pool(pool)
    configured = (config.get("gpus"), config.get("jobs_per_gpu", 1))
    if configured != (gpus, jobs_per_gpu):
        raise GpuSlotError(
            f"profiles/gpu set gpus={gpus}, jobs_per_gpu={jobs_per_gpu} (and Snakemake's cap "
            f"on concurrent training jobs from them), but the config has "
            f"gpus={configured[0]}, jobs_per_gpu={configured[1]}. A --config on the command "
            f"line replaces the profile's config: set the GPU count and jobs per GPU in "
            f"profiles/gpu/config.yaml or with {ENV_GPUS} / {ENV_JOBS_PER_GPU}, and pass "
            f"other settings with --configfile."
        )
    requested = int(config.get("gpus_per_job", 0) if gpus_requested is None else gpus_requested)
    if requested == 0:
        environ["CUDA_VISIBLE_DEVICES"] = ""
        return None
    if requested > 1:
        raise GpuSlotError(
            f"gpus_per_job is {requested}, but profiles/gpu gives each job one device; "
            f"use gpus_per_job: 1 here (several GPUs per job: profiles/slurm)"
        )
    if gpus < 1:
        raise GpuSlotError(
            "profiles/gpu found no GPU on this machine (CUDA_VISIBLE_DEVICES and nvidia-smi "
            "name none) but training jobs ask for one (gpus_per_job: 1). Set GPUS in "
            f"profiles/gpu/config.yaml or {ENV_GPUS}=<n>, or run without the GPU profile."
        )
    # Devices this process was given (a user may restrict the whole run with
    # CUDA_VISIBLE_DEVICES=2,3): slot devices index into that list.
    parent = environ.get("CUDA_VISIBLE_DEVICES")
    devices = _visible_list(parent) if parent is not None else [str(d) for d in range(gpus)]
    if len(devices) < gpus:
        raise GpuSlotError(
            f"profiles/gpu uses {gpus} GPUs, but CUDA_VISIBLE_DEVICES={parent!r} shows only "
            f"{len(devices)}; set GPUS in profiles/gpu/config.yaml (or {ENV_GPUS}) to match"
        )
    slot = _claim_slot(Path(lock_dir), gpus, jobs_per_gpu, wait_s)
    visible = devices[slot.device]
    environ["CUDA_VISIBLE_DEVICES"] = visible
    return Slot(slot.index, slot.device, visible, slot.path)


def claim_for_job(snakemake) -> Slot | None:
    """:func:`claim` for a Snakemake ``script:`` job (its injected ``snakemake`` object)."""
    gpu = getattr(snakemake.resources, "gpu", None)
    slot = claim(snakemake.config, None if gpu is None else int(gpu))
    if slot is not None:
        print(f"GPU slot {slot.index}: CUDA_VISIBLE_DEVICES={slot.visible}", flush=True)
    return slot


def release_all() -> None:
    """Release the slots this process holds (normally the process exit does it)."""
    while _HELD:
        handle = _HELD.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _claim_slot(lock_dir: Path, gpus: int, jobs_per_gpu: int, wait_s: float) -> Slot:
    lock_dir.mkdir(parents=True, exist_ok=True)
    size = gpus * jobs_per_gpu
    deadline = time.monotonic() + wait_s
    while True:
        for index in range(size):
            path = lock_dir / f"slot{index}.lock"
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                handle.close()
                if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    continue
                raise
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")  # who holds it, for a person looking
            handle.flush()
            _HELD.append(handle)
            return Slot(index, index % gpus, "", path)
        if time.monotonic() >= deadline:
            raise GpuSlotError(
                f"all {size} GPU slots (gpus {gpus} x jobs_per_gpu {jobs_per_gpu}) in "
                f"{lock_dir} stayed busy for {wait_s:.0f} s. Snakemake's cap on concurrent "
                f"training jobs (resources: gpu_slots) must equal gpus x jobs_per_gpu: set "
                f"both through profiles/gpu/config.yaml, not with --resources or --config on "
                f"the command line; or another run in this folder holds the GPUs."
            )
        time.sleep(0.2)


def _visible_list(value: str) -> list[str]:
    # "-1" or an empty string hide every device
    return [d.strip() for d in value.split(",") if d.strip() and d.strip() != "-1"]


def _parse_pool(value: str) -> tuple[int, int]:
    try:
        gpus, jobs_per_gpu = (int(part) for part in value.split("x"))
    except ValueError:
        raise GpuSlotError(
            f"{ENV_POOL}={value!r} is not <gpus>x<jobs_per_gpu>; it is set by "
            f"profiles/gpu, do not set it by hand"
        ) from None
    return gpus, jobs_per_gpu


def _int_setting(value: str, name: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise GpuSlotError(f"{name}={value!r} is not a whole number") from None
    if number < minimum:
        raise GpuSlotError(f"{name}={value!r} must be >= {minimum}")
    return number
