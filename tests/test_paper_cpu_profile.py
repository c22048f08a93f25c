"""config/paper_cpu.yaml is the paper profile with only its budget cut.

Resolved the way Snakemake resolves them (each merged over config/config.yaml), the two
profiles must agree on every setting except: epochs and steps per epoch, seeds, a subset of
datasets, estimators and temperatures, and the profile's name and results document.
"""

import re
from pathlib import Path

import pytest
from conftest import resolved_profile

from subsetgrad.bench.config import validate_config

REPO = Path(__file__).resolve().parents[1]

#: Dotted paths (regular expressions) the CPU profile may set to any value.
BUDGET = [
    r"profile",
    r"seeds",
    r"gpus_per_job",
    r"results_document",
    r"tasks\.\w+\.seeds",
    r"tasks\.knn\.epochs(\..*)?",
    r"tasks\.knn\.steps_per_epoch(\..*)?",
    r"tasks\.tsne\.epochs",
    r"tasks\.tsne\.pretrain_epochs",
    r"tasks\.l2x\.settings\.\w+\.(black_box|explainer)\.(epochs|steps_per_epoch)",
]
#: Lists the CPU profile may narrow to a non-empty subset (t-SNE's estimators to none: its
#: methods are the paper's experiment).
SUBSETS = [r"tasks\.\w+\.datasets", r"tasks\.\w+\.estimators", r"tasks\.\w+\.temperatures"]


def flatten(node, prefix=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def _matches(patterns, path):
    return any(re.fullmatch(p, path) for p in patterns)


def _runs_dataset(config, path):
    """Per-dataset settings of datasets the CPU profile does not run are not compared."""
    m = re.match(r"tasks\.(\w+)\.(settings|nets|normalization|augmentation)\.(\w+)", path)
    return not m or m.group(3) in config["tasks"][m.group(1)].get("datasets", [])


def test_the_cpu_profile_is_valid():
    validate_config(resolved_profile("paper_cpu"), REPO / "workflow/schemas/config.schema.yaml")


def test_the_cpu_profile_departs_from_the_paper_profile_only_in_its_budget():
    paper, cpu = dict(flatten(resolved_profile("paper"))), dict(flatten(resolved_profile("paper_cpu")))
    cpu_config = resolved_profile("paper_cpu")
    problems = []
    for path in sorted(set(paper) | set(cpu)):
        if _matches(BUDGET, path) or not _runs_dataset(cpu_config, path):
            continue
        if _matches(SUBSETS, path):
            narrowed = cpu.get(path) or []
            if not set(narrowed) <= set(paper.get(path) or []):
                problems.append(f"{path}: {narrowed} is not a subset of the paper's {paper.get(path)}")
            if not narrowed and path != "tasks.tsne.estimators":
                problems.append(f"{path}: empty")
            continue
        if paper.get(path) != cpu.get(path):
            problems.append(f"{path}: paper {paper.get(path)!r}, paper_cpu {cpu.get(path)!r}")
    assert not problems, "config/paper_cpu.yaml departs from config/paper.yaml:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "dataset", ["mnist", "fashion_mnist", "imdb_word", "imdb_sentence", "newsgroups20_w100"]
)
def test_the_cpu_profile_runs_every_full_dataset(dataset):
    config = resolved_profile("paper_cpu")
    assert any(dataset in task.get("datasets", []) for task in config["tasks"].values())


def test_the_cpu_profile_evaluates_on_the_full_test_sets():
    config = resolved_profile("paper_cpu")
    for dataset, settings in config["tasks"]["l2x"]["settings"].items():
        if dataset in config["tasks"]["l2x"]["datasets"]:
            assert settings["train_samples"] is None and settings["test_samples"] is None
