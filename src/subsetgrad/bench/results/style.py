"""One figure style for every result figure: seaborn theme, a fixed colour per
estimator (the same estimator has the same colour in every figure), PNG + PDF."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are written by pipeline jobs without a display

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from subsetgrad.bench.io import save_figure  # noqa: E402
from subsetgrad.estimators import available_estimators  # noqa: E402
from subsetgrad.plugins import builtin_estimators  # noqa: E402

#: Width of one facet, in inches; figures grow with their number of facets.
FACET_WIDTH = 3.2
FACET_HEIGHT = 2.6


def apply_style() -> None:
    """The project's theme; call before drawing."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "legend.frameon": False,
            "axes.titlesize": "medium",
            "pdf.fonttype": 42,
        }
    )


def estimator_colors(names=()) -> dict[str, tuple]:
    """A colour per estimator: the builtin estimators in registry order, then plug-in
    estimators, then any others (baselines, methods) in sorted order, so colours never
    depend on which runs exist and a plug-in never shifts a builtin's colour."""
    ordered = builtin_estimators()
    ordered += sorted(set(available_estimators()) - set(ordered))
    ordered += sorted(set(map(str, names)) - set(ordered))
    palette = sns.color_palette("tab10" if len(ordered) <= 10 else "tab20", len(ordered))
    return dict(zip(ordered, palette))


def figure_grid(n_rows: int, n_cols: int, **kwargs):
    """A grid of axes sized by the number of facets (always 2-D)."""
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(FACET_WIDTH * n_cols + 1.5, FACET_HEIGHT * n_rows), squeeze=False, **kwargs
    )
    return fig, axes


def save(fig, *paths) -> None:
    """Write ``fig`` to each path (format from the suffix, atomically) and close it."""
    save_figure(fig, *paths)
    plt.close(fig)


def placeholder(message: str):
    """A figure that says why there is nothing to plot (a report entry is never silently absent)."""
    fig, ax = plt.subplots(figsize=(5, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig
