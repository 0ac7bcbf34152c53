"""Cleaning: the analytic table, its data rules, domains, validation, dictionary and analysis-time columns."""
