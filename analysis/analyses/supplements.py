"""Analyses that need only supplement files (DS1TOT), not food intake (DR1TOT): vitamin D
supplement use and dose, each x magnesium *supplement* use and dose. They run on any mirror
with DS1TOT and VID, and stand in for C1 and C2 when food intake is unavailable; their labels
say "supplemental magnesium only" because food magnesium is not in them."""

from __future__ import annotations

import pandas as pd

from analysis.analyses.common import Context, Result, evidence_of, model_table, keyed
from analysis.analyses.interaction import OUTCOME, WEIGHT, effect_modification

LABEL = "supplemental magnesium only; food magnesium not used"
DIET = ("kcal", "ca_total_mg")


def modification(ctx: Context, exposure: str, modifier: str, name: str, domain: str) -> tuple[pd.DataFrame, dict]:
    table, rows = effect_modification(ctx, exposure, modifier, name, domain, WEIGHT, OUTCOME, drop=DIET)
    table["note"] = LABEL
    return table, rows


def run(ctx: Context) -> tuple[Result, Result]:
    """(C1 stand-in, C2 stand-in); the tables are the first Result's."""
    f = ctx.frame
    max_dose = ctx.params["analyze"]["sensitivity_max_dose_ug"]
    use, use_rows = modification(ctx, "vitd_supp_user", "mg_supp_user", "supp_use_x_mg_supp_use", "in_supp")
    dose, _ = modification(ctx, "dose10", "mg_supp_user", "supp_dose10ug_x_mg_supp_use", "in_supp")
    mg_dose, _ = modification(ctx, "vitd_supp_user", "mg_supp_100", "supp_use_x_mg_supp_per_100mg", "in_supp")
    capped_domain = ctx.add_domain("in_supp_dose_cap", f["in_supp"] & (f["vitd_supp_ug"] <= max_dose))
    capped, _ = modification(ctx, "dose10", "mg_supp_user", f"supp_dose10ug_x_mg_supp_use_doses_up_to_{max_dose:g}ug",
                             capped_domain)
    no_mg = ctx.add_domain("in_supp_no_mg_supplement", f["in_supp"] & ~f["mg_supp_user"].fillna(True).astype(bool))
    spec = ctx.spec(OUTCOME, ["dose10"], drop=DIET)
    fitted = ctx.fit(spec, WEIGHT, no_mg)
    slope = keyed(fitted.lincom({"dose10": 1}, "slope per 10 ug/day | no magnesium supplement"), "slope", "dose10",
                  "mg_supp_user = 0")
    slope_table = model_table(fitted, "supp_dose_slope_no_mg_supplement", no_mg, WEIGHT,
                              ctx.covariate_text(spec, ["dose10"]), lincoms=[slope])
    slope_table["note"] = LABEL
    table = pd.concat([use, dose, mg_dose, capped, slope_table], ignore_index=True)
    c1 = Result(tables={"supplement_models": table},
                evidence=[evidence_of(use_rows["interaction"], "interaction (nmol/L)")],
                test_label="interaction: vitamin D supplement use x magnesium supplement use on 25(OH)D (nmol/L); " + LABEL)
    c2 = Result(evidence=[evidence_of(slope, "slope per 10 ug/day (nmol/L)")],
                test_label="25(OH)D slope per 10 ug/day supplemental vitamin D among adults taking no magnesium "
                           "supplement (nmol/L); " + LABEL)
    return c1, c2
