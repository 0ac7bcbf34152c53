"""C1 and C11 replicated across eras (params `eras`): each claim's test in NHANES 2001-2006 and
in 2007-2018, with one definition both eras have, and the two pooled.

Each era is its own design (its cycles, weights re-pooled over them) with its own usual-intake
model (analysis/usual/eras.py: energy, magnesium and calcium; supplement use from the 30-day
questionnaire). The estimates are two-step (regression calibration), with replicate SEs rerunning
both steps on the era's design. The eras are independent samples: pooled by inverse-variance
weighting, and compared by the difference of the two (a z-type test with Satterthwaite df).

- C1: the interaction 30-day vitamin D supplement use x P(usual magnesium >= EAR) on 25(OH)D.
- C11: hazard ratio of cardiovascular (and all-cause) death, usual magnesium adequate and
  25(OH)D >= 50 nmol/L vs neither (design-based Cox models), on every cycle with linked mortality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.analyses import calibrated, mortality
from analysis.analyses.calibrated import CalibratedModel, Quantity, coefficient, combination
from analysis.analyses.common import HR_SCALE, Context
from analysis.analyses.interaction import OUTCOME
from analysis.usual import eras as usual_eras

MODIFIER = "mg_adequate_usual"
EXPOSURE = "vitd_supp_user_30d"
WEIGHT = "wt_day1"
C1_KEY = ("interaction", f"{EXPOSURE} x {MODIFIER}")
C11_KEY = ("effect", mortality.BOTH)
COLUMNS = ["claim_id", "outcome", "quantity", "contrast", "era", "cycles", "estimate", "std_error", "ci_low", "ci_high",
           "p_value", "df", "n", "events", "scale", "variance", "domain", "weight", "covariates", "note"]


def era_context(analytic: pd.DataFrame, params: dict, era: str, data_clean: Path) -> Context | None:
    """The era's frame (its cycles, weights re-pooled, its usual-intake columns) and params; None
    when the era has no cycles at hand or its model could not be fitted."""
    frame = usual_eras.era_frame(analytic, params, era)
    if frame is None or not usual_eras.fitted(data_clean, era):
        return None
    return Context(usual_eras.with_columns(frame, data_clean, era), usual_eras.era_params(params, era))


def models(ctx: Context) -> list[CalibratedModel]:
    """C1 and C11 of one era: the same specification in both."""
    f = ctx.frame
    c1_spec = ctx.spec(OUTCOME, [EXPOSURE, MODIFIER, f"{EXPOSURE}:{MODIFIER}"], usual=True)
    ctx.add_domain("in_era_c1", f["in_adults"] & f["in_usual_calibration"] & f[list(c1_spec.columns())].notna().all(axis=1))
    out = [CalibratedModel("c1_use30d_x_mg_adequacy_usual", "eras", c1_spec, (EXPOSURE, MODIFIER, f"{EXPOSURE}:{MODIFIER}"), "in_era_c1",
                           WEIGHT, [Quantity(f"interaction {EXPOSURE} x {MODIFIER}",
                                             coefficient(f"{EXPOSURE}:{MODIFIER}"), "identity", (*C1_KEY, "all"))],
                           note="C1 across eras: 30-day vitamin D supplement use")]
    mortality.prepare(ctx)
    ctx.add_domain("in_era_mort", f["in_mort"] & f["in_usual_calibration"])
    covariates = ctx.covariates_for("in_era_mort", list(ctx.params["model"]["covariates"])) + \
        [ctx.params["usual_intake"]["calibrated_diet_covariates"][0]]
    for outcome in ("died_cvd", "died"):
        spec = ctx.spec(outcome, mortality.JOINT_TERMS, "cox", covariates=covariates, time=mortality.TIME)
        out.append(CalibratedModel(
            f"c11_{outcome}_by_mg_x_vitd_usual", "eras", spec, tuple(mortality.JOINT_TERMS), "in_era_mort", WEIGHT,
            [Quantity(mortality.BOTH, combination({t: 1.0 for t in mortality.JOINT_TERMS}), "log", (*C11_KEY, "all"))],
            ratio_scale=HR_SCALE, note=f"C11 across eras: {mortality.OUTCOMES[outcome]}"))
    return out


def era_rows(ctx: Context, model_path: Path, era: str) -> pd.DataFrame:
    """The era's C1 and C11 rows (two-step estimates, replicate SEs)."""
    specs = models(ctx)
    table = calibrated.run(ctx, specs, model_path).tables["eras"]
    wanted = table[table["quantity"].isin([C1_KEY[0], C11_KEY[0]])
                   & table["contrast"].isin([C1_KEY[1], C11_KEY[1]])].copy()
    wanted["era"] = era
    wanted["cycles"] = ", ".join(ctx.params["analyze"]["cycles"])
    wanted["claim_id"] = np.where(wanted["quantity"] == C1_KEY[0], "C1", "C11")
    wanted["outcome"] = [OUTCOME if c == "C1" else m.split("_by_")[0].removeprefix("c11_")
                         for c, m in zip(wanted["claim_id"], wanted["model"])]
    wanted["events"] = [np.nan if c == "C1" else events(ctx, o) for c, o in zip(wanted["claim_id"], wanted["outcome"])]
    return wanted


