"""Any-nutrient usual intake and adequacy (issue 37): the registry, the requirement rules, a
simulation with known usual-intake distributions, the R survey oracle for the one-day rows,
magnesium against C6's distribution, and the command's refusals."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from analysis.analyses import adequacy as table_module
from analysis.core.config import load_params
from analysis.core.errors import ConfigError, DataError
from analysis.data import nutrients as registry_module
from analysis.data.nutrients import load_registry
from analysis.usual import adequacy
from tests.oracle_tools import require_r

REPO_PARAMS = load_params("params.yaml")


# ---------------------------------------------------------------------------- the registry


def test_every_nutrient_has_one_dri_per_life_stage_and_its_variables():
    reg = load_registry()
    assert len(reg.nutrients) >= 23
    for n in reg.nutrients.values():
        for values in n.dri.values():
            assert len(values) == len(reg.life_stages)
        assert n.variables()["DR1TOT"] == f"DR1T{n.code}"
    assert reg.get("sodium").name_2001_2002() == "DRDTSODI"  # CDC's 2001-2002 name
    assert not reg.get("vitamin_a").supplement and not reg.get("vitamin_e").supplement


def test_magnesium_ear_of_the_registry_equals_the_clean_stage_table():
    reg = load_registry()
    stages = pd.Series(["males_19_30", "males_31_50", "males_71_plus", "females_19_30", "females_51_70",
                        "males_14_18", "females_14_18"])
    expected = [330, 350, 350, 255, 265, 340, 300]
    assert reg.dri_values(reg.get("magnesium"), "ear", stages).tolist() == expected


def test_life_stages_put_pregnant_women_in_their_own_groups_and_infants_nowhere():
    reg = load_registry()
    age = pd.Series([0.5, 2, 10, 25, 25, 75, 16])
    sex = pd.Series(["male", "male", "female", "female", "female", "male", "female"])
    pregnant = pd.Series([False, False, False, True, False, False, True], dtype="boolean")
    assert reg.life_stage(age, sex, pregnant).fillna("none").tolist() == [
        "none", "children_1_3", "females_9_13", "pregnancy_19_30", "females_19_30", "males_71_plus", "pregnancy_14_18"]


@pytest.mark.parametrize("change, message", [
    (lambda n: n.update(ear=n["ear"][:-1]), "expected one per life stage"),
    (lambda n: n.update(ear=[-1] + n["ear"][1:]), "positive numbers"),
    (lambda n: (n.pop("ear"), n.pop("rda")), "needs an EAR or an AI"),
    (lambda n: n.update(ul_applies_to="food"), "ul_applies_to"),
])
def test_a_broken_registry_is_refused_naming_the_nutrient(change, message):
    raw = yaml.safe_load(open("analysis/data/nutrients.yaml", encoding="utf-8"))
    change(raw["nutrients"]["zinc"])
    with pytest.raises(ConfigError, match=f"nutrient zinc.*{message}"):
        registry_module.parse(raw)


def test_iron_requirement_follows_the_dri_report_table_and_a_lognormal_elsewhere():
    reg = load_registry()
    iron = reg.get("iron")
    women = np.array(["females_19_30"] * 4)
    cdf = adequacy.requirement_cdf(reg, iron, women, np.array([4.0, 8.07, 10.82, 20.0]))
    assert cdf.tolist() == pytest.approx([0.0, 0.5, 0.8, 1.0])
    men = np.array(["males_31_50"] * 2)
    assert adequacy.requirement_cdf(reg, iron, men, np.array([6.0, 8.0])) == pytest.approx([0.5, 0.975])


# ---------------------------------------------------------------------------- simulation


def simulated(seed: int = 7, strata: int = 15, per_psu: int = 150, mean_log: float = 6.2, between: float = 0.3,
              within: float = 0.5) -> pd.DataFrame:
    """Men 31-50 whose usual magnesium is log-normal(mean_log, between) and whose recalls scatter
    around it log-normally (within) with the usual intake as their mean; 2 PSUs per stratum."""
    rng = np.random.default_rng(seed)
    n = strata * 2 * per_psu
    log_usual = rng.normal(mean_log, between, n)
    usual = np.exp(log_usual)
    recall = lambda: usual * np.exp(rng.normal(-within**2 / 2, within, n))  # noqa: E731 (unbiased for usual)
    frame = pd.DataFrame({
        "seqn": np.arange(n), "cycle": "2017-2018", "sdmvstra": np.repeat(np.arange(strata), 2 * per_psu),
        "sdmvpsu": np.tile(np.repeat([1, 2], per_psu), strata), "age": 40.0, "sex": "male", "pregnant": False,
        "recall_day1_reliable": True, "recall_day2_reliable": True, "wt_day1": 1000.0, "wt_day2": 1000.0,
        "magnesium_day1": recall(), "magnesium_day2": recall(), "magnesium_supplement": 0.0,
        "life_stage": "males_31_50", "true_usual": usual})
    return frame


def run_simulation(frame: pd.DataFrame) -> pd.DataFrame:
    reg = load_registry()
    request = table_module.Request(reg.select(["magnesium"]), [], ["food"])
    return table_module.table(frame, REPO_PARAMS, reg, request)


def test_usual_intake_recovers_the_share_below_the_ear_where_one_day_overstates_it():
    frame = simulated()
    out = run_simulation(frame).set_index(["basis", "measure"])
    truth = stats.norm.cdf((np.log(350) - 6.2) / 0.3)  # 0.127
    usual, day1 = out.loc[("usual", "below_ear")], out.loc[("day1", "below_ear")]
    assert abs(usual["estimate"] - truth) < 0.03
    assert usual["ci_low"] < truth < usual["ci_high"]
    assert day1["estimate"] > truth + 0.08  # one day's spread adds the day-to-day variation
    true_median = np.exp(6.2)
    assert out.loc[("usual", "p50"), "estimate"] == pytest.approx(true_median, rel=0.03)
    assert out.loc[("usual", "mean"), "estimate"] == pytest.approx(np.exp(6.2 + 0.3**2 / 2), rel=0.03)


def test_total_intake_adds_each_persons_supplement_to_the_shrunk_food_distribution():
    frame = simulated(mean_log=5.6)
    frame["magnesium_supplement"] = np.where(np.arange(len(frame)) % 4 == 0, 200.0, 0.0)  # a quarter take 200 mg
    reg = load_registry()
    request = table_module.Request(reg.select(["magnesium"]), [], ["food", "total"])
    out = table_module.table(frame, REPO_PARAMS, reg, request).set_index(["source", "basis", "measure"])
    z = (np.log(350) - 5.6) / 0.3
    truth_total = 0.75 * stats.norm.cdf(z) + 0.25 * stats.norm.cdf((np.log(150) - 5.6) / 0.3)
    assert abs(out.loc[("total", "usual", "below_ear"), "estimate"] - truth_total) < 0.03
    assert out.loc[("total", "usual", "mean"), "estimate"] - out.loc[("food", "usual", "mean"), "estimate"] == \
        pytest.approx(50.0, rel=1e-9)
    # the UL of magnesium concerns supplements alone: nobody's 200 mg is above 350
    assert out.loc[("total", "usual", "above_ul"), "estimate"] == 0.0


def episodic_frame(seed: int = 11, strata: int = 15, per_psu: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    """Men 31-50 who eat the nutrient on a share of days (logit-normal across persons, 40% of days
    overall) in log-normal amounts; usual intake = P(a day) x usual amount, independent parts."""
    rng = np.random.default_rng(seed)
    frame = simulated(seed=seed, strata=strata, per_psu=per_psu)
    n = len(frame)
    probability = 1 / (1 + np.exp(-(-0.5 + rng.normal(0, 0.9, n))))
    amount = np.exp(rng.normal(7.2, 0.3, n))
    day = lambda: np.where(rng.random(n) < probability, amount * np.exp(rng.normal(-0.18, 0.6, n)), 0.0)  # noqa: E731
    frame["magnesium_day1"], frame["magnesium_day2"] = day(), day()
    return frame, probability * amount


def test_the_two_part_model_recovers_an_episodic_nutrients_share_below_the_ear():
    frame, usual = episodic_frame()
    out = run_simulation(frame).set_index(["basis", "measure"])
    truth = float(np.mean(usual < 350))
    usual_row, day1 = out.loc[("usual", "below_ear")], out.loc[("day1", "below_ear")]
    assert "two-part" in usual_row["method"]
    assert abs(usual_row["estimate"] - truth) < 0.03
    assert usual_row["ci_low"] - 0.01 < truth < usual_row["ci_high"] + 0.01
    assert day1["estimate"] > truth + 0.05  # zero days put many more below on one day
    assert out.loc[("usual", "mean"), "estimate"] == pytest.approx(usual.mean(), rel=0.04)
    median = out.loc[("usual", "p50"), "estimate"]
    assert np.mean(usual < median) == pytest.approx(0.5, abs=0.04)


def test_the_amount_only_model_is_kept_where_zero_days_are_rare():
    out = run_simulation(simulated())
    assert out["method"].str.contains("amount-only").any() and not out["method"].str.contains("two-part").any()


# ---------------------------------------------------------------------------- R survey oracle


R_DAY1 = """
library(survey)
d <- read.csv(commandArgs(TRUE)[1])
des <- svydesign(ids = ~sdmvpsu, strata = ~sdmvstra, weights = ~wt_day1, nest = TRUE, data = d)
rep <- as.svrepdesign(des, type = "JKn", mse = TRUE)
out <- NULL
for (g in c("all", "A", "B")) {
  sub <- if (g == "all") rep else subset(rep, grp == g)
  m <- svymean(~magnesium_day1, sub); b <- svymean(~below, sub)
  out <- rbind(out, data.frame(group = g, mean = coef(m), mean_se = SE(m), below = coef(b), below_se = SE(b)))
}
write.csv(out, commandArgs(TRUE)[2], row.names = FALSE)
"""


def test_one_day_rows_equal_r_survey_on_the_jackknife_design(tmp_path):
    require_r()
    frame = simulated(strata=8, per_psu=60)
    frame["grp"] = np.where(np.arange(len(frame)) % 3 == 0, "A", "B")
    frame["wt_day1"] = 500 + 10 * (np.arange(len(frame)) % 17)
    frame["below"] = (frame["magnesium_day1"] < 350).astype(float)
    reg = load_registry()
    request = table_module.Request(reg.select(["magnesium"]), ["grp"], ["food"])
    ours = table_module.table(frame, REPO_PARAMS, reg, request)
    ours = ours[ours["basis"] == "day1"].set_index(["group", "measure"])
    frame.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "oracle.R").write_text(R_DAY1)
    subprocess.run(["Rscript", str(tmp_path / "oracle.R"), str(tmp_path / "d.csv"), str(tmp_path / "r.csv")],
                   check=True, capture_output=True)
    r = pd.read_csv(tmp_path / "r.csv").set_index("group")
    for group in ("all", "A", "B"):
        assert ours.loc[(group, "mean"), "estimate"] == pytest.approx(r.loc[group, "mean"], rel=1e-6)
        assert ours.loc[(group, "mean"), "std_error"] == pytest.approx(r.loc[group, "mean_se"], rel=1e-6)
        assert ours.loc[(group, "below_ear"), "estimate"] == pytest.approx(r.loc[group, "below"], rel=1e-6)
        assert ours.loc[(group, "below_ear"), "std_error"] == pytest.approx(r.loc[group, "below_se"], rel=1e-6)


# ---------------------------------------------------------------------------- on the mirror


def test_magnesium_with_c6s_specification_equals_the_usual_stage_distribution(analyzed_project):
    """The new code, given C6's model (adults, groups sex, age group, supplement use), gives the
    usual stage's numbers: shares below the EAR and percentiles, estimates and SEs."""
    from analysis.survey.weights import for_cycles

    root = analyzed_project
    params = load_params(root / "params.yaml")
    reg = load_registry()
    analytic = for_cycles(pd.read_parquet(root / "data_clean" / "analytic.parquet"), list(params["analyze"]["cycles"]),
                          available_only=True)
    frame = table_module.frame_for(analytic, pd.read_parquet(root / "data_clean" / "nutrient_intakes.parquet"), reg)
    groups = list(params["usual_intake"]["distribution_groups"])
    request = table_module.Request(reg.select(["magnesium"]), groups, ["food", "total"], where="in_adults", strata=None)
    ours = table_module.table(frame, params, reg, request)
    usual = pd.read_csv(root / "reports" / "tables" / "usual_intake.csv")
    usual = usual[usual["model"] == "usual_intake_distribution"]
    assert len(usual) > 50
    for r in usual.itertuples():
        source = "food" if r.term.startswith("mg_food") else "total"
        measure = r.term.split("_usual_")[1]
        measure = f"p{int(measure[1:])}" if measure[1:].isdigit() else measure  # p05 there, p5 here (issue 37)
        by, level = r.group.split("=") if "=" in r.group else ("all", "all")
        match = ours[(ours["source"] == source) & (ours["basis"] == "usual") & (ours["measure"] == measure)
                     & (ours["group_by"] == by) & (ours["group"] == level)]
        assert len(match) == 1, (r.term, r.group)
        assert match["estimate"].iloc[0] == pytest.approx(r.estimate, rel=1e-6)
        assert match["std_error"].iloc[0] == pytest.approx(r.std_error, rel=1e-6)


