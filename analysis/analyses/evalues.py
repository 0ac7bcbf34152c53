"""E-values (VanderWeele & Ding, Ann Intern Med 2017;167:268-74): how strong an unmeasured
confounder (sun exposure, skin pigmentation, multivitamin use, ...) would have to be, in its
association with both exposure and outcome on the risk-ratio scale and beyond the measured
covariates, to explain away an association, or to move its CI to include no association.

Conversions to a risk ratio, as the paper gives them: an odds ratio for a common outcome
(> 15%) by its square root, for a rare one as it is; a hazard ratio for an outcome rare by the
end of follow-up as it is, for a common one by (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)); a mean difference through the
standardized difference d = difference / SD as RR = exp(0.91 d) (the SD used is stated); a
ratio of geometric means as a mean difference on the log scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.analyses.common import Context, Result

COMMON_OUTCOME = 0.15
COLUMNS = ["claim_id", "association", "estimate", "ci_low", "ci_high", "scale", "conversion", "rr", "rr_ci_near_null",
           "e_value", "e_value_ci", "sentence"]


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (a protective one is inverted first)."""
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def rr_from(kind: str, value: float, prevalence: float | None = None, sd: float | None = None) -> float:
    """A risk ratio from an odds ratio, rate ratio, mean difference or geometric-mean ratio."""
    if kind == "OR":
        return math.sqrt(value) if prevalence is not None and prevalence > COMMON_OUTCOME else value
    if kind in ("RR", "rate ratio"):
        return value
    if kind == "HR":
        if prevalence is not None and prevalence > COMMON_OUTCOME:
            return (1 - 0.5 ** math.sqrt(value)) / (1 - 0.5 ** math.sqrt(1 / value))
        return value
    if kind == "MD":
        return math.exp(0.91 * value / sd)
    if kind == "GMR":
        return math.exp(0.91 * math.log(value) / sd)
    raise ValueError(f"E-value: unknown effect scale {kind!r}")


def evalue_with_ci(kind: str, estimate: float, low: float, high: float, prevalence: float | None = None,
                   sd: float | None = None) -> tuple[float, float, float, float]:
    """(RR, RR of the CI limit nearer the null, E-value, E-value of that limit); the limit's
    E-value is 1 when the CI includes no association."""
    rr, rr_low, rr_high = (rr_from(kind, v, prevalence, sd) for v in (estimate, low, high))
    if rr_low <= 1 <= rr_high:
        near = 1.0
    else:
        near = rr_low if rr > 1 else rr_high
    return rr, near, evalue_rr(rr), 1.0 if near == 1 else evalue_rr(near)


@dataclass(frozen=True)
class Association:
    """What an estimate behind a verdict is, and where to find the SD or prevalence it needs."""

    kind: str  # OR, MD, GMR, ...
    outcome: str
    domain: str
    weight: str
    label: str


def weighted_sd(ctx: Context, column: str, domain: str, weight: str) -> float:
    inside = ctx.frame[domain].astype(bool) & ctx.frame[column].notna()
    values, weights = ctx.frame.loc[inside, column].astype(float), ctx.frame.loc[inside, weight]
    mean = np.average(values, weights=weights)
    return float(np.sqrt(np.average((values - mean) ** 2, weights=weights)))


def weighted_share(ctx: Context, column: str, domain: str, weight: str) -> float:
    inside = ctx.frame[domain].astype(bool) & ctx.frame[column].notna()
    return float(np.average(ctx.frame.loc[inside, column].astype(float), weights=ctx.frame.loc[inside, weight]))


def row(ctx: Context, cid: str, association: Association, estimate: float, low: float, high: float) -> dict:
    out = {"claim_id": cid, "association": association.label, "estimate": estimate, "ci_low": low, "ci_high": high,
           "scale": association.kind}
    if association.kind == "OR":
        prevalence = weighted_share(ctx, association.outcome, association.domain, association.weight)
        conversion = (f"OR to RR by its square root (outcome prevalence {100 * prevalence:.0f}% > 15%)"
                      if prevalence > COMMON_OUTCOME else f"OR taken as RR (rare outcome, {100 * prevalence:.0f}%)")
        values = evalue_with_ci("OR", estimate, low, high, prevalence=prevalence)
    elif association.kind == "HR":
        share = weighted_share(ctx, association.outcome, association.domain, association.weight)
        conversion = (f"HR to RR by (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR)) ({100 * share:.0f}% had the outcome "
                      "by the end of follow-up, > 15%)" if share > COMMON_OUTCOME
                      else f"HR taken as RR (outcome rare by the end of follow-up, {100 * share:.1f}%)")
        values = evalue_with_ci("HR", estimate, low, high, prevalence=share)
    elif association.kind in ("MD", "GMR"):
        column = association.outcome
        sd = weighted_sd(ctx, column, association.domain, association.weight)
        unit = "on the log scale" if association.kind == "GMR" else "nmol/L"
        conversion = f"RR = exp(0.91 d), d = {'log ratio' if association.kind == 'GMR' else 'difference'} / SD; SD {sd:.3g} {unit}"
        values = evalue_with_ci(association.kind, estimate, low, high, sd=sd)
    else:
        conversion = "taken as a risk ratio"
        values = evalue_with_ci(association.kind, estimate, low, high)
    rr, near, e, e_ci = values
    out.update(conversion=conversion, rr=rr, rr_ci_near_null=near, e_value=e, e_value_ci=e_ci)
    out["sentence"] = (f"An unmeasured confounder associated with both the exposure and the outcome by a risk ratio of "
                       f"{e:.2f} each, beyond the measured covariates, could explain away this association"
                       + (f"; one of {e_ci:.2f} could move its CI to include no association." if e_ci > 1
                          else "; its CI already includes no association."))
    return out


