"""Task 2 (issue 5): deep stochastic k-nearest neighbours trained with every estimator.

* :mod:`.nets` - embedding networks (the paper's MNIST ConvNet, PreAct-ResNet18, small nets);
* :mod:`.neighbours` - blocked kNN search and majority vote;
* :mod:`.train` - one training run (checkpointed, resumable);
* :mod:`.baselines` - raw-pixel and PCA kNN on the same split;
* :mod:`.plan` - the runs a config asks for, and its semantic checks;
* :mod:`.report` - the accuracy table and figures.
"""
from .baselines import run_baselines
from .nets import NETS, build_embedding_net
from .neighbours import knn_accuracy, knn_predict, knn_search, majority_vote, squared_distances
from .plan import NO_TAU, build_estimator, parse_tau_label, planned_runs, run_paths, takes_tau, tau_label
from .train import train_knn_run

__all__ = ["NETS", "NO_TAU", "build_embedding_net", "build_estimator", "knn_accuracy", "knn_predict",
           "knn_search", "majority_vote", "parse_tau_label", "planned_runs", "run_baselines", "run_paths",
           "squared_distances", "takes_tau", "tau_label", "train_knn_run"]
