"""The headline models of the analyze stage, recomputed by R's survey package from the
analytic table of the mirror run (estimates, SEs, CIs, df, tests to 1e-6 relative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.core.config import load_params
from tests.oracle_tools import assert_agree, run_oracle

pytestmark = [pytest.mark.mirror, pytest.mark.oracle]

FACTORS = ["sex=male", "race_eth=nh_white", "education=hs_ged", "smoking=never", "season=may_oct", "cycle=2007-2008"]
DESIGN = ["sdmvstra", "sdmvpsu"]


@pytest.fixture(scope="module")
def frame(analyzed_project) -> pd.DataFrame:
    data = pd.read_parquet(analyzed_project / "data_clean/analytic.parquet")
    data["in_main_mg_below_ear"] = data["in_main"] & data["mg_inadequate"].fillna(False).astype(bool)
    return data


def table(project, name: str, model: str) -> pd.DataFrame:
    t = pd.read_csv(project / f"reports/tables/{name}.csv")
    return t[t["model"] == model]


def refit(tmp_path, frame, rows: pd.DataFrame, exposures: list[str], family="gaussian", **spec):
    first = rows.iloc[0]
    terms = exposures + [c.strip() for c in first["covariates"].split(",")]
    columns = DESIGN + [first["weight"], first["domain"]] + sorted({p for t in terms for p in t.split(":")} | {spec["y"]})
    factors = [f for f in FACTORS if f.split("=")[0] in columns]
    return run_oracle(tmp_path, frame, columns, task="glm", weight=first["weight"], domain=first["domain"],
                      family=family, terms=terms, factor=factors, **spec)


def coefficients(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[~rows["term"].str.contains(" ") & ~rows["term"].str.startswith("wald")]


def test_main_interaction_model(analyzed_project, frame, tmp_path):
    rows = table(analyzed_project, "interaction_use", "use_x_mg_adequacy")
    r = refit(tmp_path, frame, rows, ["vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate"], y="vitd_serum_nmol",
              wald=["wald: vitd_supp_user:mg_adequate = 0|vitd_supp_user:mg_adequate"],
              lincom=["vitd_supp_user effect | mg_adequate = 1|vitd_supp_user=1;vitd_supp_user:mg_adequate=1",
                      "vitd_supp_user effect | mg_adequate = 0|vitd_supp_user=1"])
    assert_agree(coefficients(rows), r[r["kind"] == "coef"],
                 columns=("estimate", "std_error", "ci_low", "ci_high", "statistic", "df", "p_value"))
    assert_agree(rows[rows["term"].str.contains(" effect ")], r[r["kind"] == "lincom"])
    assert_agree(rows[rows["term"].str.startswith("wald")], r[r["kind"] == "wald"], columns=("statistic", "df", "p_value"))


def test_dose_interaction_model(analyzed_project, frame, tmp_path):
    rows = table(analyzed_project, "interaction_dose", "dose10ug_x_mg_adequacy")
    r = refit(tmp_path, frame, rows, ["dose10", "mg_adequate", "dose10:mg_adequate"], y="vitd_serum_nmol")
    assert_agree(coefficients(rows), r[r["kind"] == "coef"])


def test_dose_slope_among_magnesium_inadequate(analyzed_project, frame, tmp_path):
    rows = table(analyzed_project, "dose_low_mg", "dose_slope_mg_below_ear")
    r = refit(tmp_path, frame, rows, ["dose10"], y="vitd_serum_nmol")
    assert_agree(coefficients(rows), r[r["kind"] == "coef"])


def test_deficiency_logistic_model(analyzed_project, frame, tmp_path):
    rows = table(analyzed_project, "deficiency_or", "vitd_below_50_by_mg_adequacy_adj_supp_use")
    r = refit(tmp_path, frame, rows, ["mg_adequate", "vitd_supp_user"], family="binomial", y="vitd_below_50")
    ours = coefficients(rows)
    theirs = r[r["kind"] == "coef"].copy()
    # the table reports odds ratios: compare on that scale (SE stays on the log-odds scale)
    theirs[["estimate", "ci_low", "ci_high"]] = np.exp(theirs[["estimate", "ci_low", "ci_high"]])
    assert_agree(ours, theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


def test_bone_model(analyzed_project, frame, tmp_path):
    rows = table(analyzed_project, "bone_or", "osteoporosis_dxa_by_intake_adequacy")
    first = rows.iloc[0]
    terms = ["intake_adequacy"] + [c.strip() for c in first["covariates"].split(",")]
    columns = DESIGN + ["wt_day1", "in_bone", "osteoporosis_dxa", *sorted(set(terms))]
    factors = [f for f in FACTORS if f.split("=")[0] in terms] + ["intake_adequacy=neither"]
    r = run_oracle(tmp_path, frame, columns, task="glm", weight="wt_day1", domain="in_bone", family="binomial",
                   y="osteoporosis_dxa", terms=terms, factor=factors)
    theirs = r[r["kind"] == "coef"].copy()
    theirs[["estimate", "ci_low", "ci_high"]] = np.exp(theirs[["estimate", "ci_low", "ci_high"]])
    assert_agree(coefficients(rows), theirs, columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))


@pytest.mark.parametrize("measure,domain,weight", [
    ("vitd_below_50", "in_vitd_adults", "wt_mec"),
    ("mg_food_inadequate", "in_diet_adults", "wt_day1"),
])
def test_prevalence_overall(analyzed_project, frame, tmp_path, measure, domain, weight):
    prevalence = pd.read_csv(analyzed_project / "reports/tables/prevalence.csv")
    ours = prevalence[(prevalence["model"] == measure) & (prevalence["domain"] == domain) & (prevalence["group_by"] == "all")]
    data = frame.copy()
    f = data
    diet = f["in_adults"] & f["recall_day1_reliable"] & (f["wt_day1"] > 0)
    data["in_vitd_adults"] = f["in_adults"] & f["vitd_serum_nmol"].notna()
    data["in_diet_adults"] = diet & f["mg_food_mg"].notna() & f["vitd_supp_ug"].notna()
    r = run_oracle(tmp_path, data, DESIGN + [weight, domain, measure], task="prop", weight=weight, domain=domain, y=measure)
    assert_agree(ours, r)


def r_name(name: str) -> str:
    """Our coefficient name -> R's, backticked: race_eth_nh_black -> `race_ethnh_black`."""
    if name == "_intercept_":
        return "`(Intercept)`"
    parts = []
    for part in name.split(":"):
        for factor in (f.split("=")[0] for f in FACTORS):
            if part.startswith(factor + "_"):
                part = factor + part[len(factor) + 1:]
                break
        parts.append(part)
    return "`" + ":".join(parts) + "`"