def not_applicable(cid: str, reason: str) -> dict:
    return {"claim_id": cid, "association": "", "sentence": f"No E-value: {reason}."}


def associations(ctx: Context) -> dict[str, list[Association]]:
    """The estimates behind each verdict, in the order of their evidence."""
    vitd = ("vitd_serum_nmol", "in_main", "wt_day1")
    return {
        "C1": [Association("MD", *vitd, "supplement use x magnesium adequacy, difference in 25(OH)D")],
        "C2": [Association("MD", *vitd, "25(OH)D per 10 ug/day where magnesium is inadequate")],
        "C4": [Association("OR", "osteoporosis_dxa", "in_bone", "wt_day1", "osteoporosis, both intakes adequate vs neither")],
        "C5": [Association("OR", "vitd_below_50", "in_main", "wt_day1", "25(OH)D < 50 nmol/L, high Ca:Mg ratio")],
        "C9": [Association("OR", "aac_severe", "in_aac", "wt_day1", "severe AAC per 10 ug/day, magnesium inadequate"),
               Association("OR", "aac_severe", "in_aac", "wt_day1", "severe AAC, ratio of ORs adequate vs inadequate")],
        "C10": [Association("GMR", "crp_log", "in_crp", "wt_mec", "CRP per 25 nmol/L 25(OH)D"),
                Association("GMR", "crp_log", "in_crp", "wt_mec", "CRP, magnesium adequate vs not")],
        "C11": [Association("HR", "died_cvd", "in_mort_diet", "wt_day1",
                            "cardiovascular death, magnesium and 25(OH)D both adequate vs neither")],
    }


NOT_APPLICABLE = {
    "C1b": "a contrast of percentiles, which has no risk-ratio form",
    "C3": "the estimate is a supplement dose, not an association (its dose x magnesium interaction is in C1's dose model)",
    "C6": "a prevalence, not an association",
    "C7": "a fact check",
    "C8": "not testable",
}


def table(ctx: Context, results: dict[str, Result], claim_ids: list[str]) -> pd.DataFrame:
    """One row per association behind each testable claim's verdict (the stand-in's where the
    claim's own test could not run)."""
    rows = []
    for cid in claim_ids:
        if cid in NOT_APPLICABLE:
            rows.append(not_applicable(cid, NOT_APPLICABLE[cid]))
            continue
        stand_in = cid not in results and f"{cid}_fallback" in results
        result = results.get(f"{cid}_fallback") if stand_in else results.get(cid)
        evidence = [e for e in (result.evidence if result else []) if e is not None]
        if cid not in associations(ctx) or not evidence:
            rows.append(not_applicable(cid, "no estimate (not testable with the files at hand, or the domain too small)"))
            continue
        for association, e in zip(associations(ctx)[cid], evidence):
            if stand_in:  # the supplement-only stand-ins use the supplement domain and their own label
                association = Association(association.kind, association.outcome,
                                          "in_supp" if association.domain == "in_main" else association.domain,
                                          association.weight, e.label or association.label)
            rows.append(row(ctx, cid, association, e.estimate, e.ci_low, e.ci_high))
    return pd.DataFrame(rows, columns=COLUMNS)


def summary(table: pd.DataFrame) -> dict[str, str]:
    """claim_id -> the E-values as the verdict table shows them."""
    out = {}
    for cid, rows in table.groupby("claim_id", sort=False):
        parts = [f"{r.e_value:.2f} (CI: {r.e_value_ci:.2f})" for r in rows.itertuples() if pd.notna(r.e_value)]
        out[cid] = "; ".join(parts) if parts else "not applicable"
    return out
