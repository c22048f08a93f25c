"""Task 1: instance-wise feature selection (L2X, Chen et al. 2018) with every
k-subset estimator.

* :mod:`.plan` - the runs a config asks for, and the problems of its config;
* :mod:`.train` - one run: training loops, optimisers, and the jobs the workflow calls;
* :mod:`.evaluate` - post-hoc accuracy, ranks of the true features, example pages;
* :mod:`.networks` - black boxes, explainers and approximators;
* :mod:`.figures` - the task's figure (its results tables come from :mod:`subsetgrad.bench.results`).

Temperature labels and estimator construction are shared by every task
(:mod:`subsetgrad.bench.experiments.common`). Kept free of imports so that
``subsetgrad.bench.config`` can import ``plan`` cheaply.
"""
