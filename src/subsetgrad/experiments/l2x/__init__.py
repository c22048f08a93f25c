"""Task 1 (issue 4): instance-wise feature selection (L2X, Chen et al. 2018) with every
k-subset estimator.

Modules: ``models`` (black boxes, explainers, approximators), ``train`` (training loops),
``evaluate`` (post-hoc accuracy, ranks of true features, example pages), ``plan`` (runs a
config asks for; config checks), ``run`` (one workflow job end to end), ``report``
(results table and figure). Kept free of imports so that ``subsetgrad.config`` can
import ``plan`` cheaply.
"""
