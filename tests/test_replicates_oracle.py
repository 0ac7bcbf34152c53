"""The replicate-weight machinery of two-step estimates equals R's survey package:
delete-one-PSU jackknife and Fay's BRR for a domain mean and a survey GLM, and the two-step
combination (a covariate recomputed on every replicate) through survey's own svrVar."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.analyses import calibrated, usual_intake
from analysis.analyses.common import Context
from analysis.core.config import load_params
from analysis.survey.design import ModelSpec, SurveyData, replicate_factors, weighted_glm_coef
from analysis.usual.intake_model import UsualIntakeModel
from tests import synthetic
from tests.conftest import REPO
from tests.oracle_tools import require_r
from tests.usual_model import write_calibration_model

pytestmark = pytest.mark.oracle
ORACLE = Path(__file__).parent / "oracle" / "replicate_oracle.R"
RTOL = 1e-6


def run_r(tmp_path: Path, data: pd.DataFrame, **spec) -> pd.DataFrame:
    require_r()
    data_path = tmp_path / "replicate_data.csv"
    data.to_csv(data_path, index=False, float_format="%.17g", na_rep="NA")
    rows = [("data", str(data_path)), ("out", str(tmp_path / "replicate_out.csv"))] + \
        [(k, ";".join(v) if isinstance(v, list) else str(v)) for k, v in spec.items()]
    spec_path = tmp_path / "replicate_spec.csv"
    pd.DataFrame(rows, columns=["key", "value"]).to_csv(spec_path, index=False)
    result = subprocess.run(["Rscript", str(ORACLE), str(spec_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return pd.read_csv(tmp_path / "replicate_out.csv")


def r_name(name: str) -> str:
    return "(Intercept)" if name == "_intercept_" else name


def ours(frame: pd.DataFrame, replicates, spec: ModelSpec, weight: str, domain: str) -> tuple[dict, dict]:
    """(estimates, replicate SEs) of the domain mean of the outcome and of the GLM's coefficients."""
    inside = frame[domain].to_numpy()
    w = frame[weight].to_numpy()
    y = frame[spec.outcome].astype(float).to_numpy()
    fitted = SurveyData(frame).glm(spec, weight, domain)
    x = fitted.design_matrix(frame[inside])

    def estimates(factor):
        wf = w * factor
        mean = (wf[inside] @ y[inside]) / wf[inside].sum()
        return np.concatenate([[mean], weighted_glm_coef(x, y[inside], wf[inside], spec.family, start=fitted.coef)])

    full = estimates(np.ones(len(frame)))
    reps = np.array([estimates(replicates.factors[:, r]) for r in range(replicates.factors.shape[1])])
    se = replicates.standard_error(full, reps)
    names = [spec.outcome] + [r_name(n) for n in fitted.names]
    return dict(zip(names, full)), dict(zip(names, se))


def compare(estimates: dict, ses: dict, theirs: pd.DataFrame) -> None:
    assert len(theirs) == len(estimates)
    for row in theirs.itertuples():
        assert estimates[row.term] == pytest.approx(row.estimate, rel=RTOL), row.term
        assert ses[row.term] == pytest.approx(row.std_error, rel=RTOL), row.term


@pytest.mark.parametrize("family,outcome", [("gaussian", "vitd_serum_nmol"), ("binomial", "vitd_below_50")])
def test_jackknife_equals_r_jkn(tmp_path, family, outcome):
    frame = synthetic.analytic_table(n_per_psu=25, cycles=synthetic.CYCLES[:2], seed=41)  # some strata have 3 PSUs
    frame["dom"] = frame["in_main"]
    replicates = replicate_factors(frame, "jackknife")
    spec = ModelSpec(outcome, ("vitd_supp_user", "mg_adequate", "age"), family=family)
    estimates, ses = ours(frame, replicates, spec, "wt_day1", "dom")
    data = frame[["sdmvstra", "sdmvpsu", "wt_day1", "dom", "vitd_supp_user", "mg_adequate", "age", outcome]].astype(float)
    theirs = run_r(tmp_path, data, task="jkn", weight="wt_day1", domain="dom", y=outcome,
                   terms=["vitd_supp_user", "mg_adequate", "age"], family=family)
    compare(estimates, ses, theirs)


