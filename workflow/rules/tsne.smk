# Task 3 (issue 6): parametric t-SNE by neighbour sub-sequences.
