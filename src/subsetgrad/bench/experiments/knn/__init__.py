"""Task 2: deep stochastic k-nearest neighbours trained with every estimator.

* :mod:`.networks` - embedding networks (the paper's MNIST ConvNet, PreAct-ResNet18, small nets);
* :mod:`.train` - one training run (checkpointed, resumable);
* :mod:`.evaluate` - blocked kNN search, majority vote and the accuracy of an embedding;
* :mod:`.baselines` - raw-pixel and PCA kNN on the same split;
* :mod:`.plan` - the runs a config asks for, and the problems of its config;
* :mod:`.figures` - the task's figures (its results tables come from :mod:`subsetgrad.bench.results`).

Temperature labels and estimator construction are shared by every task
(:mod:`subsetgrad.bench.experiments.common`).
"""

from subsetgrad.bench.experiments.knn.baselines import run_baselines
from subsetgrad.bench.experiments.knn.evaluate import knn_accuracy, knn_predict, knn_search, majority_vote
from subsetgrad.bench.experiments.knn.networks import NETS, build_embedding_net
from subsetgrad.bench.experiments.knn.plan import planned_runs, run_paths
from subsetgrad.bench.experiments.knn.train import train_knn_run

__all__ = [
    "NETS",
    "build_embedding_net",
    "knn_accuracy",
    "knn_predict",
    "knn_search",
    "majority_vote",
    "planned_runs",
    "run_baselines",
    "run_paths",
    "train_knn_run",
]
