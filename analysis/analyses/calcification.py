"""C9: abdominal aortic calcification (Kauppila AAC-24 on lateral DXA spine scans, adults 40+,
2013-2014 only) by supplemental vitamin D dose x magnesium adequacy.

Outcomes: severe AAC (AAC-24 > params analyze.aac_severe_above) and any AAC (> 0) by logistic
models, AAC-24 as a count by a quasi-Poisson model. Exposures: supplemental vitamin D per 10
ug/day, magnesium adequacy (usual intake, regression-calibrated, primary; one day's as
sensitivity), their product. Covariates: params model.aac_covariates and usual energy. One
cycle: its own day-1 dietary weight (the exposure is intake), and 15 design df, less the
model's coefficients as R's svyglm counts them; the CIs are wide because the design is small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.calibrated import CalibratedModel, Quantity, coefficient, combination
from analysis.analyses.common import OR_SCALE, RR_SCALE, Context, Result, evidence_of, model_table, keyed, row

OUTCOMES = {"aac_severe": ("binomial", OR_SCALE), "aac_any": ("binomial", OR_SCALE), "aac24_score": ("poisson", RR_SCALE)}
PRIMARY = "aac_severe"
USUAL = "mg_adequate_usual"
DAY1 = "mg_adequate"
DOMAIN = "in_aac"


def weight(ctx: Context) -> str:
    """The day-1 dietary weight of the cycles with AAC scans alone."""
    cycles = sorted(ctx.frame.loc[ctx.frame[DOMAIN], "cycle"].unique())
    return ctx.cycle_weight("wt_day1", cycles, "wt_day1_aac_cycles")


def exposures(modifier: str) -> list[str]:
    return ["dose10", modifier, f"dose10:{modifier}"]


def quantities(modifier: str) -> list[Quantity]:
    """Per 10 ug/day where magnesium is inadequate, where adequate, and their ratio (log scale)."""
    return [Quantity(f"per 10 ug/day | {modifier} = 0", coefficient("dose10"), "log", ("effect", "dose10", f"{modifier} = 0")),
            Quantity(f"per 10 ug/day | {modifier} = 1", combination({"dose10": 1, f"dose10:{modifier}": 1}), "log",
                     ("effect", "dose10", f"{modifier} = 1")),
            Quantity(f"ratio adequate / inadequate ({modifier})", coefficient(f"dose10:{modifier}"), "log",
                     ("interaction", f"dose10 x {modifier}", "all"))]


def covariates(ctx: Context, usual: bool) -> list[str]:
    diet = ctx.params["usual_intake"]["calibrated_diet_covariates"][:1] if usual else ctx.params["model"]["diet_covariates"][:1]
    return list(ctx.params["model"]["aac_covariates"]) + list(diet)  # energy intake, as Hruby et al.


def calibrated_models(ctx: Context) -> list[CalibratedModel]:
    w = weight(ctx)
    out = []
    for outcome, (family, scale) in OUTCOMES.items():
        spec = ctx.spec(outcome, exposures(USUAL), family, covariates=covariates(ctx, usual=True))
        out.append(CalibratedModel(f"{outcome}_by_dose_x_mg_adequacy_usual", "calcification", spec,
                                   tuple(exposures(USUAL)), DOMAIN, w, quantities(USUAL), ratio_scale=scale,
                                   note="primary: regression calibration on usual magnesium intake; 2013-2014 only"))
    return out


def day1_tables(ctx: Context) -> list[pd.DataFrame]:
    """The same models with one day's magnesium adequacy (Taylor-linearized; sensitivity)."""
    w = weight(ctx)
    tables = []
    for outcome, (family, scale) in OUTCOMES.items():
        spec = ctx.spec(outcome, exposures(DAY1), family, covariates=covariates(ctx, usual=False))
        fitted = ctx.fit(spec, w, DOMAIN)
        rows = [keyed(fitted.lincom({"dose10": 1}, f"per 10 ug/day | {DAY1} = 0"), "effect", "dose10", f"{DAY1} = 0"),
                keyed(fitted.lincom({"dose10": 1, f"dose10:{DAY1}": 1}, f"per 10 ug/day | {DAY1} = 1"),
                      "effect", "dose10", f"{DAY1} = 1"),
                keyed(fitted.lincom({f"dose10:{DAY1}": 1}, f"ratio adequate / inadequate ({DAY1})"),
                      "interaction", f"dose10 x {DAY1}")]
        table = model_table(fitted, f"{outcome}_by_dose_x_mg_adequacy_day1", DOMAIN, w,
                            ctx.covariate_text(spec, exposures(DAY1)), lincoms=rows, scale=scale)
        table["note"] = "sensitivity: one day's magnesium intake; 2013-2014 only"
        table["variance"] = "taylor"
        tables.append(table)
    return tables


def by_dose_band(ctx: Context) -> pd.DataFrame:
    """The figure's points: design-based share with severe AAC by supplemental vitamin D band,
    within magnesium groups (usual adequacy likely, P >= 0.5, where the usual model exists)."""
    f = ctx.frame
    band = f["dose_band"].astype("object").where(f["vitd_supp_ug"] > 0, "0")
    adequate = (f[USUAL] >= 0.5) if USUAL in f else f[DAY1].fillna(False).astype(bool)
    group_label = "usual Mg likely adequate (P >= 0.5)" if USUAL in f else "Mg adequate (day 1)"
    f["aac_dose_mg_group"] = band.astype(str) + "|" + np.where(adequate, "mg_adequate", "mg_inadequate")
    table = ctx.survey.proportion(PRIMARY, weight(ctx), DOMAIN, by="aac_dose_mg_group")
    table[["dose_band", "mg_group"]] = table["group"].str.split("|", expand=True)
    table["grouping"] = group_label
    return table.drop(columns=["group"])


def run(ctx: Context, calibrated_tables: dict[str, pd.DataFrame]) -> Result:
    day1 = day1_tables(ctx)
    primary = calibrated_tables.get("calcification")
    table = pd.concat(([primary] if primary is not None else []) + day1, ignore_index=True)
    modifier = USUAL if primary is not None else DAY1
    model = f"{PRIMARY}_by_dose_x_mg_adequacy_{'usual' if primary is not None else 'day1'}"
    evidence = [evidence_of(row(table, model, "effect", "dose10", f"{modifier} = 0"), "OR per 10 ug/day, Mg inadequate"),
                evidence_of(row(table, model, "interaction", f"dose10 x {modifier}"),
                            "ratio of ORs, Mg adequate vs inadequate")]
    return Result(tables={"calcification": table, "aac_by_dose": by_dose_band(ctx)}, evidence=evidence,
                  test_label="severe aortic calcification (AAC-24 > 6), adults 40+, 2013-2014: OR per 10 ug/day "
                             "supplemental vitamin D where usual magnesium is inadequate, and the ratio of ORs "
                             "adequate vs inadequate")
