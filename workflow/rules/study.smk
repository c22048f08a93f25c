# Estimator study (issue 8): bias and variance against exact gradients.
