"""What produced a result: seed, config, package versions, git commit, device."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

_PACKAGES = ("torch", "numpy", "pandas", "scipy", "scikit-learn", "snakemake", "subsetgrad")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(cwd: str | Path | None = None) -> str:
    """The checkout's commit, with ``-dirty`` when there are uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def config_hash(config: dict) -> str:
    """Short stable hash of a (JSON-serialisable) config."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def provenance(config: dict, seed: int | None = None, device: str | None = None) -> dict:
    """A record to store next to every result.

    ``created`` is the only field that differs between two identical runs.
    """
    return {
        "seed": seed,
        "config": config,
        "config_hash": config_hash(config),
        "git_commit": git_commit(),
        "packages": package_versions(),
        "device": device,
        "platform": platform.platform(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
