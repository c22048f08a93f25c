"""Task 3: parametric t-SNE by neighbour sub-sequences (Xie & Ermon 2019, Sec. 4.3),
against parametric t-SNE and with every estimator on a shared objective.

* :mod:`.networks` - the embedding networks and their autoencoder pretraining;
* :mod:`.affinities` - Gaussian and Student-t affinities, the KL loss of parametric t-SNE;
* :mod:`.objectives` - one training objective per method;
* :mod:`.train` - one training run (checkpointed, resumable) and the reference runs;
* :mod:`.evaluate` - 1-NN error, trustworthiness, reference embeddings;
* :mod:`.plan` - the runs a config asks for, their labels, and the problems of its config;
* :mod:`.figures` - the 2-d scatter figure (results tables come from :mod:`subsetgrad.bench.results`);
* :mod:`.jobs` - the workflow scripts' glue.

Kept free of imports so that :mod:`subsetgrad.bench.config` imports :mod:`.plan` cheaply.
"""