def test_the_command_answers_what_the_mirror_has_and_refuses_what_it_lacks(mirror_project):
    from analysis.commands.adequacy import adequacy as ask

    answer = ask(["magnesium", "calcium"], by=["life_stage", "sex"], root=mirror_project)
    t = answer.table
    assert set(t["nutrient"]) == {"magnesium", "calcium"}
    stage = t[t["group_by"] == "life_stage"]
    assert {"mean", "p5", "p50", "p95", "below_ear"} <= set(stage["measure"])  # the measure names
    across = t[t["group_by"].isin(["all", "sex"])]  # groups spanning life stages: means and shares, no percentiles
    assert {"mean", "below_ear"} <= set(across["measure"]) and not across["measure"].str.match(r"p\d").any()
    below = t[(t["measure"] == "below_ear") & (t["basis"] == "usual") & (t["group"] == "all")]
    assert len(below) == 4 and below["estimate"].between(0, 1).all()
    assert (below["ci_low"] < below["estimate"]).all() and (below["estimate"] < below["ci_high"]).all()
    assert "%" in answer.text() and '"rows"' in answer.json()
    with pytest.raises(DataError, match="vitamin_c: not estimated: the source files lack DR1TVC"):
        ask(["vitamin_c"], root=mirror_project)
    with pytest.raises(ConfigError, match="unknown nutrient"):
        ask(["magnesum"], root=mirror_project)
    with pytest.raises(DataError, match="zinc: not estimated: the source files lack DR2TZINC"):
        ask(["zinc"], root=mirror_project)  # the synthetic mirror has day-1 zinc only
    with pytest.raises(ConfigError, match="holds numbers"):
        ask(["calcium"], by=["age"], root=mirror_project)
    with pytest.raises(ConfigError, match="--source"):
        ask(["calcium"], source="foods", root=mirror_project)
    everything = ask(["all"], by=[], root=mirror_project, day1=False).table
    skipped = everything[everything["measure"] == "not_estimated"]
    assert "vitamin_c" in set(skipped["nutrient"]) and "magnesium" not in set(skipped["nutrient"])


