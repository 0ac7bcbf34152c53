"""C11 on the synthetic mirror, recomputed by R's svycoxph (survey + survival, Breslow ties):
every Taylor-linearized Cox model of mortality.csv (25(OH)D, the proportional-hazards check on
split follow-up, one day's magnesium x 25(OH)D, supplement use) on estimates, SEs, CIs, df and
p-values to 1e-6, and the calibrated models' point estimates (their replicate SEs rerun both
steps; the replicate engine is checked against R in test_replicates_oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.claims import registry as claims
from analysis.analyses import mortality
from analysis.analyses.common import Context
from analysis.core.config import load_params
from tests.oracle_tools import assert_agree, run_oracle

pytestmark = [pytest.mark.mirror, pytest.mark.oracle]

FACTORS = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
DESIGN = ["sdmvstra", "sdmvpsu"]
COLUMNS = ("estimate", "std_error", "ci_low", "ci_high", "df", "p_value")


@pytest.fixture(scope="module")
def ctx(analyzed_project) -> Context:
    params = load_params(analyzed_project / "params.yaml")
    data = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet")
    data = data.merge(pd.read_parquet(analyzed_project / "data_clean/usual_intake.parquet"), on="seqn", how="left")
    context = Context(data, params)
    mortality.prepare(context)
    return context


@pytest.fixture(scope="module")
def table(analyzed_project) -> pd.DataFrame:
    return pd.read_csv(analyzed_project / "reports/tables/mortality.csv")


def hazard_ratio_scale(r: pd.DataFrame) -> pd.DataFrame:
    """R's log hazard ratios and CI limits exponentiated: the scale mortality.csv reports (to 10
    significant digits, so a coefficient per kcal near 0 keeps its precision only as a ratio)."""
    out = r.copy()
    for column in ("estimate", "ci_low", "ci_high"):
        out[column] = np.exp(out[column])
    return out


def r_cox(frame, tmp_path, rows, outcome, time, domain, weight, exposures, entry=None):
    terms = exposures + [c.strip() for c in rows["covariates"].iloc[0].split(",") if c.strip() not in exposures]
    columns = DESIGN + [weight, domain, outcome, time] + ([entry] if entry else []) + \
        sorted({p for t in terms for p in t.split(":")})
    return hazard_ratio_scale(run_oracle(tmp_path, frame, columns, task="cox", weight=weight, domain=domain, y=outcome,
                                         time=time, entry=entry, terms=terms, factor=FACTORS))


@pytest.mark.parametrize("model, outcome, exposure", [
    ("died_cvd_by_vitd_per_unit", "died_cvd", "vitd_serum_per25"), ("died_by_vitd_below", "died", "vitd_low"),
    ("died_heart_by_vitd_per_unit", "died_heart", "vitd_serum_per25")])
def test_vitamin_d_models(ctx, table, tmp_path, model, outcome, exposure):
    rows = table[table["model"] == model]
    r = r_cox(ctx.frame, tmp_path, rows, outcome, mortality.TIME, "in_mort", "wt_mec", [exposure])
    assert_agree(rows, r, columns=COLUMNS)


@pytest.mark.parametrize("model, outcome, exposures, domain, weight", [
    ("died_by_vitd_per_unit_ph_check", "died", ["vitd_serum_per25"], "in_mort", "wt_mec"),
    ("died_cvd_by_joint_day1_ph_check", "died_cvd", mortality.JOINT_DAY1, "in_mort_diet", "wt_day1")])
def test_proportional_hazards_checks(ctx, table, tmp_path, model, outcome, exposures, domain, weight):
    rows = table[(table["model"] == model) & table["term"].str.endswith(":late")]
    assert len(rows) == len(exposures)
    split = mortality.split_follow_up(ctx.frame, outcome, float(ctx.params["analyze"]["mortality"]["ph_split_months"]))
    late = [f"{e}:late" for e in exposures]
    r = r_cox(split, tmp_path, rows, "period_event", "period_end", domain, weight, list(exposures) + late,
              entry="period_entry")
    assert_agree(rows, r[r["term"].isin(late)], columns=COLUMNS)


@pytest.mark.parametrize("model, outcome, exposures, domain", [
    ("died_cvd_by_mg_x_vitd_day1", "died_cvd", mortality.DAY1_TERMS, "in_mort_diet"),
    ("died_by_supplements", "died", mortality.SUPPLEMENT_TERMS, "in_mort_supp")])
def test_day1_and_supplement_models(ctx, table, tmp_path, model, outcome, exposures, domain):
    rows = table[(table["model"] == model) & (table["term"] != mortality.BOTH)]
    r = r_cox(ctx.frame, tmp_path, rows, outcome, mortality.TIME, domain, "wt_day1", list(exposures))
    assert_agree(rows, r, columns=COLUMNS)


def test_calibrated_point_estimates(ctx, table, tmp_path):
    rows = table[(table["model"] == "died_cvd_by_mg_x_vitd_usual") & (table["term"] != mortality.BOTH)]
    assert (rows["variance"] == "jackknife").all()
    r = r_cox(ctx.frame, tmp_path, rows, "died_cvd", mortality.TIME, "in_mort_diet", "wt_day1", list(mortality.JOINT_TERMS))
    assert_agree(rows, r, columns=("estimate",))
    both = table[(table["model"] == "died_cvd_by_mg_x_vitd_usual") & (table["term"] == mortality.BOTH)].iloc[0]
    assert both["estimate"] == pytest.approx(rows.set_index("term").loc[list(mortality.JOINT_TERMS), "estimate"].prod())


@pytest.mark.parametrize("outcome", mortality.PH_CHECKED)
def test_calibrated_proportional_hazards_check_point_estimates(ctx, table, tmp_path, outcome):
    """The calibrated joint model on split follow-up (its SEs from the replicates): R's svycoxph
    on the same split rows, with the full-sample usual magnesium adequacy, gives the same ratios."""
    model = f"{outcome}_by_mg_x_vitd_usual_ph_check"
    rows = table[(table["model"] == model) & (table["term"] != f"{mortality.BOTH}:late")]
    late = [f"{t}:late" for t in mortality.JOINT_TERMS]
    assert list(rows["term"]) == late and (rows["variance"] == "jackknife").all()
    split = mortality.split_follow_up(ctx.frame, outcome, float(ctx.params["analyze"]["mortality"]["ph_split_months"]))
    r = r_cox(split, tmp_path, rows, "period_event", "period_end", "in_mort_diet", "wt_day1",
              list(mortality.JOINT_TERMS) + late, entry="period_entry")
    assert_agree(rows, r[r["term"].isin(late)], columns=("estimate", "df"))
    both = table[(table["model"] == model) & (table["term"] == f"{mortality.BOTH}:late")].iloc[0]
    assert both["estimate"] == pytest.approx(rows["estimate"].prod())


def test_c11_has_a_verdict_and_the_synthetic_report_says_so(analyzed_project):
    claim = pd.read_csv(analyzed_project / "reports/claims.csv").set_index("claim_id").loc["C11"]
    assert claim["verdict"] in (claims.SUPPORTED, claims.CONTRADICTED, claims.INCONCLUSIVE)
    assert claim["ci_low"] < claim["estimate"] < claim["ci_high"] and "synthetic" in claim["data_provenance"]
    evalues = pd.read_csv(analyzed_project / "reports/tables/e_values.csv").set_index("claim_id")
    assert "HR" in evalues.loc["C11", "conversion"]
