"""The pipeline on the genuine CDC files, 2007-2018: it completes, reproduces published NHANES
figures, counts every real-data quirk, and gives real verdicts from the dietary recalls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.claims import registry as claims
from tests.conftest import CDC_MIRROR, run_notebooks, scratch_project
from tests.oracle_tools import assert_agree, assert_total_agrees, run_oracle

pytestmark = pytest.mark.mirror

VERDICTS = (claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE)


@pytest.fixture(scope="module")
def cdc_project(tmp_path_factory) -> Path:
    return scratch_project(tmp_path_factory, "cdc_project", CDC_MIRROR, "NHANES_CDC_MIRROR",
                           ["fetch", "clean", "usual", "analyze", "risk", "report"])


def test_herrick_2019_table_is_reproduced(cdc_project):
    """2011-2014, everyone aged >= 1 with 25(OH)D, MEC weight: n = 16,180, 5.0% < 30 and
    18.3% at 30-49 nmol/L (Herrick et al., AJCN 2019)."""
    checks = pd.read_csv(cdc_project / "reports/tables/published_checks.csv")
    validation = checks[checks["source"].str.startswith("Herrick")].set_index("measure")
    assert (validation["n"] == 16180).all() and (validation["n_published"] == 16180).all()
    assert round(100 * validation.loc["vitd_below_30", "estimate"], 1) == 5.0
    assert round(100 * validation.loc["vitd_30_to_49", "estimate"], 1) == 18.3
    assert (100 * validation["difference"].abs() < 0.05).all()


def test_published_checks_agree_within_the_published_uncertainty(cdc_project):
    checks = pd.read_csv(cdc_project / "reports/tables/published_checks.csv").set_index("figure")
    assert len(checks) >= 9 and checks["agrees"].astype(bool).all(), checks[["estimate", "published", "note"]]
    assert (checks["difference"].abs() <= checks["tolerance"] + 1e-12).all()
    brief = checks[checks["source"].str.contains("Data Brief 399")]
    assert sorted(round(100 * brief["estimate"], 1)) == [50.8, 57.6, 63.8]  # men, all, women
    assert (brief["weight"] == "wt_int").all()
    looker = checks[checks["source"].str.startswith("Looker")]
    assert len(looker) == 4 and (looker["ci_low"] < looker["estimate"]).all()
    herrick = checks[checks["source"].str.startswith("Herrick")]
    assert (herrick["n"] == 16180).all()


@pytest.mark.oracle
def test_published_check_estimates_equal_r_svyciprop(cdc_project, tmp_path):
    from analysis.analyses.common import Context
    from analysis.analyses import published
    from analysis.core.config import load_params

    params = load_params(cdc_project / "params.yaml")
    from analysis.survey.weights import for_cycles

    # the published checks run on the main analyses' cycles (params analyze.cycles), as the pipeline does
    ctx = Context(for_cycles(pd.read_parquet(cdc_project / "data_clean/analytic.parquet"), params["analyze"]["cycles"]),
                  params)
    checks = pd.read_csv(cdc_project / "reports/tables/published_checks.csv")
    # Data Brief 399 (interview weight), Looker women 2007-2008 (MEC weight), Karim (linked mortality)
    for number in (2, 5, 9):
        check = published.load_checks()[number]
        weight = ctx.cycle_weight(check["weight"], list(check["cycles"]), "w")
        domain = published.domain_of(ctx, check, weight, "dom")
        r = run_oracle(tmp_path, ctx.frame, ["sdmvstra", "sdmvpsu", weight, domain, check["measure"]], task="prop",
                       weight=weight, domain=domain, y=check["measure"])
        ours = checks.iloc[[number]].assign(term=check["measure"])
        assert_agree(ours, r, columns=("estimate", "std_error", "ci_low", "ci_high"))


def test_every_data_rule_is_counted_and_matches_the_flow(cdc_project):
    rules = pd.read_csv(cdc_project / "reports/tables/data_rules.csv").set_index("rule")
    flow = pd.read_csv(cdc_project / "reports/tables/flow.csv")
    main = flow[flow["flow"] == "main"].set_index("criterion")
    analytic = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    unreliable = analytic["in_adults"] & ~(analytic["recall_day1_reliable"] & (analytic["wt_day1"] > 0))
    # the rule counts examined adults of every cycle; the main flow, those of its cycles (2007-2018)
    assert rules.loc["recall_day1_not_reliable", "n_examined_adults"] == unreliable.sum() > 3000
    assert main.loc["has_recall_day1", "n_excluded"] == unreliable[analytic["cycle"] >= "2007-2008"].sum()
    # the genuine files hold each quirk at least once
    for rule in ["zero_ca_and_mg", "zero_magnesium_some_calcium", "recall_day2_without_day1", "crp_below_detection",
                 "femur_scan_not_complete", "aac_score_not_valid", "supplement_user_without_magnesium_DS1TOT"]:
        assert rules.loc[rule, "n"] > 0, rule
    special = pd.read_csv(cdc_project / "reports/tables/data_rules.csv")
    assert set(special.loc[special["rule"] == "special_code_missing", "variables"]) >= {"DMDEDUC2", "OSQ060", "DSD010"}


def test_claims_come_from_the_genuine_recalls(cdc_project):
    table = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id")
    for cid in ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C9", "C10"]:
        assert table.loc[cid, "verdict"] in VERDICTS, cid
        assert "supplemental magnesium only" not in table.loc[cid, "test"], cid
    for cid in ["C1", "C2", "C4", "C5", "C9", "C10"]:
        assert table.loc[cid, "ci_low"] < table.loc[cid, "estimate"] < table.loc[cid, "ci_high"], cid
    assert "regression calibration" in table.loc["C1", "test"]
    assert table.loc["C8", "verdict"] == claims.NOT_TESTABLE
    assert "Genuine" in table.loc["C1", "data_provenance"] or "genuine" in table.loc["C1", "data_provenance"]


def test_c3_decides_only_on_doses_inside_the_observed_range(cdc_project):
    table = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id")
    reason = table.loc["C3", "reason"]
    assert "observed doses (95th percentile among users): 0 to" in reason
    statuses = [claims.INSIDE, claims.WITHOUT_SUPPLEMENTS, claims.BEYOND]
    assert sum(reason.count(s) for s in statuses) >= 2
    if claims.WITHOUT_SUPPLEMENTS in reason or claims.BEYOND in reason.split("sensitivity")[0]:
        assert table.loc["C3", "verdict"] == claims.INCONCLUSIVE


def test_usual_intake_runs_on_the_genuine_recalls(cdc_project):
    table = pd.read_csv(cdc_project / "reports/tables/usual_intake.csv")
    overall = table[table["group"] == "all"].set_index("term")
    for term in ["mg_food_usual_below_ear", "mg_total_usual_below_ear", "mg_food_day1_below_ear"]:
        row = overall.loc[term]
        assert 0.2 < row["estimate"] < 0.8 and row["ci_low"] < row["estimate"] < row["ci_high"], term
    # supplements lower the share below the EAR
    assert overall.loc["mg_total_usual_below_ear", "estimate"] < overall.loc["mg_food_usual_below_ear", "estimate"]
    usual = pd.read_csv(cdc_project / "reports/tables/interaction_usual.csv")
    assert {"use_x_mg_adequacy_usual", "use_x_mg_adequacy_usual_log"} <= set(usual["model"])
    assert (usual["weight"] == "wt_day1").all()


def test_c9_and_c10_run_on_genuine_scans_and_crp(cdc_project):
    calcification = pd.read_csv(cdc_project / "reports/tables/calcification.csv")
    assert calcification["term"].iloc[0] != "not testable" and calcification["n"].max() > 1000
    table = pd.read_csv(cdc_project / "reports/tables/inflammation.csv")
    vitd = table[(table["model"] == "crp_log_by_vitd_per25") & (table["term"] == "vitd_serum_per25")].iloc[0]
    assert vitd["weight"] == "wt_mec_crp_cycles" and vitd["n"] > 10000  # 2007-2010 and 2015-2018
    claim = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id").loc["C10"]
    assert claim["estimate"] == pytest.approx(vitd["estimate"])


def test_columns_needing_absent_files_are_missing_not_zero(cdc_project):
    analytic = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    for cycle in ["2011-2012", "2015-2016"]:  # no femur DXA, no OSQ in this mirror
        inside = analytic["cycle"] == cycle
        assert analytic.loc[inside, "femneck_bmd"].isna().all() and analytic.loc[inside, "osteoporosis_told"].isna().all()
    assert analytic.loc[analytic["cycle"] != "2013-2014", "aac24_score"].isna().all()
    assert (analytic.loc[analytic["in_main"], "mg_food_mg"] > 0).mean() > 0.999


def test_report_says_genuine_and_shows_findings_rules_and_checks(cdc_project):
    from tests.conftest import whole_report

    page = whole_report(cdc_project)
    assert "Genuine CDC NHANES public-use files" in page and "SYNTHETIC DATA" not in page
    assert "What NHANES 2007-2008 to 2017-2018 shows" in page
    for cid in ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11"]:
        assert f'data-finding="{cid}"' in page, cid
    assert "Deng et al. 2013 replicated" in page and 'id="eras"' in page and "Karim" in page
    assert "On the log scale" in page
    assert "data_rules.csv" in page and "recall_day2_without_day1" in page
    assert "published_checks.csv" in page and "Data Brief 399" in page
    banner = page[page.index('id="provenance-banner"'):page.index("</div>", page.index('id="provenance-banner"'))]
    # what the run used, component by component: CRP and HSCRP together cover the CRP cycles
    assert "2007-2010: CRP" in banner and "HSCRP" in banner and "2001-2010, 2013-2014, 2017-2018: OSQ" in banner
    assert "2001-2018: BMX, DEMO" in banner  # components used in every cycle share one line
    assert "Published by CDC but not in this source: OSQ 2011-2012, 2015-2016 (absent from this mirror)" in banner
    assert "absent in cycle" not in banner and "Not testable with these files" not in banner  # every claim testable
    assert "/work/" not in page and "/home/" not in page and "/tmp/" not in page  # no local absolute paths


def test_notebooks_run_on_the_genuine_mirror(cdc_project):
    pages = run_notebooks(cdc_project)
    assert set(pages) >= {"data_tour", "main_interaction", "claims_walkthrough", "ask_your_own"}
    for name, page in pages.items():
        assert "output_text output_error" not in page, name
        assert "data:image/png" in page, name


@pytest.mark.oracle
def test_genuine_day1_c1_model_matches_r(cdc_project, tmp_path):
    frame = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    table = pd.read_csv(cdc_project / "reports/tables/interaction_use.csv")
    rows = table[table["model"] == "use_x_mg_adequacy"]
    exposures = ["vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate"]
    terms = exposures + [c.strip() for c in rows["covariates"].iloc[0].split(",")]
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
    columns = ["sdmvstra", "sdmvpsu", "wt_day1", "in_main", "vitd_serum_nmol"] + sorted({p for t in terms for p in t.split(":")})
    r = run_oracle(tmp_path, frame, columns, task="glm", weight="wt_day1", domain="in_main", y="vitd_serum_nmol",
                   terms=terms, factor=factors,
                   lincom=["interaction vitd_supp_user x mg_adequate|vitd_supp_user:mg_adequate=1"])
    coefficients = rows[~rows["term"].str.contains(" ") & ~rows["term"].str.startswith("wald")]
    assert_agree(coefficients, r[r["kind"] == "coef"])
    assert_agree(rows[rows["term"].str.startswith("interaction")], r[r["kind"] == "lincom"])


def test_catalog_maps_the_real_differences_between_cycles(cdc_mirror):
    from analysis.data import raw
    from analysis.data.catalog import load_catalog

    catalog = load_catalog()
    assert catalog.data_file("2001-2002", "BIOPRO").name == "L40_B.XPT"
    assert catalog.data_file("2003-2004", "BIOPRO").name == "L40_C.XPT"
    vid = raw.read_component(cdc_mirror / "2003-2004/VID_C.XPT", catalog, "2003-2004", "VID", 1e-30)
    assert "LBXVIDMS" in vid and "LBDVIDMS" not in vid and vid["LBXVIDMS"].notna().sum() > 8000
    supplements = raw.read_component(cdc_mirror / "2017-2018/DS1TOT_J.XPT", catalog, "2017-2018", "DS1TOT", 1e-30)
    assert {"WTDRD1", "DR1DRSTZ"} <= set(supplements.columns)
    assert supplements["DS1TVD"].max() > 1000  # extreme doses exist: capped by params clean.vitd_supp_cap_ug


def test_mortality_runs_on_the_genuine_linked_files(cdc_project):
    flow = pd.read_csv(cdc_project / "reports/tables/flow.csv")
    mortality_flow = flow[flow["flow"] == "mortality"].set_index("criterion")
    assert mortality_flow.loc["mort_linked", "n_excluded"] > 0 and mortality_flow["n_remaining"].iloc[-1] > 20000
    rules = pd.read_csv(cdc_project / "reports/tables/data_rules.csv").set_index("rule")
    # NCHS coded no cerebrovascular deaths (005) in the 2015-2018 public files
    assert "2015-2016" not in rules.loc["mortality_cerebrovascular_death", "by_cycle"]
    assert rules.loc["mortality_cerebrovascular_death", "n"] > 100
    assert set(rules.loc["mortality_cause_coarsened", "by_cycle"].replace(";", "").split()) >= {"2015-2016:", "2017-2018:"}
    table = pd.read_csv(cdc_project / "reports/tables/mortality.csv")
    both = table[(table["model"] == "died_cvd_by_mg_x_vitd_usual") & (table["term"] == "both adequate vs neither")].iloc[0]
    assert both["variance"] == "jackknife" and both["weight"] == "wt_day1" and both["domain"] == "in_mort_diet"
    claim = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id").loc["C11"]
    assert claim["verdict"] in VERDICTS and claim["estimate"] == pytest.approx(both["estimate"])
    assert "one day's intake" in claim["reason"]
    checks = table[table["model"].str.endswith("_ph_check")]
    assert set(checks["model"]) == {"died_cvd_by_vitd_per_unit_ph_check", "died_by_vitd_per_unit_ph_check",
                                    "died_cvd_by_joint_day1_ph_check", "died_by_joint_day1_ph_check",
                                    "died_cvd_by_mg_x_vitd_usual_ph_check", "died_by_mg_x_vitd_usual_ph_check"}
    # 1 + 1 + 3 + 3 Taylor rows, and on usual magnesium 3 terms and "both vs neither" each, jackknife
    assert checks["term"].str.endswith(":late").sum() == 16 and checks["term"].str.startswith("proportional").sum() == 2
    calibrated_checks = checks[checks["model"].str.contains("_usual_")]
    assert (calibrated_checks["variance"] == "jackknife").all() and (calibrated_checks["std_error"] > 0).all()
    survival = pd.read_csv(cdc_project / "reports/tables/mortality_survival.csv")
    assert set(survival["group"]) == {"both adequate", "magnesium only", "25(OH)D only", "neither"}
    assert (survival["ci_low"] <= survival["estimate"]).all() and (survival["estimate"] <= survival["ci_high"]).all()
    from tests.conftest import whole_report

    page = whole_report(cdc_project)
    assert 'data-finding="C11"' in page and "c11-methods" in page


@pytest.mark.oracle
def test_genuine_mortality_headline_model_equals_r_svycoxph(cdc_project, tmp_path):
    """Cardiovascular death on 25(OH)D per 25 nmol/L, MEC weight, domain in_mort: the same
    numbers from R's svycoxph (Breslow ties) to 1e-6."""
    import numpy as np

    from analysis.survey.weights import for_cycles

    # the main analyses' cycles, as the pipeline (2001-2006 participants are not in these models)
    frame = for_cycles(pd.read_parquet(cdc_project / "data_clean/analytic.parquet"),
                       ["2007-2008", "2009-2010", "2011-2012", "2013-2014", "2015-2016", "2017-2018"])
    table = pd.read_csv(cdc_project / "reports/tables/mortality.csv")
    rows = table[table["model"] == "died_cvd_by_vitd_per_unit"]
    terms = ["vitd_serum_per25"] + [c.strip() for c in rows["covariates"].iloc[0].split(",")]
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
    columns = ["sdmvstra", "sdmvpsu", "wt_mec", "in_mort", "died_cvd", "followup_exam_months"] + sorted(set(terms))
    r = run_oracle(tmp_path, frame, columns, task="cox", weight="wt_mec", domain="in_mort", y="died_cvd",
                   time="followup_exam_months", terms=terms, factor=factors)
    for column in ("estimate", "ci_low", "ci_high"):  # R gives log hazard ratios; the table reports ratios
        r[column] = np.exp(r[column])
    assert_agree(rows, r, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


# ----------------------------------------------------------- the analysts' commands on the genuine files (issue 38)


def test_a_cycle_chosen_in_where_gives_the_cycles_own_total_equal_to_r(cdc_project, tmp_path):
    """2017-2018 adults taking vitamin D supplements: the same total (about 76 million) whether the
    cycle is chosen in --where, with --cycles, or twice; R's svytotal on the 2-year weight agrees."""
    from analysis.commands.estimate import estimate, load

    by_where = estimate("total", "vitd_supp_user", where="cycle == '2017-2018' & age >= 20", root=cdc_project).table
    by_cycles = estimate("total", "vitd_supp_user", where="age >= 20", cycles=["2017-2018"], root=cdc_project).table
    twice = estimate("total", "vitd_supp_user", where="age >= 20", cycles=["2017-2018", "2017-2018"],
                     root=cdc_project).table
    assert by_where["estimate"].iloc[0] == pytest.approx(by_cycles["estimate"].iloc[0], rel=1e-12)
    assert twice["estimate"].iloc[0] == pytest.approx(by_cycles["estimate"].iloc[0], rel=1e-12)
    assert 60e6 < by_where["estimate"].iloc[0] < 100e6
    data = load(cdc_project)
    data["wt_2yr"] = data["wt_day1"] * data["cycle"].nunique()
    data["y"] = data["vitd_supp_user"].astype("Float64")
    data["dom"] = (data["cycle"] == "2017-2018") & (data["age"] >= 20) & data["y"].notna() & (data["wt_2yr"] > 0)
    r = run_oracle(tmp_path, data, ["sdmvstra", "sdmvpsu", "wt_2yr", "dom", "y"], task="total", weight="wt_2yr",
                   domain="dom", y="y")
    assert_total_agrees(by_where, r)


def test_usual_adequacy_by_sex_has_replicate_ses_like_the_pipelines(cdc_project):
    """Men's mean probability of adequate usual magnesium: a replicate SE near the usual-intake
    distribution's (about 0.0084), not the Taylor SE that treats the prediction as measured (0.0064)."""
    from analysis.commands.estimate import estimate

    ours = estimate("mean", "mg_adequate_usual", by=["sex"], where="in_adults", root=cdc_project)
    assert "rerunning the usual-intake model" in ours.variance
    table = pd.read_csv(cdc_project / "reports/tables/usual_intake.csv")
    below = table[(table["term"] == "mg_total_usual_below_ear") & (table["group_by"] == "sex")].set_index("group")
    mine = ours.table.set_index("group")
    for group in ("sex=male", "sex=female"):
        assert mine.loc[group, "estimate"] == pytest.approx(1 - below.loc[group, "estimate"], abs=0.02)
        assert 0.8 < mine.loc[group, "std_error"] / below.loc[group, "std_error"] < 1.25


def test_search_finds_day_2_and_mortality_variables_by_their_labels(cdc_project):
    from analysis.commands import lookup

    folate = lookup.search("folate", root=cdc_project).set_index("name")
    assert {"DR2TFOLA", "DS2TFDFE"} <= set(folate.index)
    assert "label of DR1TFOLA" in folate.loc["DR2TFOLA", "label"]
    assert "ELIGSTAT" in set(lookup.search("eligibility status", root=cdc_project)["name"])


def deng_frame(project: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2001-2006 rows with the day-1 weight re-pooled over those three cycles, and the
    replication table; quartiles rebuilt from the cut points the table states (independently of
    the analysis code)."""
    frame = pd.read_parquet(project / "data_clean/analytic.parquet")
    table = pd.read_csv(project / "reports/tables/deng_replication.csv")
    frame = frame[frame["cycle"].isin(["2001-2002", "2003-2004", "2005-2006"])].copy()
    frame["wt_deng"] = frame["wt_day1_2yr"] / 3
    note = table["note"].iloc[0]
    for name, column, target in [("magnesium", "mg_total_30d_mg", "mg_quartile"), ("vitamin_d", "vitd_supp_30d_ug", "vitd_quartile")]:
        cuts = [float(c) for c in note.split(f"{name} quartile cuts ")[1].split(";")[0].split(", ")]
        x = frame[column]
        frame[target] = pd.Series(np.select([x <= cuts[0], x <= cuts[1], x <= cuts[2], x > cuts[2]], ["Q1", "Q2", "Q3", "Q4"],
                                            default=""), index=frame.index).replace("", pd.NA).astype("string")
    return frame, table


def test_deng_replication_runs_on_2001_2006_with_its_own_weights(cdc_project):
    frame, table = deng_frame(cdc_project)
    flow = pd.read_csv(cdc_project / "reports/tables/flow.csv")
    deng = flow[flow["flow"] == "deng"]
    assert deng["reason"].iloc[0] == "cycles 2001-2002, 2003-2004, 2005-2006"
    assert int(deng["n_remaining"].iloc[-1]) == int(frame["in_deng"].sum()) > 10000
    # the main analyses stay on 2007-2018: their flow starts from those cycles' participants only
    main = flow[flow["flow"] == "main"]
    analytic = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    assert int(main["n_remaining"].iloc[0]) == int((analytic["cycle"] >= "2007-2008").sum())
    assert not analytic.loc[analytic["cycle"] < "2007-2008", "in_main"].any()
    top = table[(table["contrast"] == "Q4 vs Q1") & (table["group"] == "all")]
    assert len(top) == 8 and top["published_or"].notna().all()
    assert set(top["assay"]) == {"ria", "lcms"} and (top["estimate"] < 1).all()
    # a stratum inside one cycle has 15 design df for about 24 coefficients: no estimate, and said
    pth = table[table["group"].str.startswith("PTH")]
    assert len(pth) and pth["estimate"].isna().all() and pth["note"].str.startswith("not estimated").all()


@pytest.mark.oracle
@pytest.mark.parametrize("assay, serum, outcome", [("ria", "vitd_serum_ria_nmol", "deficiency"),
                                                   ("lcms", "vitd_serum_nmol", "insufficiency")])
def test_deng_quartile_odds_ratios_equal_r_svyglm(cdc_project, tmp_path, assay, serum, outcome):
    """Q2-Q4 vs Q1 of magnesium, fully adjusted, recomputed by R survey's svyglm (quasibinomial)
    on the three cycles' design with the domain built here from 25(OH)D."""
    frame, table = deng_frame(cdc_project)
    rows = table[(table["model"] == f"{outcome}_magnesium_{assay}") & (table["group"] == "all")
                 & (table["quantity"] == "effect")]
    if outcome == "deficiency":
        frame["y"] = (frame[serum] < 30).astype(float)
        frame["dom"] = frame["in_deng"] & ((frame[serum] < 30) | (frame[serum] >= 50))
    else:
        frame["y"] = (frame[serum] < 50).astype(float)
        frame["dom"] = frame["in_deng"] & (frame[serum] >= 30)
    covariates = [c.strip() for c in rows["covariates"].iloc[0].split(",")]
    terms = ["mg_quartile", *covariates]
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct",
               "cycle=2001-2002", "physical_activity=inactive", "mg_quartile=Q1", "vitd_quartile=Q1"]
    columns = ["sdmvstra", "sdmvpsu", "wt_deng", "dom", "y", *sorted(set(terms))]
    r = run_oracle(tmp_path, frame, columns, task="glm", weight="wt_deng", domain="dom", y="y", family="binomial",
                   terms=terms, factor=[f for f in factors if f.split("=")[0] in columns])
    theirs = r[(r["kind"] == "coef") & r["term"].str.startswith("mg_quartile")].copy()
    theirs[["estimate", "ci_low", "ci_high"]] = np.exp(theirs[["estimate", "ci_low", "ci_high"]])
    theirs["term"] = theirs["term"].str.replace("mg_quartile_", "magnesium ") + " vs Q1"
    assert_agree(rows, theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


def test_karim_linked_mortality_counts_for_2013_2014_are_reproduced(cdc_project):
    """Karim et al., EpiMethods, 'Linking mortality data' (NCHS 2019 public-use file, NHANES
    2013-2014): 467 deaths, 5,633 alive and 4,075 not eligible among 10,175 records; adults 20+
    with measured BMI, not pregnant: 5,445 eligible, 415 deaths, 6.2% died (interview weight)."""
    frame = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    cycle = frame[frame["cycle"] == "2013-2014"]
    linked = cycle["mort_linked"].fillna(False).astype(bool)
    assert len(cycle) == 10175
    assert int(cycle["died"].eq(True).sum()) == 467 and int((linked & cycle["died"].eq(False)).sum()) == 5633
    assert int((~linked).sum()) == 4075
    adults = cycle[linked & (cycle["age"] >= 20) & cycle["bmi"].notna() & ~cycle["pregnant"]]
    assert len(adults) == 5445 and int(adults["died"].eq(True).sum()) == 415
    checks = pd.read_csv(cdc_project / "reports/tables/published_checks.csv")
    karim = checks[checks["source"].str.startswith("Karim")].iloc[0]
    assert karim["n"] == karim["n_published"] == 5445 and bool(karim["agrees"])
    assert round(100 * karim["estimate"], 1) == 6.2


def test_c1_and_c11_are_replicated_in_2001_2006_and_pooled(cdc_project):
    from analysis.claims import registry
    from analysis.core.config import load_params

    params = load_params(cdc_project / "params.yaml")
    table = pd.read_csv(cdc_project / "reports/tables/eras.csv")
    for claim, outcome in [("C1", "vitd_serum_nmol"), ("C11", "died_cvd"), ("C11", "died")]:
        part = table[(table["claim_id"] == claim) & (table["outcome"] == outcome)].set_index("era")
        assert set(part.index) == {"2001-2006", "2007-2018", "pooled", "difference"}
        assert (part["variance"].iloc[:2] == "jackknife").all() and (part.loc["2001-2006", "n"] > 10000)
        eras_ = part.loc[["2001-2006", "2007-2018"]]
        b = np.log(eras_["estimate"]) if claim == "C11" else eras_["estimate"]
        w = 1 / eras_["std_error"] ** 2
        pooled = float((w * b).sum() / w.sum())
        assert part.loc["pooled", "estimate"] == pytest.approx(np.exp(pooled) if claim == "C11" else pooled, rel=1e-9)
    claims_table = pd.read_csv(cdc_project / "reports/claims.csv").set_index("claim_id")
    for claim, outcome in [("C1", "vitd_serum_nmol"), ("C11", "died_cvd")]:
        early = table[(table["claim_id"] == claim) & (table["outcome"] == outcome) & (table["era"] == "2001-2006")].iloc[0]
        rule = params["verdicts"][claim]
        era_verdict = registry.decide(rule, [registry.Evidence(early["estimate"], early["ci_low"], early["ci_high"])])
        reason = claims_table.loc[claim, "reason"]
        assert "replication in 2001-2006" in reason and f"which the same rule calls {era_verdict}" in reason
        if {era_verdict, claims_table.loc[claim, "verdict"]} == {registry.SUPPORTED, registry.CONTRADICTED}:
            raise AssertionError(f"{claim}: opposite era verdicts must have made it inconclusive")
    follow_up = pd.read_csv(cdc_project / "reports/tables/mortality_follow_up.csv").set_index("cycle")
    analytic = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    linked = analytic[analytic["in_mort"]]
    assert list(follow_up.index[:-1]) == sorted(linked["cycle"].unique()) and len(follow_up) == 10
    assert (follow_up.loc[follow_up.index[:-1], "deaths"] == linked.groupby("cycle")["died"].sum()).all()
    assert follow_up.loc["2001-2002", "max_follow_up_years"] > 18 > follow_up.loc["2017-2018", "max_follow_up_years"] + 10


@pytest.mark.oracle
def test_c1_2001_2006_point_estimate_equals_r_svyglm_on_the_calibrated_columns(cdc_project, tmp_path):
    """The era's C1 interaction: the outcome model on the era's usual-intake columns, its own design
    (2001-2006 weights re-pooled over three cycles), refitted by R's svyglm."""
    frame = pd.read_parquet(cdc_project / "data_clean/analytic.parquet")
    frame = frame[frame["cycle"].isin(["2001-2002", "2003-2004", "2005-2006"])].copy()
    frame["w"] = frame["wt_day1_2yr"] / 3
    frame = frame.merge(pd.read_parquet(cdc_project / "data_clean/usual_eras/2001-2006/usual_intake.parquet"),
                        on="seqn", how="left")
    row = pd.read_csv(cdc_project / "reports/tables/eras.csv")
    row = row[(row["claim_id"] == "C1") & (row["era"] == "2001-2006")].iloc[0]
    exposures = ["vitd_supp_user_30d", "mg_adequate_usual", "vitd_supp_user_30d:mg_adequate_usual"]
    terms = exposures + [c.strip() for c in row["covariates"].split(",")]
    used = sorted({p for t in terms for p in t.split(":")})
    frame["dom"] = (frame["in_adults"] & frame["in_usual_calibration"].fillna(False).astype(bool)
                    & frame[["vitd_serum_nmol", *used]].notna().all(axis=1))
    factors = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2001-2002"]
    r = run_oracle(tmp_path, frame, ["sdmvstra", "sdmvpsu", "w", "dom", "vitd_serum_nmol", *used], task="glm",
                   weight="w", domain="dom", y="vitd_serum_nmol", terms=terms, factor=factors)
    wanted = tuple(sorted(exposures[2].split(":")))
    theirs = r[(r["kind"] == "coef") & (r["term"].map(lambda t: tuple(sorted(t.split(":")))) == wanted)]
    assert float(theirs["estimate"].iloc[0]) == pytest.approx(row["estimate"], rel=1e-6)
    assert int(frame["dom"].sum()) == row["n"]


def test_deng_magnesium_on_usual_intake_has_two_step_ses_beside_one_day(cdc_project):
    table = pd.read_csv(cdc_project / "reports/tables/deng_replication.csv")
    usual = table[table["group"] == "usual intake"]
    day1 = table[table["group"] == "one day's intake, same persons"]
    assert len(usual) == len(day1) == 4
    assert (usual["variance"] == "jackknife").all() and day1["variance"].isna().all()
    # the same persons and models, one with usual and one with one day's magnesium
    assert list(usual["n"]) == list(day1["n"]) and list(usual["model"]) == list(day1["model"])
    assert (usual["estimate"] > 0).all() and (usual["ci_low"] < usual["estimate"]).all()


def test_each_table_says_its_cycles(cdc_project):
    def cycles(name: str) -> set[str]:
        return set(pd.read_csv(cdc_project / f"reports/tables/{name}.csv")["cycles"].dropna())

    assert cycles("interaction_usual") == {"2007-2018"} and cycles("deng_replication") == {"2001-2006"}
    assert cycles("inflammation") == {"2007-2010, 2015-2018"} and cycles("calcification") == {"2013-2014"}
    assert cycles("bone_or") == {"2007-2010, 2013-2014, 2017-2018"}


def test_the_2001_2006_usual_model_takes_2001_2002_with_one_recall(cdc_project):
    """2001-2002 has one public recall: its persons enter the era's model with day 1 alone, and
    the within-person variance comes from the 2003-2006 persons with two."""
    import json

    frame = pd.read_parquet(cdc_project / "data_clean/analytic.parquet").merge(
        pd.read_parquet(cdc_project / "data_clean/usual_eras/2001-2006/usual_intake.parquet"), on="seqn")
    inside = frame[frame["in_usual_calibration"].astype("boolean").fillna(False).astype(bool)]
    per_cycle = inside.groupby("cycle")["recall_day2_reliable"].agg(["size", "sum"])
    assert per_cycle.loc["2001-2002", "size"] > 3000 and per_cycle.loc["2001-2002", "sum"] == 0
    assert (per_cycle.loc[["2003-2004", "2005-2006"], "sum"] > 3000).all()
    assert inside["mg_adequate_usual"].between(0, 1).all() and "vitd_adequate_usual" not in frame
    model = json.loads((cdc_project / "data_clean/usual_eras/2001-2006/usual_model.json").read_text())
    assert model["calibration"]["nutrients"] == ["kcal", "mg", "ca"] and model["cycles"][0] == "2001-2002"


def test_bailey_2010_usual_calcium_is_reproduced(cdc_project):
    """Mean usual calcium and the share at or above the 1997 AI, foods and foods + supplements,
    five sex-age groups, NHANES 2003-2006 (Bailey et al., J Nutr 2010): within the stated
    tolerance (5% of the mean, 5 points of the share), and each published figure inside our 95% CI."""
    from analysis.analyses import adequacy
    from analysis.core.config import load_params
    from analysis.data.nutrients import load_registry

    root = cdc_project
    checks = adequacy.published_checks(pd.read_parquet(root / "data_clean/analytic.parquet"),
                                       pd.read_parquet(root / "data_clean/nutrient_intakes.parquet"),
                                       load_params(root / "params.yaml"), load_registry())
    assert len(checks) == 20
    assert checks["agrees"].all(), checks[~checks["agrees"]]
    assert ((checks["ci_low"] <= checks["published"]) & (checks["published"] <= checks["ci_high"])).all()
