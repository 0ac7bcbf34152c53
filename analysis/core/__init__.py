"""Core: configuration, errors, atomic writes, the worker pool, the weighted-quantile rule. No NHANES knowledge."""
