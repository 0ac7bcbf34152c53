"""Replicate refits of survey GLMs: the chord iterations (the full sample's information held
fixed) reach the same root of the score equations as Newton's, and hand over to Newton when
they would not; a Cox model's replicate refits start from the linearized change of weights;
what the refits hold through every replicate is no more than they need."""

import numpy as np
import pandas as pd
import pytest

from analysis.survey.design import (ModelSpec, Refit, SurveyData, chord_glm_coef, glm_information, outcome_arrays,
                             weighted_glm_coef)


def data(family: str, seed: int = 4, n: int = 6000):
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.random(n) < 0.3, rng.normal(50, 15, n) / 10])
    eta = x @ np.array([-1.0, 0.5, 0.4, 0.1])
    y = rng.random(n) < 1 / (1 + np.exp(-eta)) if family == "binomial" else rng.poisson(np.exp(eta - 0.5))
    w = rng.uniform(0.5, 3.0, n)
    factor = np.where(np.arange(n) < 150, 0.0, np.where(np.arange(n) < 300, 2.0, 1.0))  # one PSU out, its pair doubled
    moved = x.copy()
    moved[:, 1] += rng.normal(0, 0.01, n)  # a replicate's calibrated column moves a little
    return x, y.astype(float), w, factor, moved


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_chord_steps_reach_newtons_root(family):
    x, y, w, factor, moved = data(family)
    full = weighted_glm_coef(x, y, w, family)
    inverse = np.linalg.inv(glm_information(x, w, family, full))
    newton = weighted_glm_coef(moved, y, w * factor, family, start=full)
    chord = chord_glm_coef(moved, y, w * factor, family, full, inverse)
    assert chord is not None and not np.allclose(newton, full, rtol=1e-6)
    np.testing.assert_allclose(chord, newton, rtol=1e-11, atol=1e-12)


def test_chord_hands_over_when_its_steps_do_not_shrink():
    x, y, w, factor, moved = data("binomial")
    full = weighted_glm_coef(x, y, w, "binomial")
    inverse = np.linalg.inv(glm_information(x, w, "binomial", full))
    assert chord_glm_coef(moved, y, w * factor, "binomial", full, 3 * inverse) is None  # overshoots: factor 2 per step
    refit = Refit(ModelSpec("y", ("x",), family="binomial"), y, w)
    assert refit.inverse_information is None
    np.testing.assert_allclose(refit.coef(x, w), full, rtol=1e-12)  # the full fit leaves its information
    assert refit.inverse_information is not None
    refit.inverse_information = 3 * inverse
    np.testing.assert_allclose(refit.coef(moved, w * factor, start=full),
                               weighted_glm_coef(moved, y, w * factor, "binomial", start=full), rtol=1e-12)


def cox_data(seed: int = 7, n: int = 5000):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.random(n) < 0.4, rng.normal(size=n)])
    months = rng.exponential(120 * np.exp(-(x @ np.array([0.3, -0.4, 0.2]))))
    stop = np.minimum(np.ceil(months), 130.0)
    event = (months <= 130).astype(float)
    w = rng.uniform(0.5, 3.0, n)
    factor = np.where(np.arange(n) < 120, 0.0, np.where(np.arange(n) < 240, 2.0, 1.0))
    moved = x.copy()
    moved[:, 0] += rng.normal(0, 0.01, n)
    return x, (stop, event, None), w, factor, moved


def test_cox_replicate_starts_from_the_linearized_change_and_reaches_the_same_root(monkeypatch):
    from analysis.survey import cox

    x, outcome, w, factor, moved = cox_data()
    factors = np.column_stack([factor, np.ones(len(w))])  # a replicate, and one equal to the full sample
    refit = Refit(ModelSpec("event", ("a", "b", "c"), family="cox", time="stop"), outcome, w)
    untouched = refit.replicate_starts(np.zeros(3), factors, np.arange(len(w)))
    np.testing.assert_array_equal(untouched, 0.0)  # before the full sample's fit: its coefficients
    full = refit.coef(x, w)  # the full sample's fit leaves its score residuals
    starts = refit.replicate_starts(full, factors, np.arange(len(w)))
    np.testing.assert_allclose(starts[1], full, rtol=1e-12)  # unchanged weights: no move
    root = cox.fit(moved, outcome[0], outcome[1], w * factor, beta=full, residuals=False).coef
    assert np.max(np.abs(starts[0] - root)) < np.max(np.abs(full - root)) / 5  # much nearer than the full fit
    evaluations = []
    evaluate = cox._evaluate
    monkeypatch.setattr(cox, "_evaluate", lambda *a, **k: evaluations.append(1) or evaluate(*a, **k))
    np.testing.assert_allclose(refit.coef(moved, w * factor, start=starts[0]), root, rtol=1e-10)
    from_linearized = len(evaluations)
    evaluations.clear()
    cox.fit(moved, outcome[0], outcome[1], w * factor, beta=full, residuals=False)
    assert from_linearized < len(evaluations)  # fewer Newton evaluations


def test_refit_inputs_are_copies_that_do_not_keep_the_frame_alive():
    """A view of one column holds the frame's whole block of number columns: the calibrated
    analyses keep ~25 models' outcomes for every replicate, so they must be copies."""
    frame = pd.DataFrame({"stop": [3.0, 5.0, 7.0], "event": [1.0, 0.0, 1.0], "entry": [0.0, 1.0, 2.0],
                          "other": [9.0, 9.0, 9.0], "flag": pd.array([True, False, True], dtype="boolean")})
    stop, event, entry = outcome_arrays(ModelSpec("event", ("other",), family="cox", time="stop", entry="entry"),
                                        frame)
    y = outcome_arrays(ModelSpec("flag", ("other",), family="binomial"), frame)
    for name, values in (("stop", stop), ("event", event), ("entry", entry)):
        assert not np.shares_memory(values, frame[name].to_numpy())  # that one is a view of the block
    np.testing.assert_array_equal(stop, [3, 5, 7])
    np.testing.assert_array_equal(entry, [0, 1, 2])
    np.testing.assert_array_equal(y, [1.0, 0.0, 1.0])
    assert y.dtype == float


def test_a_fitted_cox_model_keeps_no_per_row_residuals():
    """Its (rows x terms) score residuals are spent on the variance; a calibrated analysis holds
    a dozen fitted Cox models through all its replicates."""
    rng = np.random.default_rng(2)
    n = 400
    frame = pd.DataFrame({"sdmvstra": np.repeat([1, 2], n // 2), "sdmvpsu": np.tile([1, 2], n // 2),
                          "wt": rng.uniform(1, 3, n), "x": rng.normal(size=n), "domain": True})
    frame["months"] = np.ceil(rng.exponential(50 * np.exp(-0.5 * frame["x"])))
    frame["died"] = frame["months"] < 60
    frame["months"] = frame["months"].clip(upper=60)
    fitted = SurveyData(frame).coxph(ModelSpec("died", ("x",), family="cox", time="months"), "wt", "domain")
    assert fitted.fitted.score_residuals is None
    assert np.all(np.diag(fitted.vcov) > 0) and fitted.coef[0] == pytest.approx(0.5, abs=0.25)
