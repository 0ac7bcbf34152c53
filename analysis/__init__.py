"""Design-based NHANES analysis of vitamin D, magnesium and deficiency risk.

Stages (each a DVC stage and a CLI command): fetch -> clean -> analyze -> risk -> report.
"""

__version__ = "0.1.0"
