"""The risk stage: folds that keep PSUs whole, weighted metrics checked by hand, and
g-computation scenarios that recover a known prevalence change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.outputs import risk
from analysis.core.config import load_params
from tests import synthetic
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def test_weighted_auc_and_brier_by_hand():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.4, 0.3, 0.2])
    w = np.array([1.0, 2.0, 1.0, 1.0])
    # positive-negative pairs, weighted: (0.9 vs .4: w 1*2, correct), (0.9 vs .2: 1*1, correct),
    # (0.3 vs .4: 1*2, wrong), (0.3 vs .2: 1*1, correct) -> (2 + 1 + 0 + 1) / 6
    assert risk.weighted_auc(y, p, w) == pytest.approx(4 / 6)
    brier = (1 * 0.1**2 + 2 * 0.4**2 + 1 * 0.7**2 + 1 * 0.2**2) / 5
    assert risk.weighted_brier(y, p, w) == pytest.approx(brier)


def test_calibration_bins_are_weighted_deciles():
    p = np.linspace(0.05, 0.95, 10)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 0, 1, 1])
    table = risk.calibration(y, p, np.ones(10), bins=5)
    assert table["n"].tolist() == [2] * 5
    assert table["observed"].tolist() == [0.0, 0.5, 0.5, 0.5, 1.0]


def test_psu_folds_never_split_a_psu():
    frame = synthetic.analytic_table(n_per_psu=20, cycles=synthetic.CYCLES[:3], seed=3)
    frame["psu_id"] = frame["sdmvstra"].astype(str) + "-" + frame["sdmvpsu"].astype(str)
    folds = risk.psu_folds(frame, 5)
    assert (folds >= 0).all() and set(folds) == set(range(5))
    assert (frame.assign(fold=folds).groupby("psu_id")["fold"].nunique() == 1).all()


TRUE = {"intercept": 0.5, "mg_total_100": -0.45, "dose10": -0.35, "age": -0.01, "bmi": 0.04}


def known_risk_frame(seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    frame = synthetic.analytic_table(n_per_psu=80, cycles=synthetic.CYCLES[:4], seed=seed)
    frame = frame[["seqn", "cycle", "sdmvstra", "sdmvpsu", "wt_day1", "age", "bmi", "sex", "mg_total_mg",
                   "mg_ear_mg", "vitd_supp_ug", "vitd_supp_ug_capped", "in_main"]].copy()
    frame["bmi"] = frame["bmi"].fillna(28.0)
    frame["in_main"] = (frame["age"] >= 20) & (frame["wt_day1"] > 0)
    frame["mg_total_100"] = frame["mg_total_mg"] / 100
    frame["dose10"] = frame["vitd_supp_ug_capped"] / 10

    def eta(f):
        return (TRUE["intercept"] + TRUE["mg_total_100"] * f["mg_total_100"] + TRUE["dose10"] * f["dose10"]
                + TRUE["age"] * f["age"] + TRUE["bmi"] * (f["bmi"] - 28))

    rng = np.random.default_rng(seed)
    prob = 1 / (1 + np.exp(-eta(frame)))
    frame["vitd_below_50"] = rng.random(len(frame)) < prob
    return frame, eta


def test_scenarios_recover_the_true_prevalence_change():
    frame, eta = known_risk_frame()
    s = risk.Setup("in_main", "mg_total_mg", ("mg_total_100", "dose10", "age", "bmi"), (), "test")
    params = {**PARAMS, "model": {**PARAMS["model"], "reference_levels": {}}}
    model = risk.fit_logistic(frame, s, "vitd_below_50", params, "in_main")
    frames, skipped = risk.scenario_frames(frame, s, params)
    assert skipped == []
    members = frame[frame["in_main"]]
    w = members["wt_day1"].to_numpy()
    table = model.standardized(frames, w, reference="observed").set_index("term")
    expit = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    truth_observed = np.average(expit(eta(members)), weights=w)
    for name in ["magnesium_at_least_ear", "both", "users_take_at_least_20ug"]:
        truth = np.average(expit(eta(frames[name])), weights=w) - truth_observed
        row = table.loc[f"{name} - observed"]
        assert row["ci_low"] < truth < row["ci_high"], name
        assert row["estimate"] < 0  # more magnesium or vitamin D: lower predicted risk


def test_standardized_prediction_equals_svy_predictive_margins():
    frame, _ = known_risk_frame(seed=6)
    s = risk.Setup("in_main", "mg_total_mg", ("mg_total_100", "dose10", "age", "bmi"), (), "test")
    params = {**PARAMS, "model": {**PARAMS["model"], "reference_levels": {}}}
    model = risk.fit_logistic(frame, s, "vitd_below_50", params, "in_main")
    members = frame[frame["in_main"]]
    ours = model.standardized({f"d{d}": members.assign(dose10=d) for d in (0.0, 2.5)}, members["wt_day1"].to_numpy())
    theirs = model.svy_predictive_margin("dose10", [0.0, 2.5])
    np.testing.assert_allclose(ours["estimate"], theirs["estimate"], rtol=1e-9)
    np.testing.assert_allclose(ours["std_error"], theirs["std_error"], rtol=1e-6)


@pytest.mark.mirror
def test_risk_stage_on_the_mirror(analyzed_project):
    from analysis.core.config import Paths

    params = load_params(analyzed_project / "params.yaml")
    risk.run(params, Paths(analyzed_project))
    models = pd.read_csv(analyzed_project / "reports/tables/risk_models.csv")
    assert set(models["model"]) == {"logistic", "boosting"}
    assert (models["weighted_auc"].between(0.5, 1)).all()
    scenarios = pd.read_csv(analyzed_project / "reports/tables/scenarios.csv")
    assert {"observed", "magnesium_at_least_ear", "users_take_at_least_20ug", "both"} <= set(scenarios["term"])
    assert scenarios["assumption"].str.contains("no unmeasured confounding").all()
    assert (analyzed_project / "reports/figures/risk_surface.png").exists()
    person = risk.profile(params, Paths(analyzed_project), ["age=65", "sex=female", "mg_total_mg=220", "vitd_supp_ug=25"]).table
    assert ((person["ci_low"] < person["risk"]) & (person["risk"] < person["ci_high"])).all()
    more_vitamin_d = risk.profile(params, Paths(analyzed_project), ["age=65", "sex=female", "mg_total_mg=220", "vitd_supp_ug=50"]).table
    assert (more_vitamin_d["risk"] < person["risk"]).all()
    from analysis.core.errors import DataError

    with pytest.raises(DataError, match=r"--profile sex=woman: not a level of sex; use one of \['female', 'male'\]"):
        risk.profile(params, Paths(analyzed_project), ["sex=woman"])
    with pytest.raises(DataError, match="--profile shoe_size: unknown"):
        risk.profile(params, Paths(analyzed_project), ["shoe_size=44"])
    with pytest.raises(DataError, match=r"--profile age=-5: outside the range the model was fitted on \(20 to 80\)"):
        risk.profile(params, Paths(analyzed_project), ["age=-5"])
    with pytest.raises(DataError, match=r"--profile vitd_supp_ug=100000: outside the range"):
        risk.profile(params, Paths(analyzed_project), ["vitd_supp_ug=100000"])


def test_profile_before_the_pipeline_says_what_to_run(tmp_path):
    from analysis.core.config import Paths
    from analysis.core.errors import DataError

    params = load_params(REPO / "params.yaml")
    with pytest.raises(DataError, match="analytic.parquet: not found; run the pipeline first"):
        risk.profile(params, Paths(tmp_path), ["age=65"])


def test_surface_cells_reach_half_way_to_their_neighbours():
    from analysis.outputs.risk import cell_of

    grid = [0, 10, 20, 50]
    values = np.array([-6.0, -4.0, 4.9, 5.0, 15.0, 34.9, 35.0, 64.9, 65.0, np.nan])
    assert cell_of(values, grid).tolist() == [-1, 0, 0, 1, 2, 2, 3, 3, -1, -1]


@pytest.mark.mirror
def test_risk_surface_marks_the_cells_beyond_the_data(analyzed_project):
    from analysis.core.config import Paths

    params = load_params(analyzed_project / "params.yaml")
    path = analyzed_project / "reports/tables/risk_surface.csv"
    if not path.exists():  # the risk stage has not run on this project yet (tests run in any order)
        risk.run(params, Paths(analyzed_project))
    surface = pd.read_csv(path)
    assert (surface["beyond_data"] == (surface["n_in_cell"] < params["risk"]["surface_min_n"])).all()
    # recounted independently: each cell reaches half-way to its neighbours (pd.cut on the edges)
    frame = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet")
    members = frame[frame["in_main"]]

    def edges(grid):
        grid = np.asarray(grid, dtype=float)
        middles = (grid[1:] + grid[:-1]) / 2
        return [grid[0] - (grid[1] - grid[0]) / 2, *middles, grid[-1] + (grid[-1] - grid[-2]) / 2]

    mg_grid, dose_grid = params["risk"]["surface_mg_total_mg"], params["risk"]["surface_dose_ug"]
    mg = pd.cut(members["mg_total_mg"], edges(mg_grid), right=False, labels=mg_grid)
    dose = pd.cut(members["vitd_supp_ug_capped"], edges(dose_grid), right=False, labels=dose_grid)
    counts = pd.crosstab(mg, dose).reindex(index=mg_grid, columns=dose_grid, fill_value=0)  # empty cells: 0
    for r in surface.itertuples():
        assert r.n_in_cell == counts.loc[r.magnesium_mg, r.dose_ug], (r.magnesium_mg, r.dose_ug)
    assert surface["n_in_cell"].sum() > 0
