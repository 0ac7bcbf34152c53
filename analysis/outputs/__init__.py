"""Outputs: report pages, figures drawn from tables, notebooks, and the risk stage."""
