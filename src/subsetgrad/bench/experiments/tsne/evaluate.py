"""Metrics of an embedding (1-NN error and trustworthiness), the embedding of a trained
network, and the untrained reference embeddings.

* 1-NN error: a 1-nearest-neighbour classifier fit on the *train* embeddings,
  scored on the test embeddings.
* Trustworthiness (Venna & Kaski 2001) on the test set, ``T(k)`` with ``k = 12``
  as in the paper, computed by :func:`sklearn.manifold.trustworthiness`:

      T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in N_k^emb(i)} max(0, r(i, j) - k)

  where ``N_k^emb(i)`` are the k nearest neighbours of i in the embedding and
  ``r(i, j)`` is the rank of j among i's neighbours in input space (1 = nearest).
  :func:`trustworthiness_by_definition` spells the formula out (for tests).
"""

from __future__ import annotations

import numpy as np
import torch

TRUSTWORTHINESS_NEIGHBOURS = 12


@torch.no_grad()
def embed(net: torch.nn.Module, x: np.ndarray, device: torch.device, chunk: int = 4096) -> np.ndarray:
    """The network's embedding of ``x [n, dim]`` in evaluation mode, as float64."""
    net.eval()
    parts = [
        net(torch.as_tensor(x[i : i + chunk], device=device)).cpu().numpy()
        for i in range(0, x.shape[0], chunk)
    ]
    net.train()
    return np.concatenate(parts).astype(np.float64)


def embedding_metrics(
    train_embedding: np.ndarray,
    train_labels: np.ndarray,
    test_inputs: np.ndarray,
    test_embedding: np.ndarray,
    test_labels: np.ndarray,
) -> dict[str, float]:
    """``one_nn_error`` (fit on the training points) and ``trustworthiness_12`` (test inputs
    against the test embedding)."""
    return {
        "one_nn_error": one_nn_error(train_embedding, train_labels, test_embedding, test_labels),
        "trustworthiness_12": trustworthiness(test_inputs, test_embedding),
    }


def one_nn_error(
    train_embedding: np.ndarray, train_labels: np.ndarray, test_embedding: np.ndarray, test_labels: np.ndarray
) -> float:
    """Test error of 1-NN classification with the train embeddings as the reference set."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=1).fit(train_embedding, train_labels)
    return float(np.mean(knn.predict(test_embedding) != test_labels))


def trustworthiness(
    inputs: np.ndarray, embedding: np.ndarray, n_neighbors: int = TRUSTWORTHINESS_NEIGHBOURS
) -> float:
    """``T(n_neighbors)`` by scikit-learn (Euclidean distances in both spaces)."""
    from sklearn.manifold import trustworthiness as sklearn_trustworthiness

    n = inputs.shape[0]
    if not n_neighbors < n / 2:
        raise ValueError(
            f"trustworthiness with {n_neighbors} neighbours needs more than {2 * n_neighbors} points, got {n}"
        )
    return float(sklearn_trustworthiness(inputs, embedding, n_neighbors=n_neighbors))


def trustworthiness_by_definition(inputs: np.ndarray, embedding: np.ndarray, k: int) -> float:
    """The formula in the module docstring, point by point (O(n^2 log n); for tests).

    Ties in input distances are broken by index (a stable sort), as any rank needs a rule.
    """
    n = inputs.shape[0]
    dx = ((inputs[:, None, :] - inputs[None, :, :]) ** 2).sum(-1)
    dy = ((embedding[:, None, :] - embedding[None, :, :]) ** 2).sum(-1)
    penalty = 0.0
    for i in range(n):
        others = np.array([j for j in range(n) if j != i])
        input_order = others[np.argsort(dx[i, others], kind="stable")]
        rank = {int(j): r + 1 for r, j in enumerate(input_order)}
        embedded_neighbours = others[np.argsort(dy[i, others], kind="stable")][:k]
        penalty += sum(max(0, rank[int(j)] - k) for j in embedded_neighbours)
    return 1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty


def random_projection(
    train: np.ndarray, test: np.ndarray, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Both splits through one Gaussian matrix ``[input_dim, dim]`` (entries N(0, 1/dim))."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 1.0 / np.sqrt(dim), size=(train.shape[1], dim))
    return train @ matrix, test @ matrix


def pca_projection(train: np.ndarray, test: np.ndarray, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both splits onto the first ``dim`` principal components of the train split."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dim, random_state=seed).fit(train)
    return pca.transform(train), pca.transform(test)


#: Reference embeddings evaluated next to the trained ones (no training).
REFERENCES = {"random_projection": random_projection, "pca": pca_projection}
