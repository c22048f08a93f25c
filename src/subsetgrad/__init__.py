"""subsetgrad: gradient estimators for k-subset sampling.

Public API (items on the last dimension, any leading dimensions, CPU or CUDA,
float32 or float64):

* :func:`gumbel_topk`, :func:`pl_log_prob`: exact sampling and likelihood for the
  Gumbel-top-k / Plackett-Luce-without-replacement family;
* :func:`subset_probs`: exact subset probabilities by enumeration (small n);
* :func:`cb_sample`, :func:`cb_marginals`, :func:`cb_log_normalizer`,
  :func:`cb_subset_probs`: the conditional-Bernoulli (exactly-k) family;
* :func:`relaxed_topk`, :func:`relaxed_topk_sequence`: the paper's relaxation;
* :func:`make_estimator`: every gradient estimator behind one interface;
  :func:`estimator_class` and :func:`takes_temperature` look one up by name;
* :func:`register_estimator`, :func:`load_estimator_class`: estimators defined outside
  the package (also found through the ``subsetgrad.estimators`` entry-point group);
* :func:`subsetgrad.testing.check_estimator`: the conformance checks every estimator passes;
* :func:`set_validation`, :func:`validation`: switch the value checks of input tensors
  off (for GPU training loops: they synchronise with the host).

The library needs torch alone; the benchmark (:mod:`subsetgrad.bench`) is separate.
Messages go to the ``subsetgrad`` logger, which is silent unless the application
configures logging.
"""

import logging

# The estimator registry is filled here, and only here: each family registers its classes.
from . import estimators, estimators_cb  # noqa: F401
from ._checks import set_validation, validation, validation_enabled
from ._estimator_base import (
    Estimator,
    SubsetSample,
    available_estimators,
    estimator_class,
    make_estimator,
    register,
    takes_temperature,
)
from .cb import cb_log_normalizer, cb_log_prob, cb_marginals, cb_sample, cb_subset_probs
from .exact import MAX_SUBSETS, subset_probs
from .gumbel import gumbel_topk, indices_to_khot, pl_log_prob, sample_gumbel, topk_khot
from .plugins import PluginError, load_estimator_class, register_estimator
from .relaxed import relaxed_topk, relaxed_topk_sequence

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Estimator",
    "MAX_SUBSETS",
    "PluginError",
    "SubsetSample",
    "available_estimators",
    "cb_log_normalizer",
    "cb_log_prob",
    "cb_marginals",
    "cb_sample",
    "cb_subset_probs",
    "estimator_class",
    "gumbel_topk",
    "indices_to_khot",
    "load_estimator_class",
    "make_estimator",
    "pl_log_prob",
    "register",
    "register_estimator",
    "relaxed_topk",
    "relaxed_topk_sequence",
    "sample_gumbel",
    "set_validation",
    "subset_probs",
    "takes_temperature",
    "topk_khot",
    "validation",
    "validation_enabled",
]
