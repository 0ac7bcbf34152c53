"""Simulation: NHANES-shaped data with a planted interaction (and without one). The analysis
recovers the planted effect within its CI, and the verdict engine says what the data can tell."""

from __future__ import annotations

import copy

import pytest

from analysis.claims import registry as claims
from analysis.analyses import interaction
from analysis.analyses.common import Context, evidence_of
from analysis.core.config import load_params
from tests import synthetic
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def context(frame):
    params = copy.deepcopy(PARAMS)
    params["model"]["covariates"] = ["age", "sex", "race_eth", "bmi", "season", "cycle"]
    frame = frame.assign(dose10=frame["vitd_supp_ug_capped"] / 10,
                         mg_inadequate=~frame["mg_adequate"], mg_below_half_ear=frame["mg_total_mg"] < frame["mg_ear_mg"] / 2)
    return Context(frame, params)


# Use-based tests plant no dose-response, so "use" means exactly the planted use effects.
NO_DOSE = {"dose_slope_per_10ug": 0.0, "dose_interaction_per_10ug": 0.0}


def c1(frame):
    ctx = context(frame)
    table, rows = interaction.effect_modification(ctx, "vitd_supp_user", "mg_adequate", "use_x_mg_adequacy")
    evidence = evidence_of(rows["interaction"], "interaction")
    return evidence, claims.decide(PARAMS["verdicts"]["C1"], [evidence]), rows


def test_planted_interaction_is_recovered_and_supported():
    frame = synthetic.analytic_table(n_per_psu=60, cycles=synthetic.CYCLES[:4], interaction=10.0, seed=11, **NO_DOSE)
    evidence, verdict, rows = c1(frame)
    assert evidence.ci_low < 10.0 < evidence.ci_high
    assert verdict == claims.SUPPORTED
    # within-group supplement effects: 15 without adequacy, 25 with it
    assert rows["without"]["ci_low"].iloc[0] < 15 < rows["without"]["ci_high"].iloc[0]
    assert rows["with"]["ci_low"].iloc[0] < 25 < rows["with"]["ci_high"].iloc[0]


def test_no_interaction_is_contradicted_when_data_are_ample():
    frame = synthetic.analytic_table(n_per_psu=120, cycles=synthetic.CYCLES, interaction=0.0, seed=12, **NO_DOSE)
    evidence, verdict, _ = c1(frame)
    assert evidence.ci_low < 0.0 < evidence.ci_high
    assert evidence.ci_high < PARAMS["verdicts"]["C1"]["margin"]
    assert verdict == claims.CONTRADICTED


def test_too_little_data_is_inconclusive():
    frame = synthetic.analytic_table(n_per_psu=12, cycles=synthetic.CYCLES[:1], interaction=3.0, noise_sd=30, seed=13, **NO_DOSE)
    evidence, verdict, _ = c1(frame)
    assert evidence.ci_low < 0 and evidence.ci_high > PARAMS["verdicts"]["C1"]["margin"]
    assert verdict == claims.INCONCLUSIVE


@pytest.mark.parametrize("slope,expected", [(3.0, claims.CONTRADICTED), (0.0, claims.SUPPORTED)])
def test_c2_dose_slope_among_low_magnesium(slope, expected):
    frame = synthetic.analytic_table(n_per_psu=120, cycles=synthetic.CYCLES, dose_slope_per_10ug=slope,
                                     dose_interaction_per_10ug=0.0, supp_effect=0.0, interaction=0.0, seed=14)
    ctx = context(frame)
    result = interaction.run_c2(ctx)
    evidence = result.evidence[0]
    assert evidence.ci_low < slope < evidence.ci_high
    assert claims.decide(PARAMS["verdicts"]["C2"], [evidence]) == expected
