"""Task 3: parametric t-SNE by neighbour sub-sequences (Xie & Ermon 2019, Sec. 4.3),
against parametric t-SNE and with every estimator on a shared objective."""
