"""Every analysis the analyze stage runs, declared once: which claim's (or other question's)
NHANES components decide whether it can run, whether it needs the usual-intake model, the
results it produces, the tables it writes, the earlier results it reads and the columns it
derives for the analyses after it.

The stage (analysis/claims/stage.py) is a loop over `ANALYSES`. Each analysis works on its own
copy of the analytic frame, so a column or domain it adds cannot reach another analysis, and a
result cannot depend on the order analyses run in, except through what is declared here
(`uses`, `exports`). tests/test_analysis_plan.py checks the declarations against each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.analyses import (bone, calcification, deficiency, deng, dose, eras, imputation, inflammation, interaction,
                               mortality, prevalence, published, quantiles, ratio, sensitivity, status, supplements,
                               usual_intake)
from analysis.analyses.calibrated import CalibratedModel, CalibratedStatistic
from analysis.analyses.common import Context, Result, evidence_of


@dataclass(frozen=True)
class Inputs:
    """What an analysis reads: its own context (a copy of the frame with every exported column),
    the usual-intake model's files, the calibrated tables, and the earlier results it declared."""

    ctx: Context
    usual_model: Path
    usual_table: Path  # the usual stage's reports/tables/usual_intake.csv
    calibrated: dict[str, pd.DataFrame]
    results: dict[str, Result]
    components: frozenset[str]  # the NHANES components at hand in some cycle
    analytic: pd.DataFrame | None = None  # every cycle's rows (an analysis across eras picks its own)


@dataclass(frozen=True)
class Analysis:
    """One analysis. `needs`: the claim id (or OTHER_NEEDS key) whose components must be at hand;
    `usual`: runs only when the usual stage could fit its model; `unless`: runs only when that
    result is absent (a stand-in); `tables`: the files it writes (its first result carries them);
    `calibrated_models`/`calibrated_statistics`: its two-step estimates, computed by the stage in
    one replicate loop with every other analysis's (their tables reach `run` as Inputs.calibrated);
    `exports`: columns of its frame later analyses may read."""

    produces: tuple[str, ...]
    needs: str
    run: Callable[[Inputs], Result | tuple[Result, ...] | dict[str, Result]]
    tables: tuple[str, ...] = ()
    usual: bool = False
    unless: str | None = None
    uses: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    calibrated_models: Callable[[Context], list[CalibratedModel]] | None = None
    calibrated_statistics: Callable[[Context], list[CalibratedStatistic]] | None = None
    description: str = field(default="", compare=False)
    cycles: str = "analyze"  # the params section whose `cycles` it runs on (weights re-pooled over them)


# Components the non-claim analyses need (the claims' own are in analysis/claims/claims.yaml).
OTHER_NEEDS = {"supplements": ("DEMO", "VID", "DS1TOT"), "status": ("DEMO", "VID"), "published": ("DEMO",),
               "deng": ("DEMO", "DR1TOT", "DSQ1", "DSQ2", "DSPI", "DSII", "VID", "VIDRIA", "PAQ"),
               "eras": ("DEMO", "DR1TOT", "VID", "MORT")}


def _c1_day1(inputs: Inputs) -> Result:
    result = interaction.run_c1(inputs.ctx)
    result.tables.update(deficiency.run(inputs.ctx))
    result.tables.update(sensitivity.run(inputs.ctx))
    return result


def _usual_prevalence(inputs: Inputs) -> Result:
    """C6 on usual intake: the usual stage's share of adults whose usual food magnesium is
    below the EAR, beside the (unchanged) share with 25(OH)D < 50 nmol/L."""
    day1 = inputs.results["C6_day1"]
    table = pd.read_csv(inputs.usual_table)
    usual = table[(table["term"] == "mg_food_usual_below_ear") & (table["group"] == "all")]
    return Result(tables=day1.tables,
                  evidence=[evidence_of(usual, "share with usual food Mg < EAR"), day1.evidence[1]],
                  test_label="share of adults with usual food magnesium < EAR; share with 25(OH)D < 50 nmol/L")