def test_dose_to_sufficiency_matches_r_delta_method(analyzed_project, frame, tmp_path):
    """The dose at which the reference adult reaches 50 nmol/L, per magnesium group and their
    difference: R's svycontrast on the same model, with symbolic derivatives."""
    from analysis.analyses import dose as dose_module
    from analysis.analyses.common import Context

    params = load_params(analyzed_project / "params.yaml")
    rows = table(analyzed_project, "dose_to_sufficiency", "dose10ug_x_mg_adequacy")
    ctx = Context(frame.copy(), params)
    model = ctx.fit(ctx.spec("vitd_serum_nmol", ["dose10", "mg_adequate", "dose10:mg_adequate"]), "wt_day1", "in_main")
    unit = params["analyze"]["dose_unit_ug"]

    def dose_expression(group: float) -> str:
        ref = dose_module.reference_row(ctx, group, 0.0)
        x = {n: float(v) for n, v in zip(model.names, model.linear_predictor_gradient(ref)) if v != 0}
        level = " + ".join(f"{r_name(n)} * {v!r}" for n, v in x.items())
        slope = f"({r_name('dose10')} + {r_name('dose10:mg_adequate')} * {group!r})"
        return f"{unit} * (50 - ({level})) / {slope}"

    low, high = dose_expression(0.0), dose_expression(1.0)
    r = refit(tmp_path, frame, rows, ["dose10", "mg_adequate", "dose10:mg_adequate"], y="vitd_serum_nmol",
              nlcon=[f"dose to reach 50 nmol/L | mg_inadequate|{low}", f"dose to reach 50 nmol/L | mg_adequate|{high}",
                     f"difference (inadequate - adequate) | 50 nmol/L|({low}) - ({high})"])
    ours = rows[rows["term"].isin(r[r["kind"] == "nlcon"]["term"])]
    assert len(ours) == 3
    assert_agree(ours, r[r["kind"] == "nlcon"], columns=("estimate", "std_error", "ci_low", "ci_high", "df", "p_value"))