def events(ctx: Context, outcome: str) -> int:
    f = ctx.frame
    return int((f["in_era_mort"] & (f[WEIGHT] > 0) & f[outcome].fillna(False).astype(bool)).sum())


def combine(rows: pd.DataFrame) -> pd.DataFrame:
    """Pooled (inverse-variance) and difference (first era minus second) of each claim's two
    eras, on the model's scale (log for hazard ratios), with Satterthwaite df."""
    out = []
    for (claim, outcome), part in rows.groupby(["claim_id", "outcome"], sort=False):
        if len(part) != 2:
            continue
        ratio = part["scale"].iloc[0] == HR_SCALE
        b = np.log(part["estimate"].to_numpy()) if ratio else part["estimate"].to_numpy()
        se, df = part["std_error"].to_numpy(), part["df"].to_numpy(dtype=float)
        w = 1 / se ** 2
        c = w / w.sum()
        for era, estimate, coefficients in [("pooled", float(c @ b), c), ("difference", float(b[0] - b[1]), np.array([1.0, -1.0]))]:
            parts = coefficients ** 2 * se ** 2
            s = float(np.sqrt(parts.sum()))
            dof = float(parts.sum() ** 2 / np.sum(parts ** 2 / df))
            t = stats.t.ppf(0.975, dof)
            low, high = estimate - t * s, estimate + t * s
            p = float(2 * stats.t.sf(abs(estimate / s), dof))
            if ratio:
                estimate, low, high = np.exp(estimate), np.exp(low), np.exp(high)
            first = part.iloc[0]
            out.append({**first.to_dict(), "era": era, "cycles": ", ".join(part["cycles"]), "estimate": estimate,
                        "std_error": s, "ci_low": low, "ci_high": high, "p_value": p, "df": dof,
                        "n": int(part["n"].sum()), "events": part["events"].sum() if ratio else np.nan,
                        "note": ("inverse-variance pooled" if era == "pooled" else
                                 f"heterogeneity: {part['era'].iloc[0]} " + ("over" if ratio else "minus")
                                 + f" {part['era'].iloc[1]}")
                                + (" (on log hazard ratios: a ratio of hazard ratios; std_error on the log scale)"
                                   if ratio else "") + "; Satterthwaite df"})
    return pd.DataFrame(out)


def follow_up(analytic: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Linked mortality by cycle (every cycle of the eras): adults in the mortality flow (in_mort),
    deaths, cardiovascular deaths and person-years of follow-up from the exam (unweighted counts)."""
    cycles = [c for era in params["eras"]["cycles"].values() for c in era]
    f = analytic[analytic["cycle"].isin(cycles) & analytic["in_mort"]]
    table = f.groupby("cycle").agg(linked_adults=("seqn", "size"),
                                   deaths=("died", lambda s: int(s.fillna(False).astype(bool).sum())),
                                   cardiovascular_deaths=("died_cvd", lambda s: int(s.fillna(False).astype(bool).sum())),
                                   person_years=("followup_exam_months", lambda s: float(s.sum()) / 12),
                                   max_follow_up_years=("followup_exam_months", lambda s: float(s.max()) / 12))
    table = table.reset_index()
    total = {"cycle": "all", **{c: table[c].sum() for c in ("linked_adults", "deaths", "cardiovascular_deaths",
                                                           "person_years")},
             "max_follow_up_years": table["max_follow_up_years"].max()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def run(analytic: pd.DataFrame, params: dict, data_clean: Path) -> pd.DataFrame:
    """The eras table: each era's C1 and C11 estimates, pooled, and their difference."""
    parts = []
    for era in params["eras"]["cycles"]:
        ctx = era_context(analytic, params, era, data_clean)
        if ctx is not None:
            parts.append(era_rows(ctx, usual_eras.model_path(data_clean, era), era))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    rows = pd.concat(parts, ignore_index=True)
    table = pd.concat([rows, combine(rows)], ignore_index=True)
    return table[COLUMNS].sort_values(["claim_id", "outcome"], kind="stable").reset_index(drop=True)