ANALYSES: list[Analysis] = [
    Analysis(("C1_day1",), "C1", _c1_day1,
             tables=("interaction_use", "interaction_dose", "deficiency_or", "sensitivity"),
             description="C1 on one day's intake, odds of low 25(OH)D by magnesium, sensitivity analyses"),
    Analysis(("C2_day1",), "C2", lambda i: interaction.run_c2(i.ctx), tables=("dose_low_mg",)),
    Analysis(("C3_day1",), "C3", lambda i: dose.run_c3(i.ctx),
             tables=("dose_to_sufficiency", "dose_curve", "dose_binned_means")),
    Analysis(("C4_day1",), "C4", lambda i: bone.run(i.ctx), tables=("bone_or",)),
    Analysis(("C5_day1",), "C5", lambda i: ratio.run(i.ctx), tables=("ca_mg_ratio",)),
    Analysis(("C1", "C2", "C3", "C4", "C5"), "C1", lambda i: usual_intake.results(i.ctx, i.calibrated),
             tables=("interaction_usual", "usual_or"), usual=True, calibrated_models=usual_intake.models,
             description="C1-C5 on usual intake (regression calibration, both steps on every replicate)"),
    Analysis(("C1b",), "C1b", lambda i: quantiles.run(i.ctx, i.usual_model), tables=("vitd_percentiles",), usual=True,
             description="25(OH)D percentiles by usual magnesium adequacy"),
    Analysis(("imputation",), "C1",
             lambda i: Result(tables={"multiple_imputation": imputation.run(i.ctx, i.usual_model)}),
             tables=("multiple_imputation",), usual=True,
             description="multiple imputation of missing covariates"),
    Analysis(("C9",), "C9", lambda i: calcification.run(i.ctx, i.calibrated), tables=("calcification", "aac_by_dose"),
             calibrated_models=calcification.calibrated_models, description="aortic calcification"),
    Analysis(("C10",), "C10", lambda i: inflammation.run(i.ctx, i.calibrated), tables=("inflammation", "crp_by_vitd"),
             calibrated_models=inflammation.calibrated_models, description="C-reactive protein"),
    Analysis(("C10_fallback",), "C10_fallback", lambda i: inflammation.run_supplements(i.ctx),
             tables=("inflammation", "crp_by_vitd"), unless="C10",
             description="C-reactive protein, supplemental magnesium only (stand-in)"),
    Analysis(("C11",), "C11", lambda i: mortality.run(i.ctx, i.calibrated), tables=("mortality", "mortality_survival"),
             exports=("in_mort_diet",), calibrated_models=mortality.calibrated_models,
             calibrated_statistics=lambda ctx: [mortality.survival_statistic(ctx)],
             description="linked mortality, design-based Cox models"),
    Analysis(("C11_day1",), "C11", lambda i: mortality.day1_result(i.results["C11"]), usual=True, uses=("C11",)),
    Analysis(("C6_day1", "C7"), "C6", lambda i: prevalence.run(i.ctx), tables=("prevalence", "mg_intake_distribution"),
             description="prevalence (C6, C7)"),
    Analysis(("C6",), "C6", _usual_prevalence, usual=True, uses=("C6_day1",)),
    Analysis(("C1_fallback", "C2_fallback"), "supplements", lambda i: supplements.run(i.ctx),
             tables=("supplement_models",), description="supplement-only models"),
    Analysis(("status",), "status", lambda i: Result(tables=status.run(i.ctx)), tables=("vitd_status",),
             description="vitamin D status and validation"),
    Analysis(("published",), "published",
             lambda i: Result(tables={"published_checks": published.run(i.ctx, set(i.components))}),
             tables=("published_checks",), description="published NHANES figures recomputed"),
    Analysis(("deng",), "deng", lambda i: deng.run(i.ctx, i.usual_model.parent), tables=("deng_replication",), cycles="deng",
             description="Deng et al. 2013 replication, NHANES 2001-2006"),
    Analysis(("eras",), "eras", lambda i: Result(tables={
                 "eras": eras.run(i.analytic, i.ctx.params, i.usual_model.parent),
                 "mortality_follow_up": eras.follow_up(i.analytic, i.ctx.params)}),
             tables=("eras", "mortality_follow_up"), usual=True,
             description="C1 and C11 in 2001-2006 and 2007-2018 (one definition), pooled"),
]


def table_owners() -> dict[str, str]:
    """table -> the claim (or OTHER_NEEDS key) whose components it needs; the first declaring
    analysis wins (a stand-in writes the same table as the claim's own test)."""
    owners: dict[str, str] = {}
    for analysis in ANALYSES:
        for table in analysis.tables:
            owners.setdefault(table, analysis.needs)
    return owners
