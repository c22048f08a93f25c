# Shared set-up: config validation (before any job runs) and target lists.
import sys
from pathlib import Path

try:
    from subsetgrad.bench.config import ConfigError, validate_config
except ImportError as err:
    sys.exit(
        f"subsetgrad is not importable ({err}). Install the project into this "
        f"environment first: `make run` does it, or `pip install -e .`"
    )

try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    sys.exit(f"Config error: {err}")

# Software for every rule: the project environment (used with --sdm conda).
ENV = str(Path(workflow.basedir) / "environment.yml")

RESULTS = f"results/{config['profile']}"
TASKS = config["tasks"]


# Each rules file appends the final outputs of its concern; `rule all` asks for them.
TARGETS = []


def task_enabled(name):
    return name in TASKS


# --- data ---
import re

from subsetgrad.bench.data import DATASETS, PAPER_DATASETS, REAL_SMALL_DATASETS, raw_file_table
from subsetgrad.bench.data.download import locate_raw_file

DATA = config["data_dir"]
RAW_FILES = raw_file_table()  # (source folder, official name) -> RawFile, from the registry
# "<source>/<official name>" of every raw file not on disk yet: the only ones with a download rule
MISSING_RAW_FILES = {
    f"{source}/{name}" for source, name in RAW_FILES if not Path(DATA, "raw", source, name).exists()
}
BYO_DATASETS = config.get("datasets") or {}  # bring-your-own entries of the config


def prepared(dataset):
    """Path of a prepared dataset; task rules use it as input."""
    return f"{DATA}/prepared/{dataset}.npz"


def _alternatives(names):
    """A regex matching exactly one of ``names`` (wildcard constraints)."""
    return "|".join(re.escape(n) for n in sorted(names))


def dataset_inputs(dataset):
    """Files a dataset is prepared from: its raw files, a bring-your-own file, or none."""
    if dataset in BYO_DATASETS:
        return [BYO_DATASETS[dataset]["path"]]
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}: neither builtin ({', '.join(sorted(DATASETS))}) "
            f"nor declared under `datasets:` in the config"
        )
    spec = DATASETS[dataset]
    return [f"{DATA}/raw/{spec.source}/{f.name}" for f in spec.raw_files]


def prepare_inputs(dataset):
    """The raw inputs of a dataset as present on disk (an alternative form of a raw file
    where the official one is absent), else the official paths, which the download rule makes."""
    if dataset in BYO_DATASETS or dataset not in DATASETS:
        return dataset_inputs(dataset)
    spec = DATASETS[dataset]
    return [str(locate_raw_file(f"{DATA}/raw/{spec.source}", f)) for f in spec.raw_files]


def dataset_raw_dir(dataset):
    spec = DATASETS.get(dataset)
    return f"{DATA}/raw/{spec.source}" if spec is not None and dataset not in BYO_DATASETS else ""


def raw_file(wildcards):
    """The pinned RawFile behind a path <data_dir>/raw/<source>/<filename>."""
    key = tuple(wildcards.raw.split("/", 1))
    if key not in RAW_FILES:
        raise ValueError(f"{DATA}/raw/{key[0]}/{key[1]} is not a raw file of any builtin dataset")
    return RAW_FILES[key]


# --- results ---
# A task may declare the files the results rules read; where it does not, they are
# picked by name from the task's registered TARGETS under results/<profile>/<task>/:
#   METRICS_FILES[task]  tidy metrics CSVs (subsetgrad.bench.metrics.METRIC_COLUMNS)
#   CURVE_FILES[task]    training curves, CSV with an `epoch` column (tidy or wide)
#   FIGURE_FILES[task]   the task's own PNG figures, shown in the report
#   REPORT_FILES[task]   other files to show in the report (e.g. HTML example explanations)
METRICS_FILES, CURVE_FILES, FIGURE_FILES, REPORT_FILES = {}, {}, {}, {}
_RESULT_FILE_PATTERNS = {
    "metrics": r"metrics[^/]*\.csv$",
    "curves": r"(curve|history)[^/]*\.csv$",
    "figures": r"[^/]*\.png$",
    "report": r"^$",  # never guessed: only declared files
}


def _flat(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flat(item)
        else:
            yield str(item)


def task_result_files(kind, task):
    """A task's declared metrics/curves/figures, else its registered targets of that kind."""
    declared = {
        "metrics": METRICS_FILES,
        "curves": CURVE_FILES,
        "figures": FIGURE_FILES,
        "report": REPORT_FILES,
    }[kind]
    if task in declared:
        return list(dict.fromkeys(_flat(declared[task])))
    import re

    prefix = f"{RESULTS}/{task}/"
    pattern = re.compile(_RESULT_FILE_PATTERNS[kind])
    return list(
        dict.fromkeys(
            f for f in _flat(TARGETS) if f.startswith(prefix) and pattern.search(f.rsplit("/", 1)[-1])
        )
    )
