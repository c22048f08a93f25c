"""A corpus of malformed configs: each one is rejected before any job runs.

Every file in tests/bad_configs/ is a config overlay (merged over config/config.yaml, as
`--configfile` does), with header lines

    # <what is wrong>
    # expect: <a fragment of the error message>     (one or more)

The message must name the offending key or file, Snakemake must stop before it builds the
DAG of jobs, and no Python traceback may reach the user. `$BYO_DIR` stands for a folder of
bring-your-own .npz files that the test writes (NaN features, wrong shapes, bad labels).

Every config goes through Snakemake's own config loading and merge and the validation that
workflow/rules/common.smk runs, in-process; one config per section also goes through a real
`snakemake -n` (all of them with SUBSETGRAD_ALL_BAD_CONFIGS=1).
"""

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from subsetgrad.bench.config import ConfigError, validate_config

CORPUS = REPO / "tests/bad_configs"
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
BAD_CONFIGS = sorted(CORPUS.glob("*.yaml"))


def _byo_files() -> dict[str, dict[str, np.ndarray]]:
    """Arrays of each bring-your-own file that the corpus names (60 samples, 3 classes)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.arange(60) % 3
    nan_x = x.copy()
    nan_x[7, 2] = np.nan
    return {
        "good.npz": {"x": x, "y": y},
        "nan_features.npz": {"x": nan_x, "y": y},
        "flat_features.npz": {"x": x[:, 0], "y": y},
        "short_labels.npz": {"x": x, "y": y[:50]},
        "labels_0_to_5.npz": {"x": x, "y": np.arange(60) % 6},
        "negative_labels.npz": {"x": x, "y": y - 1},
        "no_labels.npz": {"x": x, "targets": y},
    }


def _expected(text: str) -> list[str]:
    return re.findall(r"^# expect: (.+)$", text, flags=re.M)


def _write_byo_files(byo_dir: Path) -> None:
    byo_dir.mkdir(parents=True, exist_ok=True)
    for name, arrays in _byo_files().items():
        np.savez(byo_dir / name, **arrays)
    (byo_dir / "table.csv").write_text("x,y\n1,0\n")


@pytest.fixture(scope="module")
def byo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("byo")
    _write_byo_files(folder)
    return folder


def test_the_corpus_is_large_and_well_formed():
    assert len(BAD_CONFIGS) >= 30
    for path in BAD_CONFIGS:
        text = path.read_text()
        assert _expected(text), f"{path.name} has no '# expect:' line"
        overlay = yaml.safe_load(text.replace("$BYO_DIR", "/byo"))
        assert overlay is None or isinstance(overlay, dict), path.name


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda p: p.stem)
def test_bad_config_is_rejected_naming_the_key(path, byo_dir, tmp_path, monkeypatch):
    """What Snakemake and workflow/rules/common.smk do, in-process (milliseconds, not seconds).

    Snakemake loads config/config.yaml, merges the --configfile over it with its own
    loader and merge, then common.smk calls validate_config and turns a ConfigError into
    a clean exit; any other exception would reach the user as a traceback.
    """
    text = path.read_text().replace("$BYO_DIR", str(byo_dir))
    overlay_path = tmp_path / path.name
    overlay_path.write_text(text)
    monkeypatch.chdir(REPO)  # relative paths in a config start where snakemake runs
    config = load_configfile(REPO / "config/config.yaml")
    update_config(config, load_configfile(overlay_path))
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    for fragment in _expected(text):
        assert fragment in str(info.value), f"{path.name}: {fragment!r} not in:\n{info.value}"


# One bad config per section (top level, each task, bring-your-own data) goes through a real
# `snakemake -n`: each start costs about 3 s of CPU, too much for all of them in every CI run.
# SUBSETGRAD_ALL_BAD_CONFIGS=1 runs the whole corpus through Snakemake.
_ALL = os.environ.get("SUBSETGRAD_ALL_BAD_CONFIGS") == "1"
_SECTIONS = {}
for _path in BAD_CONFIGS:
    _SECTIONS.setdefault(_path.stem.split("_")[0], _path)
THROUGH_SNAKEMAKE = BAD_CONFIGS if _ALL else sorted(_SECTIONS.values())


@pytest.fixture(scope="module")
def snakemake_rejections(byo_dir, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """`snakemake -n --configfile <bad>` for the selected configs, a process per core."""
    work = tmp_path_factory.mktemp("bad_configs")

    def reject(path: Path):
        config = work / path.name
        config.write_text(path.read_text().replace("$BYO_DIR", str(byo_dir)))
        result = run_snakemake(REPO, "-n", "--configfile", config, timeout=300)
        return path.name, result

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(pool.map(reject, THROUGH_SNAKEMAKE))


@pytest.mark.slow
@pytest.mark.parametrize("path", THROUGH_SNAKEMAKE, ids=lambda p: p.stem)
def test_snakemake_rejects_it_before_any_job(path, byo_dir, snakemake_rejections):
    result = snakemake_rejections[path.name]
    message = result.stdout + result.stderr
    assert result.returncode != 0, f"{path.name} was accepted:\n{message[-2000:]}"
    for fragment in _expected(path.read_text().replace("$BYO_DIR", str(byo_dir))):
        assert fragment in message, f"{path.name}: {fragment!r} not in:\n{message[-2000:]}"
    assert "Traceback" not in message, message[-3000:]
    assert "Building DAG of jobs" not in message, "rejected only after planning jobs"
