"""Vitamin D status of the population (everyone examined aged >= 1 with a 25(OH)D value, MEC
weight): shares below 30, 30-49, below 50 nmol/L and the mean, by cycle, sex and age group;
and a validation against a published NHANES table (params analyze.validation)."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import Context, shares

WEIGHT = "wt_mec"


def add_columns(ctx: Context) -> str:
    f = ctx.frame
    p = ctx.params["analyze"]
    vitd = f["vitd_serum_nmol"]
    f["vitd_30_to_49"] = ((vitd >= 30) & (vitd < 50)).astype("boolean").mask(vitd.isna())
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
    return {"vitd_status": pd.concat(parts, ignore_index=True), "vitd_validation": validation(ctx, domain)}


def validation(ctx: Context, domain: str) -> pd.DataFrame:
    """Our estimate next to the published one, for the cycles and ages the publication used."""
    spec = ctx.params["analyze"]["validation"]
    f = ctx.frame
    inside = ctx.add_domain("in_validation", f[domain] & f["cycle"].isin(spec["cycles"]) & (f["age"] >= spec["min_age"]))
    rows = []
    for measure, published in spec["published"].items():
        if not f[inside].any():
            estimate = {"estimate": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n": 0}
        else:
            estimate = ctx.survey.proportion(measure, WEIGHT, inside).iloc[0].to_dict()
        rows.append({"source": spec["source"], "cycles": ", ".join(spec["cycles"]), "min_age": spec["min_age"],
                     "measure": measure, "estimate": estimate["estimate"], "ci_low": estimate["ci_low"],
                     "ci_high": estimate["ci_high"], "published": published,
                     "difference_pp": 100 * (estimate["estimate"] - published),
                     "n": int(estimate["n"]), "n_published": spec["n"], "weight": WEIGHT})
    return pd.DataFrame(rows)
