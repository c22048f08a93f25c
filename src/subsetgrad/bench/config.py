"""Validation of the workflow config, before any job runs.

The JSON schema lives in ``workflow/schemas/``: ``config.schema.yaml`` plus one
file per task that it references with ``$ref: <file>`` (resolved by :mod:`referencing`,
each file registered under its path relative to the folder; a task file reaches the root's
definitions as ``../config.schema.yaml#/$defs/...``). Estimator names are not
repeated in the schema: ``$defs.estimator`` is filled from the registry of
:func:`subsetgrad.make_estimator`, so a new estimator is valid config at once.

Plug-in estimators (top-level ``estimators:``, :mod:`subsetgrad.bench.plugins`) are
imported and registered first, so the schema and every check know their names.

Checks the schema cannot express (for example ``k`` against the number of
items of a dataset) are listed in :data:`SEMANTIC_CHECKS`, their one registry.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from subsetgrad.bench import config_checks, plugins
from subsetgrad.bench.config_checks import config_key
from subsetgrad.bench.data import config_checks as data_config_checks
from subsetgrad.bench.experiments import study
from subsetgrad.bench.experiments.knn import plan as knn_plan
from subsetgrad.bench.experiments.l2x import plan as l2x_plan
from subsetgrad.bench.experiments.tsne import plan as tsne_plan
from subsetgrad.bench.results import comparison
from subsetgrad.estimators import available_estimators


class ConfigError(ValueError):
    """The config is invalid; the message lists every problem with its key."""


#: The schema file a config is validated against; the task files are referenced from it.
ROOT_SCHEMA = "config.schema.yaml"

# libyaml's loader where PyYAML was built with it: every workflow invocation (a dry run
# included) parses the schemas, and the pure-Python loader is most of that time.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def schema_registry(schema_dir: str | Path, root: str = ROOT_SCHEMA) -> tuple[dict, Registry]:
    """The root schema and a registry of every ``*.yaml`` under ``schema_dir``.

    Each file is a resource whose URI is its path relative to ``schema_dir``
    (``config.schema.yaml``, ``tasks/l2x.schema.yaml``), so a ``$ref`` is resolved like a
    relative file path: ``tasks/l2x.schema.yaml`` from the root, and
    ``../config.schema.yaml#/$defs/estimator`` from a task file. The root's
    ``$defs.estimator`` is filled from the estimator registry before it is registered, so
    every reference to it sees the estimators of this installation.
    """
    schema_dir = Path(schema_dir)
    contents = {
        path.relative_to(schema_dir).as_posix(): yaml.load(path.read_text(), Loader=_SAFE_LOADER)
        for path in sorted(schema_dir.rglob("*.yaml"))
    }
    if root not in contents:
        raise FileNotFoundError(f"schema {root!r} is not in {schema_dir}")
    schema = contents[root]
    schema.setdefault("$defs", {})["estimator"] = {"type": "string", "enum": available_estimators()}
    registry = Registry().with_resources(
        (uri, Resource.from_contents(content, default_specification=DRAFT202012))
        for uri, content in contents.items()
    )
    return schema, registry.crawl()


def load_schema(schema_path: str | Path) -> tuple[dict, Registry]:
    """The schema at ``schema_path`` and the registry of its folder (see :func:`schema_registry`)."""
    schema_path = Path(schema_path)
    return schema_registry(schema_path.parent, schema_path.name)


def _describe(error: jsonschema.ValidationError) -> str:
    key = config_key(error.absolute_path)
    v, arg, inst = error.validator, error.validator_value, error.instance
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(inst) - set(allowed)) if isinstance(inst, dict) else []
        return (
            f"config key '{key}': unknown key(s) {', '.join(map(repr, extra))}; "
            f"allowed keys: {', '.join(allowed)}"
        )
    if v == "enum":
        return f"config key '{key}': {inst!r} is not allowed; allowed values: {', '.join(map(str, arg))}"
    if v == "type":
        return f"config key '{key}': expected {arg}, got {inst!r} ({type(inst).__name__})"
    if v == "required":
        missing = [r for r in arg if r not in inst]
        return f"config key '{key}': missing required key(s) {', '.join(missing)}"
    if v == "minimum":
        return f"config key '{key}': {inst!r} is below the minimum {arg}"
    if v == "exclusiveMinimum":
        return f"config key '{key}': {inst!r} must be greater than {arg}"
    if v in ("maximum", "exclusiveMaximum"):
        return f"config key '{key}': {inst!r} is above the maximum {arg}"
    if v == "minItems":
        return f"config key '{key}': the list must have at least {arg} item(s), got {len(inst)}"
    if v == "uniqueItems":
        return f"config key '{key}': the list has duplicate items: {inst!r}"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Raise :class:`ConfigError` naming every invalid key; return ``config`` unchanged."""
    if not isinstance(config, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got {type(config).__name__}")
    plugin_problems = plugins.register_config_estimators(config)
    schema, registry = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if plugin_problems:  # a declared plug-in that failed is reported once, not again as unknown
        declared = set(config.get("estimators") or {})
        errors = [e for e in errors if not (e.validator == "enum" and e.instance in declared)]
    problems = plugin_problems + [_describe(e) for e in errors]
    if not problems:
        for check in SEMANTIC_CHECKS:
            problems.extend(check(config))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n{listing}")
    return config


def synthetic_k_fits(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("synthetic")
    if not task:
        return []
    n = len(task["weights"])
    if task["k"] > n:
        return [
            f"config key 'tasks.synthetic.k': k={task['k']} is larger than the number "
            f"of weights n={n}; choose k <= {n}"
        ]
    return []


#: Checks the schema cannot express, one per concern, each ``config -> [problem, ...]``;
#: this tuple is the only place they are registered, and they run in its order.
SEMANTIC_CHECKS: tuple[Callable[[dict], list[str]], ...] = (
    config_checks.numbers_are_finite,
    config_checks.data_dir_is_a_folder,
    data_config_checks.own_data_entries_are_consistent,
    config_checks.own_data_files_are_valid,
    data_config_checks.datasets_are_known,
    data_config_checks.text_datasets_are_used_by_text_tasks,
    synthetic_k_fits,
    l2x_plan.l2x_settings_exist,
    knn_plan.knn_config_problems,
    tsne_plan.tsne_config_problems,
    study.study_problems_are_enumerable,
    comparison.paired_test_fits_the_seeds,
)
