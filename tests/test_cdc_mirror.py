"""The pipeline on the partial mirror of genuine CDC files: it degrades by name, not by crash,
reproduces a published NHANES table, and gives real, honestly labelled findings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import claims
from tests.conftest import CDC_MIRROR, run_notebooks, scratch_project
from tests.oracle_tools import assert_agree, run_oracle

pytestmark = pytest.mark.mirror


@pytest.fixture(scope="module")
def cdc_project(tmp_path_factory) -> Path:
    return scratch_project(tmp_path_factory, "cdc_project", CDC_MIRROR, "NHANES_CDC_MIRROR",
                           ["fetch", "clean", "usual", "analyze", "risk", "report"])


def test_herrick_2019_table_is_reproduced(cdc_project):
    """2011-2014, everyone aged >= 1 with 25(OH)D, MEC weight: n = 16,180, 5.0% < 30 and
    18.3% at 30-49 nmol/L (Herrick et al., AJCN 2019)."""
    validation = pd.read_csv(cdc_project / "reports/tables/vitd_validation.csv").set_index("measure")
    assert (validation["n"] == 16180).all()
    assert round(100 * validation.loc["vitd_below_30", "estimate"], 1) == 5.0
    assert round(100 * validation.loc["vitd_30_to_49", "estimate"], 1) == 18.3
    assert (validation["difference_pp"].abs() < 0.05).all()


def test_columns_needing_absent_files_are_missing_not_zero(cdc_project):
    analytic = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    for column in ["mg_food_mg", "mg_total_mg", "kcal", "vitd_food_ug", "femneck_bmd", "vitd_supp_30d_ug"]:
        assert analytic[column].isna().all(), column
    assert analytic["mg_adequate"].isna().all()
    assert not analytic["in_main"].any() and not analytic["in_bone"].any()
    # supplements and the day-1 weight come from DS1TOT; non-users are 0, unknown is missing
    examined_adults = analytic[analytic["in_adults"]]
    assert (examined_adults["vitd_supp_ug"] == 0).sum() > 10000
    assert examined_adults["vitd_supp_ug"].isna().sum() > 0
    assert analytic["in_supp"].sum() > 20000
    assert (analytic.loc[analytic["in_supp"], "wt_day1"] > 0).all()


def test_claims_mix_real_verdicts_and_named_gaps(cdc_project):
    table = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id")
    for cid in ["C3", "C4", "C5", "C6"]:
        assert table.loc[cid, "verdict"] == claims.NOT_TESTABLE_FILES
        assert "DR1TOT_J.XPT" in table.loc[cid, "reason"]
    assert "DXXFEM_J.XPT" in table.loc["C4", "reason"]
    for cid in ["C1", "C2"]:
        assert table.loc[cid, "verdict"] in (claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE)
        assert "supplemental magnesium only" in table.loc[cid, "test"]
        assert table.loc[cid, "ci_low"] < table.loc[cid, "estimate"] < table.loc[cid, "ci_high"]
    assert table.loc["C8", "verdict"] == claims.NOT_TESTABLE


def test_untestable_tables_name_their_missing_files(cdc_project):
    bone = pd.read_csv(cdc_project / "reports/tables/bone_or.csv")
    assert bone["term"].tolist() == ["not testable"]
    assert "DXXFEM" in bone["note"].iloc[0]


def test_report_says_genuine_and_lists_absent_files(cdc_project):
    page = (cdc_project / "reports/index.html").read_text(encoding="utf-8")
    assert "Genuine CDC NHANES public-use files" in page
    assert "SYNTHETIC DATA" not in page
    # CDC publishes DR1TOT; it is this mirror that lacks it
    assert "DR1TOT (absent from this mirror: 2007-2008, 2009-2010, 2011-2012, 2013-2014, 2015-2016, 2017-2018)" in page
    assert "absent at source" not in page
    assert "DXXFEM (absent in cycle: 2011-2012, 2015-2016)" in page


def test_notebooks_run_on_the_genuine_mirror_and_say_what_they_cannot_draw(cdc_project):
    pages = run_notebooks(cdc_project)
    assert set(pages) >= {"data_tour", "main_interaction", "claims_walkthrough", "ask_your_own"}
    for name, page in pages.items():
        assert "output_text output_error" not in page, name
        assert "data:image/png" in page or name == "main_interaction", name
    assert "this mirror has no dietary recalls (DR1TOT)" in pages["data_tour"]
    assert "modifier = magnesium supplement use (supplemental magnesium only)" in pages["main_interaction"]
    assert "Not drawn: missing NHANES file(s)" in pages["main_interaction"]
    assert "Not answerable from this mirror" in pages["ask_your_own"]
    assert "usual magnesium intake from supplements only" in pages["ask_your_own"]


@pytest.mark.oracle
def test_real_supplement_interaction_matches_r(cdc_project, tmp_path):
    from analysis.analyses import features
    from analysis.config import load_params

    params = load_params(cdc_project / "params.yaml")
    frame = features.add(pd.read_parquet(cdc_project / "data_clean/analytic.parquet"), params)
    table = pd.read_csv(cdc_project / "reports/tables/supplement_models.csv")
    rows = table[table["model"] == "supp_use_x_mg_supp_use"]
    exposures = ["vitd_supp_user", "mg_supp_user", "vitd_supp_user:mg_supp_user"]
    terms = exposures + [c.strip() for c in rows["covariates"].iloc[0].split(",")]
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
    columns = ["sdmvstra", "sdmvpsu", "wt_day1", "in_supp", "vitd_serum_nmol"] + sorted({p for t in terms for p in t.split(":")})
    r = run_oracle(tmp_path, frame, columns, task="glm", weight="wt_day1", domain="in_supp", y="vitd_serum_nmol",
                   terms=terms, factor=factors,
                   lincom=["interaction vitd_supp_user x mg_supp_user|vitd_supp_user:mg_supp_user=1"])
    coefficients = rows[~rows["term"].str.contains(" ") & ~rows["term"].str.startswith("wald")]
    assert_agree(coefficients, r[r["kind"] == "coef"])
    assert_agree(rows[rows["term"].str.startswith("interaction")], r[r["kind"] == "lincom"])


def test_catalog_maps_the_real_differences_between_cycles(cdc_mirror):
    from analysis import raw
    from analysis.catalog import load_catalog

    catalog = load_catalog()
    assert catalog.data_file("2001-2002", "BIOPRO").name == "L40_B.XPT"
    assert catalog.data_file("2003-2004", "BIOPRO").name == "L40_C.XPT"
    assert catalog.data_file("2005-2006", "BIOPRO").name == "BIOPRO_D.XPT"
    vid = raw.read_component(cdc_mirror / "2003-2004/VID_C.XPT", catalog, "2003-2004", "VID", 1e-30)
    assert "LBXVIDMS" in vid and "LBDVIDMS" not in vid and vid["LBXVIDMS"].notna().sum() > 8000
    chemistry = raw.read_component(cdc_mirror / "2001-2002/L40_B.XPT", catalog, "2001-2002", "BIOPRO", 1e-30)
    assert chemistry["LBXSCA"].dropna().between(5, 15).mean() > 0.99  # serum calcium, mg/dL
    supplements = raw.read_component(cdc_mirror / "2017-2018/DS1TOT_J.XPT", catalog, "2017-2018", "DS1TOT", 1e-30)
    assert {"WTDRD1", "DR1DRSTZ"} <= set(supplements.columns)  # day-1 weight and recall status ride along
    assert supplements["DS1TVD"].max() > 1000  # extreme doses exist: capped by params clean.vitd_supp_cap_ug


def test_usual_intake_is_not_testable_without_dietary_recalls(cdc_project):
    table = pd.read_csv(cdc_project / "reports/tables/usual_intake.csv")
    assert table["term"].tolist() == ["not testable"]
    assert "DR1TOT_J.XPT" in table["note"].iloc[0] and "DR2TOT_J.XPT" in table["note"].iloc[0]
    usual = pd.read_csv(cdc_project / "reports/tables/interaction_usual.csv")
    assert usual["term"].tolist() == ["not testable"] and "DR1TOT" in usual["note"].iloc[0]


def test_c9_is_not_testable_and_c10_runs_on_genuine_crp(cdc_project):
    claims = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id")
    assert claims.loc["C9", "verdict"] == "not testable with the files at hand"
    assert "2013-2014/DXXAAC_H.XPT" in claims.loc["C9", "reason"]
    assert "supplemental magnesium only" in claims.loc["C10", "test"]
    table = pd.read_csv(cdc_project / "reports/tables/inflammation.csv")
    vitd = table[(table["model"] == "crp_log_by_vitd_per25") & (table["term"] == "vitd_serum_per25")].iloc[0]
    # genuine 2017-2018 hs-CRP: one cycle, its MEC weight; the claim row shows this estimate
    assert vitd["weight"] == "wt_mec_crp_cycles" and vitd["n"] > 3000
    assert claims.loc["C10", "estimate"] == pytest.approx(vitd["estimate"])
    assert claims.loc["C10", "verdict"] in ("supported", "contradicted", "inconclusive")
