"""Config validation: every bad key is named, with the allowed values, before any job runs."""

import copy
from pathlib import Path

import pytest
import yaml

from subsetgrad.bench.config import ConfigError, validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


def _default():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def _merged(path: Path) -> dict:
    """What Snakemake does with --configfile: a recursive merge over config.yaml."""

    def merge(base, over):
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    return merge(_default(), yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    validate_config(_merged(path), SCHEMA)


def _set(config, dotted, value):
    node = config
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return config


BAD = [
    ("seeds", [0, "1"], "seeds[1]"),
    ("seeds", [], "at least 1"),
    ("seeds", [1.5], "expected integer"),
    ("device", "tpu", "allowed values: auto, cpu, cuda"),
    ("profile", "a b", "profile"),
    ("bogus", 1, "unknown key(s) 'bogus'"),
    ("tasks.synthetic.k", 0, "tasks.synthetic.k': 0 is below the minimum 1"),
    ("tasks.synthetic.k", 9, "larger than the number of weights"),
    ("tasks.synthetic.k", "2", "expected integer"),
    ("tasks.synthetic.temperatures", [0.1, 0], "temperatures[1]': 0 must be greater than 0"),
    ("tasks.synthetic.temperatures", [-1], "must be greater than 0"),
    ("tasks.synthetic.weights", [1, -2], "weights[1]"),
    ("tasks.synthetic.num_samples", 0, "num_samples"),
    ("tasks.synthetic.extra", 1, "allowed keys: k, num_samples, temperatures, weights"),
    ("tasks.nosuchtask", {}, "unknown key(s) 'nosuchtask'"),
]


@pytest.mark.parametrize("key, value, message", BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_bad_config_names_the_key(key, value, message):
    config = _set(copy.deepcopy(_default()), key, value)
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    assert message in str(info.value)


def test_all_problems_are_reported_at_once():
    config = _default()
    config["seeds"] = "zero"
    config["device"] = "gpu"
    with pytest.raises(ConfigError, match=r"2 problem\(s\)"):
        validate_config(config, SCHEMA)


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_schema_reference_resolves_in_the_registry():
    """Each schema file is a resource named by its path in workflow/schemas/; every $ref in it
    resolves from there, and the estimator enum seen through a task file is the injected one."""
    from subsetgrad import available_estimators
    from subsetgrad.bench.config import load_schema

    schema, registry = load_schema(SCHEMA)
    files = sorted(p.relative_to(SCHEMA.parent).as_posix() for p in SCHEMA.parent.rglob("*.yaml"))
    assert set(files) <= set(registry)
    checked = 0
    for uri in files:
        resolver = registry.resolver(base_uri=uri)
        for ref in _refs(registry.contents(uri)):
            assert resolver.lookup(ref).contents is not None, (uri, ref)
            checked += 1
    assert checked > len(files)  # not vacuous: the root and the task files refer to each other
    estimator = (
        registry.resolver(base_uri="tasks/study.schema.yaml")
        .lookup("../config.schema.yaml#/$defs/estimator")
        .contents
    )
    assert estimator["enum"] == available_estimators() == schema["$defs"]["estimator"]["enum"]
