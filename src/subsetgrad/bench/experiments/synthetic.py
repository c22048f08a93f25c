"""The paper's synthetic check (Sec. 4.1): is the top-k of the relaxed vector an
exact sample of the subset distribution p(S | w) at every temperature?

For each temperature and seed we draw N relaxed samples ``relaxed_topk(w + g)``,
read off the top-k subset of each, and compare the empirical subset frequencies
with the exact probabilities from :func:`subsetgrad.subset_probs`.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from subsetgrad.exact import subset_probs
from subsetgrad.gumbel import sample_gumbel
from subsetgrad.relaxed import relaxed_topk


def _subset_codes(indices: torch.Tensor, n: int) -> torch.Tensor:
    """Encode index sets as bitmasks (order-free)."""
    return (2**indices).sum(-1)


def run_synthetic(
    weights, k: int, temperatures, num_samples: int, seeds
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(distribution, metrics_rows)``.

    ``distribution``: one row per (seed, tau, subset) with the exact probability,
    the empirical frequency, and the paper's 95% band ``p +- 1.96 sqrt(p(1-p)/N)``.
    ``metrics_rows``: tidy rows with the total-variation distance and the
    fraction of samples where top-k(relaxed) equals top-k(w + g) (Theorem 1).
    """
    w = torch.log(torch.as_tensor(weights, dtype=torch.float64))
    n = w.shape[-1]
    subsets, probs = subset_probs(w, k)
    probs = probs.numpy()
    codes = {sum(2**i for i in s): c for c, s in enumerate(subsets)}
    dist_rows, metric_rows = [], []
    for seed in seeds:
        for t_index, tau in enumerate(temperatures):
            start = time.perf_counter()
            gen = torch.Generator().manual_seed(int(seed) * 1000 + t_index)
            scores = w + sample_gumbel((num_samples, n), dtype=w.dtype, generator=gen)
            relaxed = relaxed_topk(scores, k, float(tau))
            chosen = torch.topk(relaxed, k, dim=-1).indices
            exact_choice = torch.topk(scores, k, dim=-1).indices
            agree = (torch.sort(chosen).values == torch.sort(exact_choice).values).all(-1)
            counts = np.zeros(len(subsets))
            for code, count in zip(*np.unique(_subset_codes(chosen, n).numpy(), return_counts=True)):
                counts[codes[int(code)]] = count
            freq = counts / num_samples
            half = 1.96 * np.sqrt(probs * (1 - probs) / num_samples)
            for c, s in enumerate(subsets):
                dist_rows.append(
                    {
                        "seed": seed,
                        "tau": tau,
                        "subset": "{" + ",".join(str(i + 1) for i in s) + "}",
                        "exact_prob": probs[c],
                        "empirical_freq": freq[c],
                        "count": int(counts[c]),
                        "band_low": probs[c] - half[c],
                        "band_high": probs[c] + half[c],
                        "within_band": bool(abs(freq[c] - probs[c]) <= half[c]),
                    }
                )
            elapsed = time.perf_counter() - start
            common = {
                "task": "synthetic",
                "dataset": f"weights{n}",
                "estimator": "relaxed",
                "tau": tau,
                "k": k,
                "seed": seed,
                "wall_time_s": elapsed,
            }
            tv = 0.5 * float(np.abs(freq - probs).sum())
            metric_rows.append({**common, "metric": "tv_distance", "value": tv})
            metric_rows.append(
                {**common, "metric": "theorem1_agreement", "value": float(agree.double().mean())}
            )
            # expected TV of a multinomial sample of size N around p, for scale
            expected_tv = 0.5 * float(np.sum(np.sqrt(2 * probs * (1 - probs) / (math.pi * num_samples))))
            metric_rows.append({**common, "metric": "tv_distance_expected_by_chance", "value": expected_tv})
    return pd.DataFrame(dist_rows), pd.DataFrame(metric_rows)


def tv_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """TV distance per temperature, mean and std over seeds, with seed counts."""
    tv = metrics[metrics.metric == "tv_distance"]
    table = tv.groupby("tau")["value"].agg(["mean", "std", "count"]).reset_index()
    table = table.rename(columns={"mean": "tv_mean", "std": "tv_std", "count": "n_seeds"})
    return table.astype({"n_seeds": int})


def plot_distribution(distribution: pd.DataFrame):
    """The paper's figure: exact vs empirical subset frequencies per temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    first_seed = distribution.seed.min()
    data = distribution[distribution.seed == first_seed]
    taus = sorted(data.tau.unique())
    fig, axes = plt.subplots(1, len(taus), figsize=(3.2 * len(taus), 3), sharey=True, squeeze=False)
    for ax, tau in zip(axes[0], taus):
        d = data[data.tau == tau]
        x = np.arange(len(d))
        ax.bar(x - 0.2, d.exact_prob, width=0.4, label="exact", color="0.6")
        ax.bar(x + 0.2, d.empirical_freq, width=0.4, label="empirical", color=sns.color_palette()[0])
        ax.errorbar(
            x - 0.2,
            d.exact_prob,
            yerr=d.exact_prob - d.band_low,
            fmt="none",
            ecolor="black",
            capsize=2,
            lw=0.8,
        )
        ax.set_xticks(x, d.subset, rotation=45)
        ax.set_title(f"t = {tau:g}")
        ax.set_xlabel("subset")
    axes[0][0].set_ylabel("probability")
    axes[0][0].legend(frameon=False)
    fig.suptitle(f"Top-k of relaxed samples vs exact p(S | w) (seed {first_seed}, 95% band)")
    fig.tight_layout()
    return fig
