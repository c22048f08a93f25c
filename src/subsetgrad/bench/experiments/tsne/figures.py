"""The t-SNE task's figure: 2-d test embeddings, one panel per method. Its results tables
are built by :mod:`subsetgrad.bench.results` (``tsne_quality``)."""

from __future__ import annotations

import numpy as np


def scatter_figure(embeddings: dict[str, tuple[np.ndarray, np.ndarray]], title: str):
    """One panel per method: the 2-d test embedding coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(embeddings)
    cols = min(4, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, name in zip(axes.flat, names):
        points, labels = embeddings[name]
        size = 4.0 if points.shape[0] < 3000 else 0.5
        ax.scatter(
            points[:, 0], points[:, 1], c=cmap(np.asarray(labels) % 10), s=size, linewidths=0, rasterized=True
        )
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    classes = np.unique(np.concatenate([np.asarray(labels) for _, labels in embeddings.values()]))
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=cmap(c % 10), label=str(c)) for c in classes
    ]
    fig.legend(handles=handles, title="class", loc="center right", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.94, 1))
    return fig
