"""docs/fidelity.md cannot go stale: every config value it quotes is the paper profile's value.

Each ledger row names, in its "this project" column, the config keys it rests on as
`` `tasks.<task>.<key>: <yaml value>` ``; the resolved paper profile (config/config.yaml
with config/paper.yaml merged over it, as Snakemake merges them) must hold that value.
Every row's status is ``same`` or ``differs: <why>``, never blank.
"""

import re
from pathlib import Path

import pytest
import yaml
from conftest import resolved_profile

REPO = Path(__file__).resolve().parents[1]
LEDGER = REPO / "docs/fidelity.md"
QUOTED = re.compile(
    r"`((?:tasks|seeds|profile|device|gpus_per_job|jobs_per_gpu|split_seed)[\w.\-]*):\s*([^`]+)`"
)


def paper_config() -> dict:
    return resolved_profile("paper")


def ledger_rows() -> list[list[str]]:
    """The body rows of every table in the ledger, as lists of cells."""
    rows = []
    for line in LEDGER.read_text().splitlines():
        if not line.startswith("|") or re.match(r"^\|\s*-", line):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].lower() == "setting":
            continue
        rows.append(cells)
    return rows


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def quoted_values() -> list[tuple[str, str, str]]:
    return [(row[0], key, value) for row in ledger_rows() for key, value in QUOTED.findall(row[3])]


def test_the_ledger_has_rows_for_every_task():
    text = LEDGER.read_text()
    for task in ("L2X", "kNN", "t-SNE"):
        assert re.search(rf"^## .*{task}", text, re.MULTILINE), f"no section for {task}"
    assert len(ledger_rows()) >= 30
    assert len(quoted_values()) >= 20


@pytest.mark.parametrize("setting,key,value", quoted_values(), ids=lambda v: str(v)[:60])
def test_quoted_config_value_is_the_paper_profiles(setting, key, value):
    config = paper_config()
    try:
        actual = _lookup(config, key)
    except KeyError:
        pytest.fail(f"ledger row {setting!r} names config key {key!r}, which config/paper.yaml does not set")
    assert actual == yaml.safe_load(value), (
        f"ledger row {setting!r}: docs/fidelity.md says {key} = {value}, config/paper.yaml resolves "
        f"to {actual!r}; update the ledger or the profile"
    )


def test_every_row_has_an_explained_status():
    for row in ledger_rows():
        assert len(row) == 5, f"ledger row {row[0]!r} has {len(row)} cells, expected 5"
        status = row[4]
        assert status == "same" or re.match(r"^differs: \S.{9,}", status), (
            f"ledger row {row[0]!r}: status must be 'same' or 'differs: <why>', got {status!r}"
        )


def test_cited_project_files_exist():
    for row in ledger_rows():
        for path in re.findall(r"(?:src|workflow|config)/[\w/.\-]+\.(?:py|smk|yaml)", row[3]):
            assert (REPO / path).is_file(), f"ledger row {row[0]!r} cites {path}, which does not exist"
