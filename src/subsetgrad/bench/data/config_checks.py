"""Config checks of the data layer that a JSON schema cannot express.

* every dataset a task names (``tasks.<task>.datasets``, or a single
  ``tasks.<task>.dataset``) is builtin or declared under the top-level ``datasets:``;
* a declared (bring-your-own) dataset does not shadow a builtin one.
"""
from __future__ import annotations

from subsetgrad.bench.data.core import DATASETS  # filled by subsetgrad.bench.data's __init__, which runs before this module


def _builtin() -> set[str]:
    return set(DATASETS)


def datasets_are_known(config: dict) -> list[str]:
    builtin = _builtin()
    declared = set((config.get("datasets") or {}).keys())
    problems = [f"config key 'datasets.{name}': the name {name!r} is a builtin dataset; choose another "
                f"name for your own data" for name in sorted(declared & builtin)]
    known = builtin | declared
    for task, section in sorted((config.get("tasks") or {}).items()):
        if not isinstance(section, dict):
            continue
        named = section.get("datasets")
        entries = ([(f"tasks.{task}.datasets[{i}]", n) for i, n in enumerate(named)]
                   if isinstance(named, list) else [])
        if isinstance(section.get("dataset"), str):
            entries.append((f"tasks.{task}.dataset", section["dataset"]))
        for key, name in entries:
            if isinstance(name, str) and name not in known:
                problems.append(
                    f"config key '{key}': unknown dataset {name!r}; builtin datasets: "
                    f"{', '.join(sorted(builtin))}; declare your own under the top-level "
                    f"`datasets:` key (path to an .npz with x and y)")
    return problems
