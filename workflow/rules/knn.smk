# Task 2 (issue 5): deep stochastic k-nearest neighbours with every estimator.
