"""C9 by simulation: a planted supplemental vitamin D x magnesium effect on aortic calcification
(more calcification with dose only where usual magnesium is inadequate) is recovered and the
claim supported; without one, it is not supported. Both steps of the calibrated analysis, with
jackknife replicates, as the pipeline runs them (four cycles of scans, so that the design df
allow a test; NHANES scored one)."""

from __future__ import annotations

import copy

import numpy as np

from analysis.claims import registry as claims
from analysis.analyses import calcification, calibrated
from analysis.analyses.common import Context
from analysis.core.config import load_params
from analysis.usual import definition
from tests import synthetic
from tests.conftest import REPO
from tests.usual_model import write_calibration_model

PARAMS = load_params(REPO / "params.yaml")


def c9(frame, tmp_path):
    p = copy.deepcopy(PARAMS)
    p["model"]["covariates"] = ["age", "sex", "race_eth", "bmi", "smoking", "season", "cycle"]
    p["analyze"]["min_domain_n"] = 50
    rows = definition.domains(frame, p)["calibration"].to_numpy()
    path = write_calibration_model(frame, p, tmp_path / "usual_model.json")
    ctx = Context(frame.assign(in_aac=frame["in_aac"] & rows), p)
    models = [m for m in calcification.calibrated_models(ctx) if m.name.startswith("aac_severe")]
    result = calcification.run(ctx, calibrated.run(ctx, models, path).tables)
    return result, claims.decide(p["verdicts"]["C9"], result.evidence)


def test_planted_effect_is_recovered_and_supported(tmp_path):
    result, verdict = c9(synthetic.calcification_table(log_or_inadequate=0.5, log_or_adequate=0.0, seed=5), tmp_path)
    per_dose, ratio = result.evidence
    assert per_dose.ci_low < np.exp(0.5) < per_dose.ci_high and per_dose.ci_low > 1
    assert ratio.ci_low < np.exp(-0.5) < ratio.ci_high and ratio.ci_high < 1
    assert verdict == claims.SUPPORTED


def test_no_effect_is_not_supported(tmp_path):
    result, verdict = c9(synthetic.calcification_table(log_or_inadequate=0.0, log_or_adequate=0.0, seed=6), tmp_path)
    per_dose, _ = result.evidence
    assert per_dose.ci_low < 1 < per_dose.ci_high
    assert verdict != claims.SUPPORTED
