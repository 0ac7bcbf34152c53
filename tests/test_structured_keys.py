"""Every row of a model or share table carries a structured key (quantity, contrast, group)
beside its human label; verdicts, findings, figures and the report select by the key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import common
from analysis.analyses.common import Context, coefficient_keys, keyed, model_table, tidy
from analysis.core.config import load_params
from analysis.outputs import report
from analysis.survey.design import ModelSpec
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def test_rows_without_a_key_are_refused():
    with pytest.raises(ValueError, match="without their key columns"):
        tidy(pd.DataFrame({"term": ["x"], "estimate": [1.0]}), "m", "in_main", "wt_day1")
    with pytest.raises(ValueError, match="unknown quantity 'effct'"):
        keyed(pd.DataFrame({"term": ["x"]}), "effct")


def test_covariates_and_the_intercept_are_adjustment_exposures_are_coefficients():
    spec = ModelSpec("y", ("vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "age", "sex", "kcal"),
                     {"sex": "male"})
    names = ["_intercept_", "vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate", "age", "sex_female",
             "kcal", "kcal_usual"]
    keys = coefficient_keys(pd.DataFrame({"term": names}), spec, ["age", "sex", "kcal"]).set_index("term")
    assert keys["quantity"].to_dict() == {
        "_intercept_": "adjustment", "vitd_supp_user": "coefficient", "mg_adequate": "coefficient",
        "vitd_supp_user:mg_adequate": "coefficient", "age": "adjustment", "sex_female": "adjustment",
        "kcal": "adjustment",
        "kcal_usual": "coefficient"}  # kcal is numeric: kcal_usual is another column, not one of its levels
    assert (keys["contrast"] == keys.index).all() and (keys["group"] == "all").all()


def small_context(n: int = 400) -> Context:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"seqn": np.arange(n), "cycle": "2017-2018", "kcal": rng.normal(2000, 300, n),
                          "sdmvstra": np.repeat(np.arange(1, 9), n // 8), "sdmvpsu": np.tile([1, 2], n // 2),
                          "wt": rng.uniform(1e3, 5e3, n), "in_all": True,
                          "x": rng.integers(0, 2, n).astype(float), "g": rng.integers(0, 2, n).astype(float),
                          "age": rng.uniform(20, 80, n)})
    frame["y"] = 50 + 5 * frame["x"] + 3 * frame["x"] * frame["g"] + 0.1 * frame["age"] + rng.normal(0, 5, n)
    return Context(frame, PARAMS)


def test_a_model_table_keys_every_row_and_the_keys_find_the_combinations():
    ctx = small_context()
    spec = ModelSpec("y", ("x", "g", "x:g", "age"))
    fitted = ctx.fit(spec, "wt", "in_all")
    inter = keyed(fitted.lincom({"x:g": 1}, "whatever label"), "interaction", "x x g")
    within = keyed(fitted.lincom({"x": 1, "x:g": 1}, "another label"), "effect", "x", "g = 1")
    table = model_table(fitted, "m", "in_all", "wt", "age", lincoms=[inter, within],
                        walds=[fitted.wald(["x:g"], "wald label")])
    assert table["quantity"].tolist() == ["adjustment", "coefficient", "coefficient", "coefficient", "adjustment",
                                          "interaction", "effect", "wald"]
    assert set(table["quantity"]) <= set(common.QUANTITIES)
    found = common.row(table, "m", "effect", "x", "g = 1")
    assert len(found) == 1
    coef = dict(zip(fitted.names, fitted.coef))
    assert found["estimate"].iloc[0] == pytest.approx(coef["x"] + coef["x:g"], rel=1e-12)
    assert common.row(table, "m", "interaction")["estimate"].iloc[0] == pytest.approx(coef["x:g"], rel=1e-12)


def test_report_selects_by_quantity_not_label():
    table = pd.DataFrame({"term": ["looks like an effect | x = 1", "plain"], "quantity": ["adjustment", "effect"]})
    assert report.quantities("effect")(table).tolist() == [False, True]
    assert report.exposures(table).tolist() == [False, True]


@pytest.mark.mirror
def test_pipeline_tables_are_keyed_and_the_verdict_rows_are_found_by_key(analyzed_project):
    tables = analyzed_project / "reports" / "tables"
    for name in ["interaction_use", "interaction_dose", "interaction_usual", "usual_or", "dose_to_sufficiency",
                 "deficiency_or", "bone_or", "ca_mg_ratio", "sensitivity", "supplement_models", "mortality",
                 "inflammation", "calcification", "prevalence", "vitd_status", "mg_intake_distribution"]:
        table = pd.read_csv(tables / f"{name}.csv")
        if table["term"].eq("not testable").all():
            continue
        assert table["quantity"].isin(list(common.QUANTITIES)).all(), name
        key = [c for c in ["model", "analysis", "source", "group_by", "quantity", "contrast", "group"] if c in table]
        assert not table.duplicated(key).any(), f"{name}: two rows share a key"
    usual = pd.read_csv(tables / "interaction_usual.csv")
    claims = pd.read_csv(analyzed_project / "reports" / "claims.csv").set_index("claim_id")
    c1 = common.row(usual, "use_x_mg_adequacy_usual", "interaction", "vitd_supp_user x mg_adequate_usual")
    assert len(c1) == 1 and c1["estimate"].iloc[0] == pytest.approx(claims.loc["C1", "estimate"], rel=1e-9)
    c2 = common.row(usual, "dose10ug_x_mg_adequacy_usual", "slope", "dose10", "mg_adequate_usual = 0")
    assert c2["estimate"].iloc[0] == pytest.approx(claims.loc["C2", "estimate"], rel=1e-9)
