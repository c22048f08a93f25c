# Shared set-up: config validation (before any job runs) and target lists.
import sys
from pathlib import Path

try:
    from subsetgrad.config import ConfigError, validate_config
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


# --- data (issue 3) ---
DATA = config["data_dir"]


def prepared(dataset):
    """Path of a prepared dataset; task rules use it as input."""
    return f"{DATA}/prepared/{dataset}.npz"
