"""Config checks of the data layer that a JSON schema cannot express.

* every dataset a task names (``tasks.<task>.datasets``, or a single
  ``tasks.<task>.dataset``) is builtin or declared under the top-level ``datasets:``;
* a declared (bring-your-own) dataset does not shadow a builtin one;
* a declared dataset's kind fits its file (a .tsv/.csv is text), text options sit on text;
* a declared text dataset is named only by a task that reads token ids (L2X).
"""

from __future__ import annotations

from subsetgrad.bench.data.core import (
    DATASETS,
)  # filled by subsetgrad.bench.data's __init__, which runs before this module


def _builtin() -> set[str]:
    return set(DATASETS)


def datasets_are_known(config: dict) -> list[str]:
    builtin = _builtin()
    declared = set((config.get("datasets") or {}).keys())
    problems = [
        f"config key 'datasets.{name}': the name {name!r} is a builtin dataset; choose another "
        f"name for your own data"
        for name in sorted(declared & builtin)
    ]
    known = builtin | declared
    for task, section in sorted((config.get("tasks") or {}).items()):
        if not isinstance(section, dict):
            continue
        named = section.get("datasets")
        entries = (
            [(f"tasks.{task}.datasets[{i}]", n) for i, n in enumerate(named)]
            if isinstance(named, list)
            else []
        )
        if isinstance(section.get("dataset"), str):
            entries.append((f"tasks.{task}.dataset", section["dataset"]))
        for key, name in entries:
            if isinstance(name, str) and name not in known:
                problems.append(
                    f"config key '{key}': unknown dataset {name!r}; builtin datasets: "
                    f"{', '.join(sorted(builtin))}; declare your own under the top-level "
                    f"`datasets:` key (path to an .npz with x and y)"
                )
    return problems


#: Options of a ``datasets:`` entry that only text (``kind: text`` or a .tsv/.csv) reads.
TEXT_OPTIONS = ("text_column", "label_column", "num_words", "maxlen")
#: Tasks whose models read token ids; the others need numeric features.
TEXT_TASKS = ("l2x",)


def own_data_entries_are_consistent(config: dict) -> list[str]:
    """A ``datasets:`` entry's kind fits its file, and text options appear only on text."""
    from pathlib import Path

    from subsetgrad.bench.data.byo_text import TABLE_DELIMITERS, is_text_entry

    problems = []
    for name, entry in sorted((config.get("datasets") or {}).items()):
        suffix = Path(entry["path"]).suffix.lower()
        key = f"config key 'datasets.{name}"
        if suffix in TABLE_DELIMITERS and entry.get("kind", "text") != "text":
            problems.append(f"{key}.kind': a {suffix} file holds text; drop `kind` or set kind: text")
        if not is_text_entry(entry):
            for option in TEXT_OPTIONS:
                if option in entry:
                    problems.append(
                        f"{key}.{option}': applies to text only; set kind: text for an .npz "
                        f"of token ids, or remove it"
                    )
        elif suffix in TABLE_DELIMITERS:
            for option in ("x_key", "y_key", "layout"):
                if option in entry:
                    problems.append(
                        f"{key}.{option}': a {suffix} file has columns, not arrays; name them "
                        f"with text_column and label_column"
                    )
        elif "layout" in entry:
            problems.append(f"{key}.layout': token ids have no image layout; remove it")
    return problems


def text_datasets_are_used_by_text_tasks(config: dict) -> list[str]:
    """A bring-your-own text dataset is named only by tasks that read token ids (L2X)."""
    from subsetgrad.bench.data.byo_text import is_text_entry

    text = {name for name, entry in (config.get("datasets") or {}).items() if is_text_entry(entry)}
    problems = []
    for task, section in sorted((config.get("tasks") or {}).items()):
        if task in TEXT_TASKS or not isinstance(section, dict):
            continue
        for i, name in enumerate(section.get("datasets") or []):
            if name in text:
                problems.append(
                    f"config key 'tasks.{task}.datasets[{i}]': {name!r} is text, which only "
                    f"{', '.join(TEXT_TASKS)} reads; give {task} numeric features (an .npz of x and y)"
                )
    return problems
