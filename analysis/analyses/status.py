"""Vitamin D status of the population (everyone examined aged >= 1 with a 25(OH)D value, MEC
weight): shares below 30, 30-49, below 50 nmol/L and the mean, by cycle, sex and age group.
Published NHANES figures are recomputed in published.py."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import Context, shares

WEIGHT = "wt_mec"


def add_columns(ctx: Context) -> str:
    f = ctx.frame
    p = ctx.params["analyze"]
    vitd = f["vitd_serum_nmol"]
    f["status_age_group"] = pd.Series(pd.NA, index=f.index, dtype="string")
    for label, low, high in p["status_age_groups"]:
        f.loc[(f["age"] >= low) & (f["age"] <= high), "status_age_group"] = label
    return ctx.add_domain("in_status", f["examined"] & (f["age"] >= 1) & vitd.notna() & (f["wt_mec"] > 0))


def run(ctx: Context) -> dict[str, pd.DataFrame]:
    domain = add_columns(ctx)
    parts = []
    for by in [None, "cycle", "sex", "status_age_group"]:
        for measure in ["vitd_below_30", "vitd_30_to_49", "vitd_below_50", "vitd_serum_nmol"]:
            parts += shares(ctx, measure, domain, WEIGHT, [by], mean=measure == "vitd_serum_nmol",
                            mean_scale="mean (nmol/L)")
    return {"vitd_status": pd.concat(parts, ignore_index=True)}

