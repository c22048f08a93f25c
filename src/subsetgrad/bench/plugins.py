"""Plug-in estimators named in the config's top-level ``estimators:`` section.

::

    estimators:
      my_topk:
        import: "my_estimator:MyTopK"      # module:Class
        path: examples/my_estimator         # optional folder put on sys.path first
        options: {num_samples: 2}           # optional constructor defaults
    tasks: {knn: {estimators: [relaxed, my_topk]}}

Each entry is imported, checked against the estimator protocol and registered under its
name (:func:`subsetgrad.register_estimator`) in every process that reads the config: the
Snakemake process when it validates the config (so a bad entry stops the run before any
job), and each job, whose script starts with
:func:`subsetgrad.bench.workflow_log.redirect_to_log`, which calls
:func:`register_config_estimators`. A relative ``path`` is resolved against the folder
Snakemake runs in (the repository root; its jobs run there too), so the module need not be
installed; an installed package can instead declare the entry point
``subsetgrad.estimators`` and be named in the tasks directly.
"""

from __future__ import annotations

import re

from subsetgrad import plugins
from subsetgrad.plugins import PluginError, load_estimator_class, register_estimator

#: Row names the tasks give their non-estimator references; an estimator may not take one.
RESERVED_NAMES = (
    "raw_pixels",
    "pca",
    "random_projection",
    "random_selection",
    "true_features",
    "subset_sequence",
    "ptsne",
)
_RESERVED_PATTERN = re.compile(r"^pca\d+$")
# The schema's forms of a name and an import path (workflow/schemas/config.schema.yaml);
# an entry that breaks them is reported by the schema alone.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$")


def register_config_estimators(config: dict) -> list[str]:
    """Register every entry of ``config['estimators']``; return one problem per entry that
    cannot be (each naming its config key), and the load failure of any installed entry
    point that a task names."""
    problems = []
    declared = config.get("estimators") or {}
    if isinstance(declared, dict):
        for name, entry in declared.items():
            key = f"config key 'estimators.{name}'"
            if not (
                isinstance(entry, dict)
                and _NAME.match(str(name))
                and _IMPORT_PATH.match(str(entry.get("import")))
            ):
                continue
            if name in RESERVED_NAMES or _RESERVED_PATTERN.match(str(name)):
                problems.append(f"{key}: {name!r} names a reference row of a task; choose another name")
                continue
            options = entry.get("options") or {}
            if not isinstance(options, dict):
                continue
            try:
                cls = load_estimator_class(entry["import"], entry.get("path"))
                register_estimator(name, cls, options)
            except PluginError as err:
                problems.append(f"{key}: {err}")
    named = _names_in_tasks(config)
    problems += [
        f"estimator {name!r} (an installed entry point) could not be loaded: {why}"
        for name, why in sorted(plugins.ENTRY_POINT_PROBLEMS.items())
        if name in named and name not in declared
    ]
    return problems


def _names_in_tasks(config: dict) -> set[str]:
    tasks = config.get("tasks") or {}
    names = set()
    for task in tasks.values() if isinstance(tasks, dict) else ():
        if isinstance(task, dict) and isinstance(task.get("estimators"), list):
            names.update(map(str, task["estimators"]))
    return names
