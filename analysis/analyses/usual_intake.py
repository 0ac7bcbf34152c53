"""The claims' tests on usual (habitual) magnesium intake: regression calibration with the
usual stage's columns, variance by replicate weights that rerun both steps (calibrated.py).

These are the primary tests behind C1-C5; the day-1 analyses (interaction.py, dose.py,
bone.py, ratio.py, deficiency.py) stay as sensitivity analyses beside them.

- C1: 25(OH)D on supplement use (and dose) x P(usual magnesium >= EAR): the interaction.
- C2: the dose slope at P = 0 (usual magnesium certainly below the EAR).
- C3: the dose at which the reference adult reaches the threshold, at P = 0 and P = 1.
- C4: osteoporosis by joint usual adequacy (P(both), P(exactly one) against neither).
- C5: low 25(OH)D by P(high usual Ca:Mg ratio) among the usually inadequate.
- deficiency odds of 25(OH)D < 50 and < 30 nmol/L by usual adequacy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.calibrated import CalibratedModel, Quantity, coefficient, combination
from analysis.analyses.common import GMR_SCALE, OR_SCALE, Context, Result, evidence_of, row
from analysis.analyses.dose import c3_evidence, reference_row
from analysis.analyses.interaction import OUTCOME, WEIGHT
from analysis.survey.design import FittedModel

MODIFIER = "mg_adequate_usual"
TABLES = ("interaction_usual", "usual_or")
NOTE = "regression calibration on usual intake (NCI-style measurement-error model)"


def dose_quantity(ctx: Context, threshold: float, level: float | None) -> Quantity:
    """Supplemental dose (ug/day) at which the reference adult's predicted 25(OH)D reaches
    `threshold`, at P(adequate) = level; level None: inadequate minus adequate."""
    unit = ctx.params["analyze"]["dose_unit_ug"]
    bases: dict[float, np.ndarray] = {}  # the reference adult's row does not change between replicates

    def at(fitted: FittedModel, beta: np.ndarray, g: float) -> float:
        if g not in bases:
            bases[g] = fitted.linear_predictor_gradient(reference_row(ctx, g, 0.0, modifier=MODIFIER, usual=True))
        base = bases[g]
        slope = beta[fitted.index_of("dose10")] + g * beta[fitted.index_of(f"dose10:{MODIFIER}")]
        return unit * (threshold - base @ beta) / slope

    if level is None:
        return Quantity(f"difference (inadequate - adequate) | {threshold:g} nmol/L",
                        lambda fitted, beta: at(fitted, beta, 0.0) - at(fitted, beta, 1.0), "ug/day",
                        ("dose_difference", f"{threshold:g} nmol/L", "all"))
    group = "mg_adequate_usual = 1" if level else "mg_adequate_usual = 0"
    return Quantity(f"dose to reach {threshold:g} nmol/L | {group}", lambda fitted, beta: at(fitted, beta, level), "ug/day",
                    ("dose", f"{threshold:g} nmol/L", group))


def effect_rows(exposure: str, scale: str = "identity") -> list[Quantity]:
    return [Quantity(f"interaction {exposure} x {MODIFIER}", coefficient(f"{exposure}:{MODIFIER}"), scale,
                     ("interaction", f"{exposure} x {MODIFIER}", "all")),
            Quantity(f"{exposure} effect | {MODIFIER} = 0", coefficient(exposure), scale,
                     ("effect", exposure, f"{MODIFIER} = 0")),
            Quantity(f"{exposure} effect | {MODIFIER} = 1", combination({exposure: 1, f"{exposure}:{MODIFIER}": 1}),
                     scale, ("effect", exposure, f"{MODIFIER} = 1"))]


def models(ctx: Context) -> list[CalibratedModel]:
    a = ctx.params["analyze"]
    threshold = ctx.params["verdicts"]["C3"]["threshold_nmol"]
    thresholds = sorted({threshold, *a["vitd_cutoffs_nmol"][1:]})
    out = []

    def add(name, table, outcome, exposures, domain="in_main", family="gaussian", quantities=(), drop=(),
            ratio_scale=None, **kw):
        spec = ctx.spec(outcome, exposures, family, drop=drop, usual=True)
        scale = ratio_scale or (OR_SCALE if family == "binomial" else None)
        out.append(CalibratedModel(name, table, spec, tuple(exposures), domain, WEIGHT, list(quantities),
                                   ratio_scale=scale, note=NOTE, **kw))

    add("use_x_mg_adequacy_usual", "interaction_usual", OUTCOME,
        ["vitd_supp_user", MODIFIER, f"vitd_supp_user:{MODIFIER}"], quantities=effect_rows("vitd_supp_user"))
    # C1 on the log scale: is a smaller absolute supplement association where magnesium is
    # adequate only the ceiling of a higher starting level (then the ratio interaction is ~1)?
    add("use_x_mg_adequacy_usual_log", "interaction_usual", "vitd_log",
        ["vitd_supp_user", MODIFIER, f"vitd_supp_user:{MODIFIER}"], quantities=effect_rows("vitd_supp_user", "log"),
        ratio_scale=GMR_SCALE)
    dose_quantities = effect_rows("dose10") + [
        Quantity(f"slope per 10 ug/day | {MODIFIER} = 0", coefficient("dose10"), key=("slope", "dose10", f"{MODIFIER} = 0"))]
    for t in thresholds:
        dose_quantities += [dose_quantity(ctx, t, 0.0), dose_quantity(ctx, t, 1.0), dose_quantity(ctx, t, None)]
    add("dose10ug_x_mg_adequacy_usual", "interaction_usual", OUTCOME, ["dose10", MODIFIER, f"dose10:{MODIFIER}"],
        quantities=dose_quantities)
    add("use_x_mg_per_100mg_usual", "interaction_usual", OUTCOME,
        ["vitd_supp_user", "mg_total_usual_100", "vitd_supp_user:mg_total_usual_100"],
        quantities=[Quantity("interaction vitd_supp_user x mg_total_usual_100",
                             coefficient("vitd_supp_user:mg_total_usual_100"),
                             key=("interaction", "vitd_supp_user x mg_total_usual_100", "all"))])
    for cut in a["vitd_cutoffs_nmol"][:2]:
        add(f"vitd_below_{cut}_by_mg_adequacy_usual_adj_supp_use", "usual_or", f"vitd_below_{cut}",
            [MODIFIER, "vitd_supp_user"], family="binomial")
    ratio = ["high_ca_mg_ratio_usual", MODIFIER, "high_ca_mg_ratio_mg_adequate_usual"]
    add("vitd_below_50_by_high_ca_mg_usual_x_mg_adequacy_usual", "usual_or", "vitd_below_50", ratio, family="binomial",
        drop=("ca_total_usual_mg",),
        quantities=[Quantity(f"OR high Ca:Mg | {MODIFIER} = 0", coefficient("high_ca_mg_ratio_usual"), "log",
                             ("effect", "high_ca_mg_ratio_usual", f"{MODIFIER} = 0")),
                    Quantity(f"OR high Ca:Mg | {MODIFIER} = 1",
                             combination({"high_ca_mg_ratio_usual": 1, "high_ca_mg_ratio_mg_adequate_usual": 1}),
                             "log", ("effect", "high_ca_mg_ratio_usual", f"{MODIFIER} = 1"))])
    if ctx.frame["in_bone"].sum() >= a["min_domain_n"]:
        add("osteoporosis_dxa_by_intake_adequacy_usual", "usual_or", "osteoporosis_dxa",
            ["mg_vitd_both_adequate_usual", "mg_vitd_one_adequate_usual"], domain="in_bone", family="binomial",
            drop=("sex", "season"),
            quantities=[Quantity("OR both adequate vs neither", coefficient("mg_vitd_both_adequate_usual"), "log",
                                 ("effect", "intake_adequacy both vs neither", "all")),
                        Quantity("OR one adequate vs neither", coefficient("mg_vitd_one_adequate_usual"), "log",
                                 ("effect", "intake_adequacy one vs neither", "all"))])
    return out


def results(ctx: Context, tables: dict[str, pd.DataFrame]) -> dict[str, Result]:
    """Results for C1-C5 on usual intake (keys "C1".."C5") from the calibrated tables; the
    tables go with C1's result."""
    tables = {name: tables[name] for name in TABLES}
    inter, odds = tables["interaction_usual"], tables["usual_or"]
    threshold = ctx.params["verdicts"]["C3"]["threshold_nmol"]
    use = "use_x_mg_adequacy_usual"
    dose = "dose10ug_x_mg_adequacy_usual"
    results = {
        "C1": Result(tables=tables, evidence=[evidence_of(row(inter, use, "interaction", f"vitd_supp_user x {MODIFIER}"),
                                                          "interaction (nmol/L)")],
                     test_label="interaction: supplement use x usual magnesium adequacy on 25(OH)D (nmol/L), "
                                "regression-calibrated"),
        "C2": Result(evidence=[evidence_of(row(inter, dose, "slope", "dose10", f"{MODIFIER} = 0"),
                                           "slope per 10 ug/day (nmol/L)")],
                     test_label="25(OH)D slope per 10 ug/day where usual magnesium is below the EAR (nmol/L), "
                                "regression-calibrated"),
        "C3": Result(evidence=c3_evidence(inter, dose, threshold,
                                          {f"{MODIFIER} = {g}": f"{MODIFIER} = {g}" for g in (0, 1)}, ctx),
                     test_label=f"dose to reach {threshold:g} nmol/L, usual magnesium inadequate minus adequate "
                                "(ug/day), regression-calibrated"),
        "C5": Result(evidence=[evidence_of(row(odds, "vitd_below_50_by_high_ca_mg_usual_x_mg_adequacy_usual", "effect",
                                               "high_ca_mg_ratio_usual", f"{MODIFIER} = 0"), "odds ratio")],
                     test_label="odds ratio of 25(OH)D < 50 nmol/L, usual Ca:Mg > 2.8 vs not, usual magnesium "
                                "inadequate, regression-calibrated"),
    }
    bone = row(odds, "osteoporosis_dxa_by_intake_adequacy_usual", "effect", "intake_adequacy both vs neither")
    if len(bone):
        results["C4"] = Result(evidence=[evidence_of(bone, "odds ratio")],
                               test_label="odds ratio of femoral-neck osteoporosis, usual magnesium and vitamin D "
                                          "both adequate vs neither (women 50+), regression-calibrated")
    return results
