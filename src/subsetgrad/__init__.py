"""subsetgrad: gradient estimators for k-subset sampling.

Public API (items on the last dimension, any leading dimensions, CPU or CUDA,
float32 or float64):

* :func:`gumbel_topk`, :func:`pl_log_prob`: exact sampling and likelihood for the
  Gumbel-top-k / Plackett-Luce-without-replacement family;
* :func:`subset_probs`: exact subset probabilities by enumeration (small n);
* :func:`cb_sample`, :func:`cb_marginals`, :func:`cb_log_normalizer`,
  :func:`cb_subset_probs`: the conditional-Bernoulli (exactly-k) family;
* :func:`relaxed_topk`, :func:`relaxed_topk_sequence`: the paper's relaxation;
* :func:`make_estimator`: every gradient estimator behind one interface.
"""
from .estimators import Estimator, SubsetSample, available_estimators, make_estimator, register
from .exact import MAX_SUBSETS, subset_probs
from .cb import cb_log_normalizer, cb_log_prob, cb_marginals, cb_sample, cb_subset_probs
from .gumbel import gumbel_topk, indices_to_khot, pl_log_prob, sample_gumbel, topk_khot
from .relaxed import relaxed_topk, relaxed_topk_sequence

__version__ = "0.1.0"

__all__ = [
    "Estimator",
    "MAX_SUBSETS",
    "SubsetSample",
    "available_estimators",
    "cb_log_normalizer",
    "cb_log_prob",
    "cb_marginals",
    "cb_sample",
    "cb_subset_probs",
    "gumbel_topk",
    "indices_to_khot",
    "make_estimator",
    "pl_log_prob",
    "register",
    "relaxed_topk",
    "relaxed_topk_sequence",
    "sample_gumbel",
    "subset_probs",
    "topk_khot",
]
