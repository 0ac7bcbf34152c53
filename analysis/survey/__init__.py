"""Survey: the design-based estimators (the only package importing svy), replicates, the weight rule, CIs, NCHS flags, --where."""
