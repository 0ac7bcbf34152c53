"""The survey layer against R's survey package, on synthetic NHANES-shaped data (1e-6 relative)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.core.errors import DataError
from analysis.survey.design import ModelSpec, SurveyData
from tests import synthetic
from tests.oracle_tools import assert_agree, run_oracle

pytestmark = pytest.mark.oracle

DESIGN = ["sdmvstra", "sdmvpsu"]
REFS = {"race_eth": "nh_white", "sex": "male", "season": "may_oct"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic.analytic_table(n_per_psu=30, seed=7)


def test_mean_in_a_domain(frame, tmp_path):
    ours = SurveyData(frame).mean("vitd_serum_nmol", "wt_day1", "in_main")
    r = run_oracle(tmp_path, frame, DESIGN + ["wt_day1", "in_main", "vitd_serum_nmol"],
                   task="mean", weight="wt_day1", domain="in_main", y="vitd_serum_nmol")
    assert_agree(ours, r)
    assert ours["n"].iloc[0] == int((frame["in_main"] & (frame["wt_day1"] > 0)).sum())


def test_mean_of_the_whole_population_with_zero_weights(frame, tmp_path):
    data = frame.assign(age_years=frame["age"])
    ours = SurveyData(data).mean("age_years", "wt_mec")
    r = run_oracle(tmp_path, data, DESIGN + ["wt_mec", "age_years"], task="mean", weight="wt_mec", y="age_years")
    assert_agree(ours, r)


def test_means_by_group_within_a_domain(frame, tmp_path):
    ours = SurveyData(frame).mean("vitd_serum_nmol", "wt_day1", "in_main", by="race_eth")
    r = run_oracle(tmp_path, frame, DESIGN + ["wt_day1", "in_main", "vitd_serum_nmol", "race_eth"],
                   task="mean", weight="wt_day1", domain="in_main", y="vitd_serum_nmol", by="race_eth")
    assert_agree(ours, r)
    assert len(ours) == 5


def test_proportion_with_logit_interval(frame, tmp_path):
    ours = SurveyData(frame).proportion("vitd_below_50", "wt_day1", "in_main")
    r = run_oracle(tmp_path, frame, DESIGN + ["wt_day1", "in_main", "vitd_below_50"],
                   task="prop", weight="wt_day1", domain="in_main", y="vitd_below_50")
    assert_agree(ours, r)


def test_small_proportion_by_group(frame, tmp_path):
    data = frame.assign(very_low=(frame["vitd_serum_nmol"] < 25).astype("boolean").mask(frame["vitd_serum_nmol"].isna()))
    ours = SurveyData(data).proportion("very_low", "wt_day1", "in_main", by="season")
    r = run_oracle(tmp_path, data, DESIGN + ["wt_day1", "in_main", "very_low", "season"],
                   task="prop", weight="wt_day1", domain="in_main", y="very_low", by="season")
    assert (ours["estimate"] < 0.1).all()
    assert_agree(ours, r)


INTERACTION = ModelSpec(
    outcome="vitd_serum_nmol",
    terms=("vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "age", "sex", "race_eth", "bmi", "season"),
    references=REFS,
)


def test_linear_model_with_interaction_categoricals_and_domain(frame, tmp_path):
    model = SurveyData(frame).glm(INTERACTION, "wt_day1", "in_main")
    r = run_oracle(
        tmp_path, frame, DESIGN + ["wt_day1", "in_main"] + INTERACTION.columns(),
        task="glm", weight="wt_day1", domain="in_main", y=INTERACTION.outcome, terms=list(INTERACTION.terms),
        factor=[f"{k}={v}" for k, v in REFS.items()],
        wald=["interaction|vitd_supp_user:mg_adequate", "race|race_eth"],
        lincom=["effect_adequate|vitd_supp_user=1;mg_adequate:vitd_supp_user=1"],
    )
    assert_agree(model.table(), r[r["kind"] == "coef"], columns=("estimate", "std_error", "ci_low", "ci_high", "statistic", "df", "p_value"))
    race = model.wald(model.coefficient_terms("race_eth"), "race")
    inter = model.wald(["vitd_supp_user:mg_adequate"], "interaction")
    assert_agree(pd.concat([inter, race]), r[r["kind"] == "wald"], columns=("estimate", "statistic", "df", "p_value"))
    effect = model.lincom({"vitd_supp_user": 1, "vitd_supp_user:mg_adequate": 1}, "effect_adequate")
    assert_agree(effect, r[r["kind"] == "lincom"], columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


def test_logistic_model_with_interaction(frame, tmp_path):
    spec = ModelSpec(outcome="vitd_below_50",
                     terms=("vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "age", "race_eth"),
                     references=REFS, family="binomial")
    model = SurveyData(frame).glm(spec, "wt_day1", "in_main")
    r = run_oracle(tmp_path, frame, DESIGN + ["wt_day1", "in_main"] + spec.columns(),
                   task="glm", weight="wt_day1", domain="in_main", y=spec.outcome, family="binomial",
                   terms=list(spec.terms), factor=["race_eth=nh_white"], wald=["race|race_eth"])
    assert_agree(model.table(), r[r["kind"] == "coef"], columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))
    assert_agree(model.wald(model.coefficient_terms("race_eth"), "race"), r[r["kind"] == "wald"],
                 columns=("statistic", "df", "p_value"))


def test_continuous_by_continuous_interaction(frame, tmp_path):
    data = frame.assign(dose10=frame["vitd_supp_ug"] / 10, mg100=frame["mg_total_mg"] / 100)
    spec = ModelSpec("vitd_serum_nmol", ("dose10", "mg100", "dose10:mg100", "age"))
    model = SurveyData(data).glm(spec, "wt_day1", "in_main")
    r = run_oracle(tmp_path, data, DESIGN + ["wt_day1", "in_main"] + spec.columns(),
                   task="glm", weight="wt_day1", domain="in_main", y=spec.outcome, terms=list(spec.terms))
    assert_agree(model.table(), r[r["kind"] == "coef"])


def test_domain_with_a_stratum_where_one_psu_holds_every_member(frame, tmp_path):
    """A domain that leaves PSU 2 of stratum 75 empty: that PSU stays in the design (zero scores)."""
    data = frame.copy()
    data["in_odd"] = data["in_main"] & ~((data["sdmvstra"] == 75) & (data["sdmvpsu"] == 2))
    ours = SurveyData(data).mean("vitd_serum_nmol", "wt_day1", "in_odd")
    r = run_oracle(tmp_path, data, DESIGN + ["wt_day1", "in_odd", "vitd_serum_nmol"],
                   task="mean", weight="wt_day1", domain="in_odd", y="vitd_serum_nmol")
    assert_agree(ours, r)


def test_missing_value_inside_a_domain_is_an_error(frame):
    data = frame.copy()
    data.loc[data["in_main"].idxmax(), "bmi"] = float("nan")
    with pytest.raises(DataError, match=r"column 'bmi' is missing for 1 participant\(s\) in domain 'in_main'"):
        SurveyData(data).glm(INTERACTION, "wt_day1", "in_main")


def test_categorical_without_reference_is_an_error(frame):
    spec = ModelSpec("vitd_serum_nmol", ("age", "race_eth"))
    with pytest.raises(DataError, match="'race_eth' needs a reference level"):
        SurveyData(frame).glm(spec, "wt_day1", "in_main")


def test_distribution_of_a_categorical(frame, tmp_path):
    ours = SurveyData(frame).distribution("race_eth", "wt_day1", "in_main")
    r = run_oracle(tmp_path, frame, DESIGN + ["wt_day1", "in_main", "race_eth"],
                   task="distribution", weight="wt_day1", domain="in_main", y="race_eth")
    assert abs(ours["estimate"].sum() - 1) < 1e-12
    assert_agree(ours, r)


def test_prediction_equals_the_matching_linear_combination(frame):
    """predict() (svy) at a covariate row = the lincom with that row's values (R-checked above)."""
    model = SurveyData(frame).glm(INTERACTION, "wt_day1", "in_main")
    row = {"vitd_supp_user": 1.0, "mg_adequate": 1.0, "age": 50.0, "sex": "female", "race_eth": "nh_black",
           "bmi": 30.0, "season": "nov_apr"}
    predicted = model.predict(pd.DataFrame([row]))
    x = model.linear_predictor_gradient(row)
    combo = model.lincom(dict(zip(model.names, x)), "row")
    assert predicted["estimate"].iloc[0] == pytest.approx(combo["estimate"].iloc[0], rel=1e-9)
    assert predicted["std_error"].iloc[0] == pytest.approx(combo["std_error"].iloc[0], rel=1e-6)
    assert predicted["ci_low"].iloc[0] == pytest.approx(combo["ci_low"].iloc[0], rel=1e-6)


def test_prediction_at_an_unknown_level_is_an_error(frame):
    model = SurveyData(frame).glm(INTERACTION, "wt_day1", "in_main")
    row = {"vitd_supp_user": 1.0, "mg_adequate": 1.0, "age": 50.0, "sex": "female", "race_eth": "white",
           "bmi": 30.0, "season": "nov_apr"}
    with pytest.raises(DataError, match=r"race_eth: value\(s\) \['white'\] are not levels of the model"):
        model.linear_predictor_gradient(row)
