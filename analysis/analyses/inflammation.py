"""C10: C-reactive protein (CRP, mg/L; standard assay 2007-2010, high-sensitivity 2015-2018,
none in 2011-2014) by serum 25(OH)D and by magnesium adequacy.

Two associations, both needed by the claim: log CRP on 25(OH)D per params
analyze.crp_vitd_unit_nmol (term vitd_serum_per25; laboratory measures only, so the MEC weight
of the CRP cycles), and log CRP on magnesium adequacy (usual intake, regression-calibrated,
term mg_adequate_usual, primary; one day's, mg_adequate, as sensitivity; the day-1 dietary
weight). Reported as geometric-mean ratios; elevated CRP (> 3 mg/L) as a second outcome (odds
ratios). Adjusted for params model.crp_covariates (BMI among them) and, in the magnesium
models, energy intake. Without food intake the
magnesium half uses magnesium supplements alone (labelled so), as C1 and C2 do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.calibrated import CalibratedModel
from analysis.analyses.common import GMR_SCALE, OR_SCALE, Context, Result, evidence_of, model_table, shares, tidy, keyed, row

OUTCOMES = {"crp_log": ("gaussian", GMR_SCALE), "crp_elevated": ("binomial", OR_SCALE)}
VITD = "vitd_serum_per25"
DOMAIN = "in_crp"
SUPPLEMENT_LABEL = "supplemental magnesium only; food magnesium not used"


def crp_cycles(ctx: Context) -> list[str]:
    return sorted(ctx.frame.loc[ctx.frame[DOMAIN], "cycle"].unique())


def weights(ctx: Context) -> tuple[str, str]:
    """MEC and day-1 dietary weights re-pooled over the cycles that measured CRP."""
    cycles = crp_cycles(ctx)
    return (ctx.cycle_weight("wt_mec", cycles, "wt_mec_crp_cycles"),
            ctx.cycle_weight("wt_day1", cycles, "wt_day1_crp_cycles"))


def diet_domain(ctx: Context) -> str:
    """CRP participants with a reliable recall, intake and the usual-intake model's columns."""
    inside = ctx.frame[DOMAIN] & ctx.frame["in_main"]
    if "in_usual_calibration" in ctx.frame:
        inside = inside & ctx.frame["in_usual_calibration"].fillna(False).astype(bool)
    return ctx.add_domain("in_crp_diet", inside)


def covariates(ctx: Context, domain: str, extra: list[str]) -> list[str]:
    return ctx.covariates_for(domain, list(ctx.params["model"]["crp_covariates"])) + extra


def calibrated_models(ctx: Context) -> list[CalibratedModel]:
    _, w_diet = weights(ctx)
    domain = diet_domain(ctx)
    usual_diet = list(ctx.params["usual_intake"]["calibrated_diet_covariates"][:1])  # usual energy
    out = []
    for outcome, (family, scale) in OUTCOMES.items():
        spec = ctx.spec(outcome, ["mg_adequate_usual"], family, covariates=covariates(ctx, domain, usual_diet))
        out.append(CalibratedModel(f"{outcome}_by_mg_adequacy_usual", "inflammation", spec, ("mg_adequate_usual",),
                                   domain, w_diet, ratio_scale=scale,
                                   note="primary: regression calibration on usual magnesium intake"))
    return out


def association(ctx: Context, outcome: str, exposure: str, domain: str, weight: str, extra: list[str],
                name: str, note: str) -> pd.DataFrame:
    family, scale = OUTCOMES[outcome]
    spec = ctx.spec(outcome, [exposure], family, covariates=covariates(ctx, domain, extra))
    fitted = ctx.fit(spec, weight, domain)
    table = model_table(fitted, name, domain, weight, ctx.covariate_text(spec, [exposure]), scale=scale)
    table["note"] = note
    table["variance"] = "taylor"
    return table


def vitamin_d_half(ctx: Context) -> pd.DataFrame:
    w_mec, _ = weights(ctx)
    return pd.concat([association(ctx, outcome, VITD, DOMAIN, w_mec, [], f"{outcome}_by_vitd_per25",
                                  "25(OH)D per 25 nmol/L; laboratory measures only: MEC weight of the CRP cycles")
                      for outcome in OUTCOMES], ignore_index=True)