def test_a_supplement_variable_a_cycle_lacks_is_missing_not_zero():
    from analysis.clean.nutrient_intakes import build

    reg = load_registry()
    raw = pd.DataFrame({"SEQN": [1, 2, 3, 4], "cycle": ["2005-2006", "2005-2006", "2017-2018", "2017-2018"],
                        "DR1DRSTZ": 1, "DR2DRSTZ": [1, 2, 1, 1], "DSDCOUNT": [1, 0, 1, 0], "DS1DSCNT": np.nan,
                        "DS2DSCNT": np.nan})
    missing = {v: np.nan for n in reg.nutrients.values() for v in n.variables().values()}
    raw = pd.concat([raw, pd.DataFrame(missing, index=raw.index)], axis=1)
    raw["DR1TZINC"] = [8.0, 9.0, 10.0, 11.0]
    raw["DSQTZINC"] = [np.nan, np.nan, 15.0, np.nan]  # 2005-2006: no zinc in the supplement totals
    out = build(raw, reg)
    assert out["zinc_supplement"].iloc[:2].isna().all()
    assert out["zinc_supplement"].iloc[2:].tolist() == [15.0, 0.0]
    assert out["zinc_day2"].iloc[1:2].isna().all()  # day 2 counts only from a reliable recall


def test_the_adequacy_stage_and_report_on_the_synthetic_mirror(analyzed_project, tmp_path):
    """The pipeline table and its report section on a mirror that lacks most nutrients and every
    cycle of the published check: rows for what it has, reasons for the rest, no crash."""
    import shutil

    from analysis.analyses import adequacy as stage
    from analysis.core.config import Paths
    from analysis.outputs import report
    from analysis.outputs.risk import run as risk_run

    root = tmp_path / "project"
    shutil.copytree(analyzed_project, root, ignore=shutil.ignore_patterns("notebooks"))
    params, paths = load_params(root / "params.yaml"), Paths(root)
    table = stage.run(params, paths)
    estimated = set(table.loc[table["measure"] == "below_ear", "nutrient"])
    assert {"magnesium", "calcium", "vitamin_d"} <= estimated
    skipped = table[table["measure"] == "not_estimated"]
    assert {"vitamin_c", "zinc", "protein"} <= set(skipped["nutrient"])
    checks = pd.read_csv(root / "reports" / "tables" / "adequacy_published.csv")
    assert checks["note"].str.contains("not run").all()
    if not (root / "reports" / "tables" / "risk_models.csv").exists():
        risk_run(params, paths)
    report.run(params, paths)
    page = (root / "reports" / "findings.html").read_text(encoding="utf-8")
    assert 'id="adequacy"' in page and "Published check" in page and "not run" in page


