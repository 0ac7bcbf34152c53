"""2001-2006 beside 2007-2018: the catalog's cycle differences (names, variables CDC did not
publish, files with several rows per person, the supplement database), the 30-day supplement
totals computed where CDC published none, and re-pooling the weights over a chosen set of cycles
(exactly the weight of those cycles alone). Constructed data; the genuine run is in
test_cdc_mirror.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clean import thirty_day_totals
from analysis.core.errors import ConfigError, DataError
from analysis.data import raw
from analysis.data.catalog import load_catalog
from analysis.survey.weights import for_cycles
from tests.conftest import write_xpt


def test_the_catalog_knows_what_cdc_did_not_publish_before_2007():
    catalog = load_catalog()
    day1 = catalog.components["DR1TOT"]
    assert catalog.data_file("2001-2002", "DR1TOT").name == "DRXTOT_B.XPT"
    assert "WTDR2D" not in day1.required_in("2001-2002") and "DR1TVD" not in day1.required_in("2001-2002")
    assert "DR1TVD" not in day1.required_in("2005-2006") and "WTDR2D" in day1.required_in("2005-2006")
    assert set(day1.variables) == set(day1.required_in("2017-2018"))
    assert catalog.data_file("2003-2004", "VIDRIA").name == "L06VID_C.XPT"
    assert catalog.data_file("2005-2006", "VIDRIA").name == "VIDRIA_D.XPT"


def test_the_supplement_database_is_fetched_once_from_its_own_folder():
    present, absent = load_catalog().plan(["2001-2002", "2003-2004"], ["DEMO", "DSQ2", "DSPI", "DSII"])
    database = [f.relpath for f in present if f.component in ("DSPI", "DSII")]
    assert database == ["1999-2000/DSPI.XPT", "1999-2000/DSII.XPT"]
    assert [f.relpath for f in present if f.component == "DSQ2"] == ["2001-2002/DSQ2_B.XPT", "2003-2004/DSQ2_C.XPT"]
    assert not absent


def test_a_2001_2002_day1_file_is_read_under_the_later_names(tmp_path):
    path = write_xpt(tmp_path / "DRXTOT_B.XPT", pd.DataFrame({
        "SEQN": [1.0, 2.0], "WTDRD1": [1000.0, 0.0], "DRDDRSTZ": [1.0, 5.0], "DRXTKCAL": [2000.0, np.nan],
        "DRXTCALC": [900.0, np.nan], "DRXTMAGN": [300.0, np.nan], "DRDDAY": [7.0, np.nan]}))
    frame = raw.read_component(path, load_catalog(), "2001-2002", "DR1TOT", 1e-30)
    assert {"DR1DRSTZ", "DR1TKCAL", "DR1TMAGN", "DR1TCALC", "DR1DAY", "WTDRD1"} <= set(frame.columns)
    assert "DRXTMAGN" not in frame and frame["DR1TMAGN"].tolist()[0] == 300.0
    # the same file in a cycle where CDC did publish food vitamin D is refused, naming the variable
    with pytest.raises(DataError, match="DR1TVD"):
        raw.read_component(path, load_catalog(), "2017-2018", "DR1TOT", 1e-30)


def test_a_product_file_keeps_several_rows_per_person_and_its_text_ids(tmp_path):
    path = write_xpt(tmp_path / "DSQ2_B.XPT", pd.DataFrame({
        "SEQN": [1.0, 1.0, 2.0], "DSDSUPID": ["1000000100", "1000000200", "9999999999"],
        "DSD103": [30.0, 15.0, 9999.0], "DSD122Q": [1.0, 2.0, 1.0], "DSD122U": [1.0, 1.0, 1.0],
        "DSDANTA": [0.0, 2.0, 0.0]}))
    frame = raw.read_component(path, load_catalog(), "2001-2002", "DSQ2", 1e-30)
    assert len(frame) == 3 and frame["DSDSUPID"].tolist() == ["1000000100", "1000000200", "9999999999"]
    # a person-level file with a repeated SEQN is still refused
    demo = write_xpt(tmp_path / "DSQ1_B.XPT", pd.DataFrame({"SEQN": [1.0, 1.0], "DSD010": [1.0, 1.0],
                                                            "DSDCOUNT": [1.0, 1.0]}))
    with pytest.raises(DataError, match="duplicated SEQN"):
        raw.read_component(demo, load_catalog(), "2001-2002", "DSQ1", 1e-30)


def database() -> tuple[pd.DataFrame, pd.DataFrame]:
    dspi = pd.DataFrame({"DSDSUPID": ["1000000100", "1000000200"], "DSDPID": [1.0, 2.0], "DSDSERVQ": [1.0, 2.0]})
    dsii = pd.DataFrame([(1, 231, "MAGNESIUM", 100.0, 1), (1, 364, "VITAMIN D", 400.0, 2),
                         (2, 63, "CALCIUM", 600.0, 1)],
                        columns=["DSDPID", "DSDIID", "DSDINGR", "DSDQTY", "DSDUNIT"]).astype({"DSDPID": float, "DSDIID": float})
    return dspi, dsii


def test_thirty_day_totals_fill_dsqtot_variables_and_count_their_rules():
    dspi, dsii = database()
    products = {"2001-2002": pd.DataFrame({
        "SEQN": [1.0, 1.0, 2.0, 3.0], "DSDSUPID": ["1000000100", "1000000200", "9999999999", "1000000100"],
        "DSD103": [30.0, 15.0, 30.0, 9999.0], "DSD122Q": [2.0, 1.0, 1.0, 1.0], "DSD122U": 1.0,
        "DSDANTA": [0.0, 0.0, 0.0, 0.0]})}
    totals, counts = thirty_day_totals.compute(products, dspi, dsii)
    one = totals.set_index("SEQN").loc[1]
    assert one["DSQTMAGN"] == pytest.approx(200.0)  # 100 mg a serving x 2 a day, 30 of 30 days
    assert one["DSQTVD"] == pytest.approx(20.0)  # 400 IU = 10 ug x 2
    assert one["DSQTCALC"] == pytest.approx(300.0 * 15 / 30)  # 600 mg per 2 servings, 1 a day, half the days
    assert np.isnan(totals.set_index("SEQN").loc[2, "DSQTMAGN"])  # a don't-know product gives no amount
    n = counts.set_index("rule")["n"]
    assert n["no_product_information"] == 1 and n["days_unknown"] == 1
    assert n["person_with_product_without_amount"] == 2  # persons 2 and 3
    raw_frame = pd.DataFrame({"cycle": ["2001-2002"] * 3 + ["2017-2018"], "SEQN": [1.0, 2.0, 4.0, 5.0],
                              "DSQTMAGN": [np.nan, np.nan, np.nan, 50.0], "DSQTVD": np.nan, "DSQTCALC": np.nan})
    filled = thirty_day_totals.fill(raw_frame, totals)
    assert filled["DSQTMAGN"].tolist()[0] == pytest.approx(200.0) and np.isnan(filled["DSQTMAGN"].iloc[2])
    assert filled["DSQTMAGN"].iloc[3] == 50.0  # CDC's own total where it published one
    raw_frame.loc[0, "DSQTMAGN"] = 1.0  # CDC's DSQTOT and file 2 for one cycle: refused
    with pytest.raises(DataError, match="both CDC's DSQTOT and 30-day file 2"):
        thirty_day_totals.fill(raw_frame, totals)


def test_file_2_without_the_database_is_refused_naming_what_to_fetch():
    with pytest.raises(DataError, match="DSPI and DSII"):
        thirty_day_totals.compute({"2001-2002": pd.DataFrame()}, None, None)


def weights_frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    cycles = np.repeat(["2001-2002", "2003-2004", "2007-2008"], 4)
    two_year = rng.uniform(1000, 9000, len(cycles)) * 1.000000000123
    return pd.DataFrame({"cycle": cycles, "wt_day1_2yr": two_year, "wt_day1": two_year / 3})


def test_weights_re_pooled_over_chosen_cycles_equal_those_cycles_alone_exactly():
    frame = weights_frame()
    two = for_cycles(frame, ["2001-2002", "2003-2004"])
    assert set(two["cycle"]) == {"2001-2002", "2003-2004"} and len(two) == 8
    assert (two["wt_day1"].to_numpy() == frame["wt_day1_2yr"].to_numpy()[:8] / 2).all()  # bit for bit
    one = for_cycles(frame, ["2007-2008"])
    assert (one["wt_day1"].to_numpy() == frame["wt_day1_2yr"].to_numpy()[8:]).all()
    assert for_cycles(frame, ["2001-2002", "2003-2004", "2007-2008"])["wt_day1"].equals(frame["wt_day1"])


def test_cycles_not_in_the_table_are_refused_or_left_out_when_asked():
    frame = weights_frame()
    with pytest.raises(ConfigError, match="2017-2018"):
        for_cycles(frame, ["2007-2008", "2017-2018"])
    kept = for_cycles(frame, ["2007-2008", "2017-2018"], available_only=True)
    assert set(kept["cycle"]) == {"2007-2008"}
    with pytest.raises(ConfigError):
        for_cycles(frame, ["2017-2018"], available_only=True)


def test_two_eras_are_pooled_by_inverse_variance_with_satterthwaite_df():
    from scipy import stats

    from analysis.analyses import eras
    from analysis.analyses.common import HR_SCALE

    rows = pd.DataFrame({"claim_id": ["C1", "C1", "C11", "C11"], "outcome": ["y", "y", "died_cvd", "died_cvd"],
                         "era": ["2001-2006", "2007-2018"] * 2, "cycles": ["a", "b"] * 2,
                         "estimate": [-1.0, -6.0, 0.5, 0.8], "std_error": [2.0, 1.0, 0.2, 0.25],
                         "df": [24.0, 70.0, 26.0, 72.0], "n": [10, 20, 10, 20], "events": [np.nan, np.nan, 30, 40],
                         "scale": ["identity", "identity", HR_SCALE, HR_SCALE]})
    out = eras.combine(rows).set_index(["claim_id", "era"])
    w = np.array([1 / 4, 1.0])
    pooled = out.loc[("C1", "pooled")]
    assert pooled["estimate"] == pytest.approx((w @ [-1.0, -6.0]) / w.sum())
    assert pooled["std_error"] == pytest.approx(1 / np.sqrt(w.sum()))
    v = (w / w.sum()) ** 2 * np.array([4.0, 1.0])  # each era's share of the pooled variance
    df = v.sum() ** 2 / np.sum(v ** 2 / np.array([24.0, 70.0]))
    assert pooled["df"] == pytest.approx(df)
    assert pooled["ci_high"] == pytest.approx(pooled["estimate"] + stats.t.ppf(0.975, df) * pooled["std_error"])
    difference = out.loc[("C1", "difference")]
    assert difference["estimate"] == pytest.approx(5.0) and difference["std_error"] == pytest.approx(np.sqrt(5.0))
    assert difference["p_value"] == pytest.approx(2 * stats.t.sf(5 / np.sqrt(5), (5.0 ** 2) / (16 / 24 + 1 / 70)))
    # hazard ratios are pooled on the log scale (the SEs are on it), events added
    hr = out.loc[("C11", "pooled")]
    w = 1 / np.array([0.2, 0.25]) ** 2
    assert hr["estimate"] == pytest.approx(np.exp((w @ np.log([0.5, 0.8])) / w.sum())) and hr["events"] == 70
    assert out.loc[("C11", "difference"), "estimate"] == pytest.approx(0.5 / 0.8)


def test_the_era_rule_turns_only_opposite_decisive_verdicts_inconclusive():
    from analysis.claims import registry as claims
    from analysis.core.errors import ConfigError

    rule = "opposite_era_makes_inconclusive"
    assert claims.with_era(rule, claims.CONTRADICTED, claims.SUPPORTED) == claims.INCONCLUSIVE
    assert claims.with_era(rule, claims.SUPPORTED, claims.CONTRADICTED) == claims.INCONCLUSIVE
    assert claims.with_era(rule, claims.CONTRADICTED, claims.INCONCLUSIVE) == claims.CONTRADICTED
    assert claims.with_era(rule, claims.INCONCLUSIVE, claims.SUPPORTED) == claims.INCONCLUSIVE
    assert claims.with_era(rule, claims.SUPPORTED, claims.SUPPORTED) == claims.SUPPORTED
    with pytest.raises(ConfigError, match="verdict_rule"):
        claims.with_era("majority", claims.SUPPORTED, claims.SUPPORTED)


def test_an_era_model_without_vitamin_d_gives_no_vitamin_d_columns():
    from analysis.usual import calibration

    assert calibration.available(["kcal", "mg", "ca"]) == {
        "mg_food_usual_mg", "mg_total_usual_mg", "mg_adequate_usual", "kcal_usual", "ca_total_usual_mg",
        "high_ca_mg_ratio_usual", "high_ca_mg_ratio_mg_adequate_usual"}
    assert calibration.available(["kcal", "mg", "ca", "vitd"]) == set(calibration.COLUMNS)


def test_era_params_override_only_the_common_definition():
    from analysis.core.config import load_params
    from analysis.usual.eras import era_params
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml")
    early = era_params(params, "2001-2006")
    assert early["analyze"]["cycles"] == ["2001-2002", "2003-2004", "2005-2006"]
    assert "vitd" not in early["usual_intake"]["nutrients"] and "vitd" in params["usual_intake"]["nutrients"]
    assert early["usual_intake"]["calibration_exposures"][0] == "vitd_supp_user_30d"
    assert early["usual_intake"]["replicates"] == params["usual_intake"]["replicates"]  # the rest kept
    with pytest.raises(DataError, match="no era"):
        era_params(params, "1999-2000")


def test_each_table_row_says_the_cycles_its_domain_reaches():
    from analysis.survey.weights import with_cycles

    frame = pd.DataFrame({"cycle": ["2007-2008", "2009-2010", "2011-2012", "2015-2016"],
                          "in_crp": [True, True, False, True], "in_aac": [False, False, True, False]})
    table = pd.DataFrame({"term": ["a", "b", "c"], "domain": ["in_crp", "in_aac", "not_here"]})
    out = with_cycles(table, frame)
    assert out["cycles"].tolist()[:2] == ["2007-2010, 2015-2016", "2011-2012"] and pd.isna(out["cycles"].iloc[2])
    stated = table.assign(cycles="2001-2006")
    assert with_cycles(stated, frame) is stated  # a table that states its cycles keeps them