def test_fay_brr_equals_r_fay(tmp_path):
    frame = synthetic.analytic_table(n_per_psu=25, cycles=synthetic.CYCLES[:2], seed=42)
    frame = frame[frame["sdmvpsu"] <= 2].reset_index(drop=True)  # BRR needs two PSUs per stratum
    frame["dom"] = frame["in_main"]
    replicates = replicate_factors(frame, "brr", fay_coef=0.3)
    assert set(np.unique(replicates.factors)) == {0.3, 1.7}
    spec = ModelSpec("vitd_serum_nmol", ("vitd_supp_user", "mg_adequate", "age"))
    estimates, ses = ours(frame, replicates, spec, "wt_day1", "dom")
    data = frame[["sdmvstra", "sdmvpsu", "wt_day1", "dom", "vitd_supp_user", "mg_adequate", "age",
                  "vitd_serum_nmol"]].astype(float)
    for r in range(replicates.factors.shape[1]):
        data[f"f{r + 1}"] = replicates.factors[:, r]
    theirs = run_r(tmp_path, data, task="fay", weight="wt_day1", domain="dom", y="vitd_serum_nmol",
                   terms=["vitd_supp_user", "mg_adequate", "age"], rho=0.3)
    compare(estimates, ses, theirs)


def test_two_step_variance_equals_r_refitting_every_replicate(tmp_path):
    """The calibrated C1 model's replicate SEs: R refits the outcome model on every replicate
    with that replicate's calibration column and combines them with svrVar."""
    p = copy.deepcopy(load_params(REPO / "params.yaml"))
    p["model"]["covariates"] = ["age", "sex", "bmi", "cycle"]
    p["analyze"]["min_domain_n"] = 50
    frame = synthetic.usual_intake_table(n_per_psu=30, cycles=synthetic.CYCLES[:2], seed=43)
    model_file = write_calibration_model(frame, p, tmp_path / "usual_model.json")
    n_reps = replicate_factors(frame).factors.shape[1]
    ctx = Context(frame, p)
    model = [m for m in usual_intake.models(ctx) if m.name == "use_x_mg_adequacy_usual"]
    table = calibrated.run(ctx, model, model_file).tables["interaction_usual"]

    usual = UsualIntakeModel.load(model_file, ctx.frame, ctx.params)
    index = np.flatnonzero(usual.rows)
    out = ctx.frame[["sdmvstra", "sdmvpsu", "wt_day1", "vitd_serum_nmol", "vitd_supp_user", "age", "bmi"]].astype(float)
    out["dom"] = ctx.frame["in_main"].astype(float)
    out["female"] = (ctx.frame["sex"] == "female").astype(float)
    out["cycle2"] = (ctx.frame["cycle"] != ctx.frame["cycle"].min()).astype(float)
    per_replicate = {}
    for r in [None] + list(range(n_reps)):
        columns = usual.columns(r)
        for name, column in [("c", "mg_adequate_usual"), ("k", "kcal_usual"), ("a", "ca_total_usual_mg")]:
            values = np.full(len(frame), np.nan)
            values[index] = columns[column]
            per_replicate[f"{name}{0 if r is None else r + 1}"] = values
    out = pd.concat([out, pd.DataFrame(per_replicate, index=out.index)], axis=1)
    terms = ["vitd_supp_user", "calibrated", "vitd_supp_user:calibrated", "age", "female", "bmi", "cycle2",
             "kcal_calibrated", "ca_calibrated"]
    theirs = run_r(tmp_path, out, task="twostep", weight="wt_day1", domain="dom", y="vitd_serum_nmol", terms=terms,
                   varying="calibrated=c;kcal_calibrated=k;ca_calibrated=a")
    mine = table.set_index("term")
    names = {"(Intercept)": "_intercept_", "calibrated": "mg_adequate_usual",
             "vitd_supp_user:calibrated": "vitd_supp_user:mg_adequate_usual", "female": "sex_female",
             "cycle2": f"cycle_{synthetic.CYCLES[1]}", "kcal_calibrated": "kcal_usual", "ca_calibrated": "ca_total_usual_mg"}
    assert len(theirs) == 10
    for row in theirs.itertuples():
        name = names.get(row.term, row.term)
        assert mine.loc[name, "estimate"] == pytest.approx(row.estimate, rel=RTOL), name
        assert mine.loc[name, "std_error"] == pytest.approx(row.std_error, rel=RTOL), name