def test_every_registry_nutrients_zero_recall_days_are_a_counted_data_rule():
    from analysis.clean import data_rules

    rules = {rule.name: rule for rule in data_rules.RULES}
    for n in load_registry().nutrients.values():
        assert f"zero_{n.name}_recall_day" in rules, n.name
    raw = pd.DataFrame({"DR1DRSTZ": [1, 1, 2, 1], "DR2DRSTZ": [1, 2, 1, 1], "DR1TZINC": [0.0, 0.0, 0.0, 5.0],
                        "DR2TZINC": [0.0, 0.0, 0.0, np.nan]})
    counts = rules["zero_zinc_recall_day"].condition(raw, raw)
    assert counts.tolist() == [2, 1, 1, 0]  # person-days on reliable recalls only
    unread = raw.drop(columns=["DR1TZINC", "DR2TZINC"])  # a mirror without the variable: nothing to count
    assert rules["zero_zinc_recall_day"].condition(unread, unread).tolist() == [0, 0, 0, 0]


def test_an_empty_domain_is_refused_saying_so():
    reg = load_registry()
    request = table_module.Request(reg.select(["magnesium"]), [], ["food"], where="age < 1")
    with pytest.raises(DataError, match="no one aged 1 or over in the domain"):
        table_module.table(simulated(strata=4, per_psu=20), REPO_PARAMS, reg, request, explicit=True)
