"""Odds of low 25(OH)D (< 30, < 50 nmol/L) by magnesium intake: quartiles (with a trend test)
and adequacy, with and without supplement use in the model. Logistic survey models, day-1
dietary weight, domain in_main."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import OR_SCALE, Context, model_table, keyed
from analysis.clean.features import weighted_quantile_cuts
from analysis.analyses.interaction import WEIGHT


def add_quartiles(ctx: Context) -> list[float]:
    """Weighted quartiles of total magnesium intake in the main domain; Q1 is the reference.
    The trend score is the weighted median intake of each quartile (mg/day / 100)."""
    inside = ctx.frame["in_main"]
    values, weights = ctx.frame.loc[inside, "mg_total_mg"], ctx.frame.loc[inside, WEIGHT]
    cuts = weighted_quantile_cuts(values, weights, [0.25, 0.5, 0.75])
    quartile = pd.cut(ctx.frame["mg_total_mg"], [-float("inf"), *cuts, float("inf")], labels=["Q1", "Q2", "Q3", "Q4"])
    ctx.frame["mg_quartile"] = quartile.astype("string")
    medians = {}
    for label in ["Q1", "Q2", "Q3", "Q4"]:
        members = inside & (ctx.frame["mg_quartile"] == label)
        medians[label] = weighted_quantile_cuts(ctx.frame.loc[members, "mg_total_mg"], ctx.frame.loc[members, WEIGHT], [0.5])[0]
    ctx.frame["mg_quartile_median_100"] = ctx.frame["mg_quartile"].map(medians).astype(float) / 100
    return cuts


def run(ctx: Context) -> dict[str, pd.DataFrame]:
    cuts = add_quartiles(ctx)
    note = "weighted quartile cut points of total magnesium (mg/day): " + ", ".join(f"{c:.1f}" for c in cuts)
    tables = []
    for cut in ctx.params["analyze"]["vitd_cutoffs_nmol"][:2]:
        outcome = f"vitd_below_{cut}"
        for with_use in (False, True):
            use = ["vitd_supp_user"] if with_use else []
            suffix = "_adj_supp_use" if with_use else ""
            quartile_spec = ctx.spec(outcome, ["mg_quartile"] + use, "binomial", references={"mg_quartile": "Q1"})
            fitted = ctx.fit(quartile_spec, WEIGHT, "in_main")
            trend_spec = ctx.spec(outcome, ["mg_quartile_median_100"] + use, "binomial")
            trend = keyed(ctx.fit(trend_spec, WEIGHT, "in_main").lincom({"mg_quartile_median_100": 1},
                                                                        "trend: per 100 mg/day of quartile median"),
                          "trend", "mg_quartile_median_100")
            table = model_table(fitted, f"{outcome}_by_mg_quartile{suffix}", "in_main", WEIGHT,
                                ctx.covariate_text(quartile_spec, ["mg_quartile"]), lincoms=[trend], scale=OR_SCALE)
            table["note"] = note
            tables.append(table)
            adequacy_spec = ctx.spec(outcome, ["mg_adequate"] + use, "binomial")
            adequacy = ctx.fit(adequacy_spec, WEIGHT, "in_main")
            tables.append(model_table(adequacy, f"{outcome}_by_mg_adequacy{suffix}", "in_main", WEIGHT,
                                      ctx.covariate_text(adequacy_spec, ["mg_adequate"]), scale=OR_SCALE))
    return {"deficiency_or": pd.concat(tables, ignore_index=True)}
