"""Validation of the workflow config, before any job runs.

The JSON schema lives in ``workflow/schemas/``: ``config.schema.yaml`` plus one
file per task that it references with ``$ref: <file>``. Estimator names are not
repeated in the schema: ``$defs.estimator`` is filled from the registry of
:func:`subsetgrad.make_estimator`, so a new estimator is valid config at once.

Checks the schema cannot express (for example ``k`` against the number of
items of a dataset) are registered with :func:`semantic_check`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import jsonschema
import yaml

from .estimators import available_estimators

_SEMANTIC_CHECKS: list[Callable[[dict], list[str]]] = []


class ConfigError(ValueError):
    """The config is invalid; the message lists every problem with its key."""


def semantic_check(fn: Callable[[dict], list[str]]) -> Callable[[dict], list[str]]:
    """Register ``fn(config) -> [problem, ...]`` to run after schema validation."""
    _SEMANTIC_CHECKS.append(fn)
    return fn


def _inline_refs(node, base: Path):
    """Replace ``{"$ref": "file.yaml"}`` by that file's content (recursively)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            target = base / ref
            return _inline_refs(yaml.safe_load(target.read_text()), target.parent)
        return {key: _inline_refs(value, base) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(value, base) for value in node]
    return node


def load_schema(schema_path: str | Path) -> dict:
    schema_path = Path(schema_path)
    schema = _inline_refs(yaml.safe_load(schema_path.read_text()), schema_path.parent)
    schema.setdefault("$defs", {})["estimator"] = {
        "type": "string",
        "enum": available_estimators(),
    }
    return schema


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    v, arg, inst = error.validator, error.validator_value, error.instance
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(inst) - set(allowed)) if isinstance(inst, dict) else []
        return (f"config key '{key}': unknown key(s) {', '.join(map(repr, extra))}; "
                f"allowed keys: {', '.join(allowed)}")
    if v == "enum":
        return (f"config key '{key}': {inst!r} is not allowed; "
                f"allowed values: {', '.join(map(str, arg))}")
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
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        for check in _SEMANTIC_CHECKS:
            problems.extend(check(config))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem(s)):\n{listing}")
    return config


@semantic_check
def _synthetic_k_fits(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("synthetic")
    if not task:
        return []
    n = len(task["weights"])
    if task["k"] > n:
        return [f"config key 'tasks.synthetic.k': k={task['k']} is larger than the number "
                f"of weights n={n}; choose k <= {n}"]
    return []
from .experiments import study as _study  # noqa: E402,F401  (semantic check of tasks.study: issue 8)
from .experiments.tsne import checks as _tsne_checks  # noqa: E402,F401  (semantic checks of tasks.tsne: issue 6)
from .experiments.l2x import plan as _l2x_plan  # noqa: E402,F401  (semantic checks of tasks.l2x: issue 4)
from .data import config_checks as _data_checks  # noqa: E402,F401  (dataset names in task configs: issue 3)
from . import config_checks as _config_checks  # noqa: E402,F401  (finite numbers, data_dir, bring-your-own files: issue 9)
from .experiments.knn import plan as _knn_plan  # noqa: E402,F401  (semantic checks of tasks.knn: issue 5)
