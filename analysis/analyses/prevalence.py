"""C6 and C7: design-based prevalence with logit CIs. The weight matches the variables:
intake measures use the day-1 (or two-day) dietary weight, 25(OH)D alone the MEC weight.
Domains are examined, non-pregnant adults with the measure known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.common import Context, Result, evidence_of, shares, tidy, keyed
from analysis.analyses.deficiency import add_quartiles


def _domains(ctx: Context) -> dict[str, tuple[str, str]]:
    f = ctx.frame
    diet = f["in_adults"] & f["recall_day1_reliable"] & (f["wt_day1"] > 0)
    return {
        "diet": (ctx.add_domain("in_diet_adults", diet & f["mg_food_mg"].notna() & f["vitd_supp_ug"].notna()), "wt_day1"),
        "two_day": (ctx.add_domain("in_two_day_adults", f["in_adults"] & f["mg_total_2day_mg"].notna() & (f["wt_day2"] > 0)), "wt_day2"),
        "vitd": (ctx.add_domain("in_vitd_adults", f["in_adults"] & f["vitd_serum_nmol"].notna()), "wt_mec"),
        "vitd_diet": (ctx.add_domain("in_vitd_diet_adults", diet & f["vitd_serum_nmol"].notna() & f["vitd_supp_ug"].notna()), "wt_day1"),
    }


def ear_ratio_bins(ratio: pd.Series, width: float, top: float) -> pd.Series:
    """Label intake / EAR by bin of `width` ("0.9-1.0"); everything from `top` up is one bin."""
    edges = np.round(np.arange(0, top + width / 2, width), 10)
    labels = [f"{low:.1f}-{high:.1f}" for low, high in zip(edges[:-1], edges[1:])] + [f"{top:.1f}+"]
    binned = pd.cut(ratio, [*edges, np.inf], right=False, labels=labels)
    return binned.astype("string")


def intake_distribution(ctx: Context, domain: str, weight: str) -> pd.DataFrame:
    """Design-based distribution of magnesium intake relative to the EAR, food vs food + supplements."""
    p = ctx.params["analyze"]
    tables = []
    for source, column in [("food", "mg_food_mg"), ("food + supplements", "mg_total_mg")]:
        ctx.frame["mg_ear_bin"] = ear_ratio_bins(ctx.frame[column] / ctx.frame["mg_ear_mg"],
                                                 p["mg_ear_ratio_bin_width"], p["mg_ear_ratio_max"])
        inside = ctx.add_domain(f"{domain}__ear_bin", ctx.frame[domain] & ctx.frame["mg_ear_bin"].notna())
        distribution = ctx.survey.distribution("mg_ear_bin", weight, inside).drop(columns=["group"])
        table = tidy(keyed(distribution, "share", "mg_ear_bin", distribution["term"].str.split("=").str[1]),
                     "mg_intake_to_ear_distribution", inside, weight, scale="proportion (logit CI)")
        table.insert(1, "source", source)
        table.insert(2, "bin", table["group"])
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def run(ctx: Context) -> tuple[Result, Result]:
    domains = _domains(ctx)
    by_all = [None, "cycle", "sex", "age_group", "vitd_supp_user"]
    by_basic = [None, "cycle", "sex", "age_group"]
    parts = []
    diet, w_diet = domains["diet"]
    for measure in ["mg_food_inadequate", "mg_inadequate"]:
        parts += shares(ctx, measure, diet, w_diet, by_all)
    two_day, w_two = domains["two_day"]
    parts += shares(ctx, "mg_total_2day_inadequate", two_day, w_two, [None, "sex", "age_group"])
    vitd, w_vitd = domains["vitd"]
    vitd_diet, w_vitd_diet = domains["vitd_diet"]
    for cut in ctx.params["analyze"]["vitd_cutoffs_nmol"]:
        parts += shares(ctx, f"vitd_below_{cut}", vitd, w_vitd, by_basic)
        parts += shares(ctx, f"vitd_below_{cut}", vitd_diet, w_vitd_diet, ["vitd_supp_user"])
    if ctx.frame["in_main"].any():  # by quartile of total magnesium intake, as deficiency_or.csv's models
        add_quartiles(ctx)
        for cut in ctx.params["analyze"]["vitd_cutoffs_nmol"]:
            parts += shares(ctx, f"vitd_below_{cut}", "in_main", "wt_day1", ["mg_quartile"])
    advice = []
    for measure in ["meets_article_mg", "meets_article_vitd", "meets_efsa_mg", "meets_efsa_vitd"]:
        advice += shares(ctx, measure, diet, w_diet, [None, "sex"])
    users = ctx.add_domain("in_vitd_supp_users", ctx.frame[vitd_diet] & ctx.frame["vitd_supp_user"].fillna(False).astype(bool))
    advice += shares(ctx, "vitd_serum_nmol", users, w_vitd_diet, ["dose_band"], mean=True)
    table = pd.concat(parts + advice, ignore_index=True)

    def overall(measure: str, domain: str) -> pd.DataFrame:
        return table[(table["model"] == measure) & (table["domain"] == domain) & (table["group_by"] == "all")]

    c6 = Result(tables={"prevalence": table, "mg_intake_distribution": intake_distribution(ctx, diet, w_diet)},
                evidence=[evidence_of(overall("mg_food_inadequate", diet), "share with food Mg < EAR"),
                          evidence_of(overall("vitd_below_50", vitd), "share with 25(OH)D < 50 nmol/L")],
                test_label="share of adults with food magnesium < EAR; share with 25(OH)D < 50 nmol/L")
    c7 = Result(evidence=[evidence_of(overall("meets_efsa_mg", diet), "share meeting EFSA magnesium AI")],
                test_label="fact check; share of adults meeting EFSA's magnesium AI (350/300 mg) shown")
    return c6, c7