def by_vitd_band(ctx: Context) -> pd.DataFrame:
    """The figure's points and curve: design-based geometric-mean CRP by 25(OH)D band, and the
    adjusted model's standardized prediction over a grid of 25(OH)D (delta-method CI)."""
    w_mec, _ = weights(ctx)
    a = ctx.params["analyze"]
    edges = list(a["crp_vitd_bands_nmol"]) + [np.inf]
    labels = [f"{lo:g}-{hi:g}" if np.isfinite(hi) else f"{lo:g}+" for lo, hi in zip(edges[:-1], edges[1:])]
    ctx.frame["vitd_band"] = pd.cut(ctx.frame["vitd_serum_nmol"], edges, right=False, labels=labels).astype("string")
    points = shares(ctx, "crp_log", DOMAIN, w_mec, ["vitd_band"], mean=True, mean_scale="mean of log CRP")[0]
    points["kind"] = "band"
    # plotted at the band's middle (an open top band at its lower bound + 12.5 nmol/L)
    middle = {label: (lo + hi) / 2 if np.isfinite(hi) else lo + 12.5 for label, lo, hi in zip(labels, edges[:-1], edges[1:])}
    points["vitd_nmol"] = points["group"].map(middle).astype(float)
    spec = ctx.spec("crp_log", [VITD], "gaussian", covariates=covariates(ctx, DOMAIN, []))
    fitted = ctx.fit(spec, w_mec, DOMAIN)
    members = ctx.frame[ctx.frame[DOMAIN]]
    grid = np.arange(15, 151, 5, dtype=float)
    scenarios = {f"{v:g}": members.assign(**{VITD: v / a["crp_vitd_unit_nmol"]}) for v in grid}
    curve = fitted.standardized(scenarios, members[w_mec].to_numpy())
    scenario = "vitd_serum_nmol = " + curve["term"].astype(str)  # everyone's 25(OH)D set to this value
    curve = tidy(keyed(curve, "prediction", VITD, scenario), "crp_log_standardized_by_vitd", DOMAIN, w_mec, ctx.covariate_text(spec, [VITD]),
                 scale="mean of log CRP, standardized")
    curve["kind"] = "curve"
    curve["vitd_nmol"] = grid
    table = pd.concat([points, curve], ignore_index=True)
    for column in ("estimate", "ci_low", "ci_high"):
        table[f"{column}_mg_l"] = np.exp(table[column])  # geometric means
    return table


def evidence_pair(table: pd.DataFrame, mg_model: str, mg_term: str, label: str) -> list:
    vitd = row(table, "crp_log_by_vitd_per25", "coefficient", VITD)
    mg = row(table, mg_model, "coefficient", mg_term)
    return [evidence_of(vitd, "GMR of CRP per 25 nmol/L 25(OH)D"), evidence_of(mg, label)]


def run(ctx: Context, calibrated_tables: dict[str, pd.DataFrame]) -> Result:
    _, w_diet = weights(ctx)
    domain = diet_domain(ctx)
    day1 = [association(ctx, outcome, "mg_adequate", domain, w_diet, list(ctx.params["model"]["diet_covariates"][:1]),
                        f"{outcome}_by_mg_adequacy_day1", "sensitivity: one day's magnesium intake")
            for outcome in OUTCOMES]
    primary = calibrated_tables.get("inflammation")
    table = pd.concat([vitamin_d_half(ctx)] + ([primary] if primary is not None else []) + day1, ignore_index=True)
    if primary is not None:
        evidence = evidence_pair(table, "crp_log_by_mg_adequacy_usual", "mg_adequate_usual",
                                 "GMR of CRP, usual magnesium adequate vs not")
    else:
        evidence = evidence_pair(table, "crp_log_by_mg_adequacy_day1", "mg_adequate", "GMR of CRP, magnesium adequate vs not")
    return Result(tables={"inflammation": table, "crp_by_vitd": by_vitd_band(ctx)}, evidence=evidence,
                  test_label="C-reactive protein: geometric-mean ratio per 25 nmol/L 25(OH)D (MEC weight), and for "
                             "usual magnesium adequate vs inadequate (regression-calibrated)")


def run_supplements(ctx: Context) -> Result:
    """C10 without food intake: the 25(OH)D half as it is, the magnesium half on supplements."""
    _, w_diet = weights(ctx)
    domain = ctx.add_domain("in_crp_supp", ctx.frame[DOMAIN] & ctx.frame["in_supp"])
    supplements = [association(ctx, outcome, "mg_supp_user", domain, w_diet, [], f"{outcome}_by_mg_supplement_use",
                               SUPPLEMENT_LABEL) for outcome in OUTCOMES]
    table = pd.concat([vitamin_d_half(ctx)] + supplements, ignore_index=True)
    evidence = evidence_pair(table, "crp_log_by_mg_supplement_use", "mg_supp_user",
                             "GMR of CRP, magnesium supplement users vs not (" + SUPPLEMENT_LABEL + ")")
    return Result(tables={"inflammation": table, "crp_by_vitd": by_vitd_band(ctx)}, evidence=evidence,
                  test_label="C-reactive protein: geometric-mean ratio per 25 nmol/L 25(OH)D, and for magnesium "
                             "supplement use; " + SUPPLEMENT_LABEL)
