# Task 1 (issue 4): instance-wise feature selection (L2X) with every estimator.
