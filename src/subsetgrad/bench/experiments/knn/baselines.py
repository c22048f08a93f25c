"""Reference rows that need no training: kNN on raw pixels and on PCA features.

They use the same split, the same k and the same blocked kNN code
(:func:`~.evaluate.knn_accuracy`) as the trained embeddings, so every results
table compares like with like (the paper's Table 3 rows "kNN" and "kNN+PCA").
PCA (scikit-learn) is fitted on the training split only.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from subsetgrad.bench.experiments.knn.evaluate import knn_accuracy
from subsetgrad.bench.experiments.knn.train import TASK, check_images

RAW_PIXELS = "raw_pixels"


def pca_name(components: int) -> str:
    return f"pca{components}"


def baseline_features(data, pca_components: int) -> dict[str, dict[str, np.ndarray]]:
    """``{baseline: {split: features [N, d]}}`` for raw pixels and PCA(``pca_components``)."""
    from sklearn.decomposition import PCA

    raw = {
        split: data.x(split).reshape(len(data.x(split)), -1).astype(np.float32)
        for split in ("train", "val", "test")
    }
    dim = raw["train"].shape[1]
    components = min(pca_components, dim, raw["train"].shape[0])
    # randomized SVD for large inputs (CIFAR-10: 45,000 x 3,072); fixed random_state -> deterministic
    pca = PCA(n_components=components, random_state=0).fit(raw["train"])
    reduced = {split: pca.transform(v).astype(np.float32) for split, v in raw.items()}
    return {RAW_PIXELS: raw, pca_name(pca_components): reduced}


def run_baselines(data, task: dict, dataset: str, device: torch.device | str = "cpu") -> list[dict]:
    """Tidy metric rows (``val_accuracy``, ``test_accuracy``) for each baseline."""
    for split in ("train", "val", "test"):
        check_images(data.x(split), data.y(split), split)
    k, block = task["k"], task["eval_block_elements"]
    y = {split: torch.as_tensor(data.y(split), dtype=torch.long) for split in ("train", "val", "test")}
    rows = []
    start = time.perf_counter()
    features = baseline_features(data, task["pca_components"])
    feature_time = time.perf_counter() - start
    for name, feats in features.items():
        t0 = time.perf_counter()
        ref = torch.as_tensor(feats["train"]).to(device)
        accs = {
            f"{split}_accuracy": knn_accuracy(
                torch.as_tensor(feats[split]).to(device), y[split], ref, y["train"], k, block
            )
            for split in ("val", "test")
        }
        wall = time.perf_counter() - t0 + (feature_time if name != RAW_PIXELS else 0.0)
        for metric, value in accs.items():
            rows.append(
                {
                    "task": TASK,
                    "dataset": dataset,
                    "estimator": name,
                    "k": k,
                    "metric": metric,
                    "value": value,
                    "wall_time_s": wall,
                    "epochs": 0,
                }
            )
        print(
            f"baseline {dataset} {name}: " + ", ".join(f"{m} {v:.4f}" for m, v in accs.items()),
            file=sys.stderr,
        )
    return rows
