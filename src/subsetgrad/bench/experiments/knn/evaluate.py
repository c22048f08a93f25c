"""Metrics of a trained kNN embedding: hard k-nearest-neighbour search and majority-vote
classification, in blocks, and the accuracy of a net's embedding.

Evaluating 10,000 queries against 60,000 references would need a 600-million
entry distance matrix. :func:`knn_search` instead walks over blocks of at most
``block_elements`` query-reference pairs, keeps the ``k`` best per query from
each block, and merges them with the running best: peak memory is one block
plus ``O(queries_in_block * k)``.

Squared Euclidean distance ``||q - r||^2 = ||q||^2 - 2 q.r + ||r||^2`` (clamped
at 0 against round-off, :func:`~subsetgrad.bench.experiments.common.squared_distances`);
the order of neighbours is what matters, and it equals the order by Euclidean distance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from subsetgrad.bench.experiments.common import squared_distances

DistanceFn = Callable[[Tensor, Tensor], Tensor]


def block_shape(num_queries: int, num_references: int, block_elements: int) -> tuple[int, int]:
    """``(query_rows, reference_columns)`` of a distance block with at most ``block_elements`` entries.

    Whole reference rows are preferred (one matrix product per query block); the
    reference side is split only when a single row does not fit.
    """
    if isinstance(block_elements, bool) or not isinstance(block_elements, int) or block_elements < 1:
        raise ValueError(f"block_elements must be an integer >= 1, got {block_elements!r}")
    columns = max(1, min(num_references, block_elements))
    rows = max(1, min(num_queries, block_elements // columns))
    return rows, columns


def knn_search(
    queries: Tensor,
    references: Tensor,
    k: int,
    block_elements: int = 2**24,
    distance: DistanceFn = squared_distances,
) -> tuple[Tensor, Tensor]:
    """Indices ``[q, k]`` of each query's ``k`` nearest references and their distances.

    Sorted nearest first. ``distance(query_block, reference_block)`` is called on
    blocks whose result has at most ``block_elements`` entries.
    """
    if queries.dim() != 2 or references.dim() != 2 or queries.shape[1] != references.shape[1]:
        raise ValueError(
            f"queries [q, d] and references [r, d] must be 2-d with the same d; "
            f"got {tuple(queries.shape)} and {tuple(references.shape)}"
        )
    if queries.dtype != references.dtype:
        raise ValueError(
            f"queries ({queries.dtype}) and references ({references.dtype}) must have the same dtype"
        )
    num_q, num_r = queries.shape[0], references.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_r:
        raise ValueError(f"k must be an integer in [1, {num_r}] (the number of references), got {k!r}")
    rows, columns = block_shape(num_q, num_r, block_elements)
    all_idx, all_dist = [], []
    for q0 in range(0, num_q, rows):
        q = queries[q0 : q0 + rows]
        best_dist = best_idx = None
        for r0 in range(0, num_r, columns):
            d = distance(q, references[r0 : r0 + columns])
            kk = min(k, d.shape[1])
            block_dist, block_idx = torch.topk(d, kk, dim=1, largest=False, sorted=True)
            block_idx = block_idx + r0
            del d  # release the block before merging
            if best_dist is None:
                best_dist, best_idx = block_dist, block_idx
            else:
                merged_dist = torch.cat([best_dist, block_dist], dim=1)
                merged_idx = torch.cat([best_idx, block_idx], dim=1)
                keep = min(k, merged_dist.shape[1])
                best_dist, pos = torch.topk(merged_dist, keep, dim=1, largest=False, sorted=True)
                best_idx = torch.gather(merged_idx, 1, pos)
        all_idx.append(best_idx)
        all_dist.append(best_dist)
    return torch.cat(all_idx), torch.cat(all_dist)


def majority_vote(neighbour_labels: Tensor, num_classes: int) -> Tensor:
    """Most frequent label per row of ``[q, k]``; ties go to the smallest label
    (as scikit-learn's ``KNeighborsClassifier`` with uniform weights)."""
    counts = torch.zeros(
        neighbour_labels.shape[0], num_classes, dtype=torch.long, device=neighbour_labels.device
    )
    counts.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))
    return counts.argmax(dim=1)  # first maximum = smallest label


def knn_predict(
    queries: Tensor,
    references: Tensor,
    reference_labels: Tensor,
    k: int,
    block_elements: int = 2**24,
    num_classes: int | None = None,
) -> Tensor:
    """Hard kNN classification: majority label of the ``k`` nearest references."""
    if num_classes is None:
        num_classes = int(reference_labels.max()) + 1
    idx, _ = knn_search(queries, references, k, block_elements)
    return majority_vote(reference_labels.to(idx.device)[idx], num_classes)


def knn_accuracy(
    queries: Tensor,
    query_labels: Tensor,
    references: Tensor,
    reference_labels: Tensor,
    k: int,
    block_elements: int = 2**24,
) -> float:
    """Fraction of queries whose kNN majority label equals their label."""
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    pred = knn_predict(queries, references, reference_labels, k, block_elements, num_classes)
    return float((pred.cpu() == query_labels.cpu()).double().mean())


@torch.no_grad()
def embed(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    """Embeddings ``[N, d]`` in evaluation mode (batch norm uses running statistics)."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def embedding_accuracy(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_eval: Tensor,
    y_eval: Tensor,
    k: int,
    batch_size: int,
    block_elements: int,
    train_embedding: Tensor | None = None,
) -> float:
    """Hard kNN accuracy of ``x_eval`` against the whole training split, in embedding space.

    ``train_embedding``: the training split already embedded by this very ``model``; embedding
    the whole training split dominates an evaluation's cost for the large nets, so callers that
    score several splits with the same weights pass it instead of recomputing it.
    """
    if train_embedding is None:
        train_embedding = embed(model, x_train, batch_size)
    return knn_accuracy(embed(model, x_eval, batch_size), y_eval, train_embedding, y_train, k, block_elements)
