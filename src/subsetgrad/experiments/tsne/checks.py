"""Config checks of the t-SNE task that the JSON schema cannot express."""
from __future__ import annotations

from ...config import semantic_check


@semantic_check
def _tsne_config_is_consistent(config: dict) -> list[str]:
    task = config.get("tasks", {}).get("tsne")
    if not task:
        return []
    from .objectives import batch_size_problems

    problems = batch_size_problems(task)
    missing = [d for d in task["datasets"] if d not in task["networks"]]
    if missing:
        problems.append(f"config key 'tasks.tsne.networks': no hidden-layer sizes for dataset(s) "
                        f"{', '.join(missing)}; add e.g. `{missing[0]}: [500, 500, 2000]`")
    return problems
