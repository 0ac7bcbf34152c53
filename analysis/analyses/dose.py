"""C3: the supplemental vitamin D dose at which a reference adult's predicted 25(OH)D reaches
a threshold, per magnesium group, with delta-method CIs; and the dose curve, linear and
piecewise-linear (spline), to check the linear fit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.analyses.common import Context, Result, evidence_of, keyed, model_table, row
from analysis.clean.features import weighted_quantile_cuts
from analysis.analyses.interaction import OUTCOME, WEIGHT
from analysis.analyses.evidence import Evidence
from analysis.survey.combine import delta_method_se
from analysis.survey.intervals import interval
from analysis.survey.design import FittedModel

GROUPS = {"mg_inadequate": 0.0, "mg_adequate": 1.0}


def _knot_column(knot: float) -> str:
    return f"dose_over_{knot:g}ug"


def _dose_terms(knots: list[float]) -> list[str]:
    return ["dose10"] + [_knot_column(k) for k in knots]


def reference_row(ctx: Context, mg_adequate: float, dose_ug: float, knots: list[float] = (),
                  modifier: str = "mg_adequate", usual: bool = False) -> dict:
    """The reference adult (params analyze.reference_adult) at a dose and magnesium level;
    `usual`: their energy and calcium named as the usual-intake covariates."""
    row = dict(ctx.params["analyze"]["reference_adult"])
    if usual:
        for day1, usual_name in zip(ctx.params["model"]["diet_covariates"],
                                    ctx.params["usual_intake"]["calibrated_diet_covariates"]):
            row[usual_name] = row.pop(day1)
    unit = ctx.params["analyze"]["dose_unit_ug"]
    row["dose10"] = dose_ug / unit
    for k in knots:
        row[_knot_column(k)] = max(dose_ug - k, 0.0) / unit
    row[modifier] = mg_adequate
    return row


def _prediction(fitted: FittedModel, row: dict) -> tuple[float, np.ndarray]:
    x = fitted.linear_predictor_gradient(row)
    return float(x @ fitted.coef), x


def dose_to_threshold(ctx: Context, fitted: FittedModel, threshold: float) -> pd.DataFrame:
    """dose* = unit * (T - a_g) / s_g, a_g the prediction at dose 0 and s_g the slope per
    unit in magnesium group g; SE by the delta method on the model's design-based covariance."""
    unit = ctx.params["analyze"]["dose_unit_ug"]
    rows, grads, values = [], {}, {}
    for group, g in GROUPS.items():
        a, x_a = _prediction(fitted, reference_row(ctx, g, 0.0))
        slope_weights = {"dose10": 1.0, "dose10:mg_adequate": g}
        x_s = np.zeros(len(fitted.names))
        for term, w in slope_weights.items():
            x_s[fitted.index_of(term)] += w
        s = float(x_s @ fitted.coef)
        dose = unit * (threshold - a) / s
        grad = unit * (-x_a / s - (threshold - a) / s**2 * x_s)
        grads[group], values[group] = grad, dose
        rows.append((f"dose to reach {threshold:g} nmol/L | {group}", dose, grad, "dose", f"mg_adequate = {g:g}"))
    diff_grad = grads["mg_inadequate"] - grads["mg_adequate"]
    rows.append((f"difference (inadequate - adequate) | {threshold:g} nmol/L",
                 values["mg_inadequate"] - values["mg_adequate"], diff_grad, "dose_difference", "all"))
    return pd.concat([keyed(fitted.nonlinear(estimate, grad, term), quantity, f"{threshold:g} nmol/L", group)
                      for term, estimate, grad, quantity, group in rows], ignore_index=True)


def add_spline_columns(ctx: Context, knots: list[float]) -> None:
    unit = ctx.params["analyze"]["dose_unit_ug"]
    for k in knots:
        ctx.frame[_knot_column(k)] = (ctx.frame["vitd_supp_ug_capped"] - k).clip(lower=0) / unit


def curve(ctx: Context, fitted: FittedModel, knots: list[float], model: str) -> pd.DataFrame:
    """Predicted 25(OH)D for the reference adult over the dose grid, per magnesium group."""
    rows = []
    for group, g in GROUPS.items():
        for dose in ctx.params["analyze"]["dose_curve_grid_ug"]:
            estimate, x = _prediction(fitted, reference_row(ctx, g, float(dose), knots))
            se = delta_method_se(x, fitted.vcov)
            low, high = interval(estimate, se, fitted.df)
            rows.append({"model": model, "mg_group": group, "dose_ug": float(dose), "estimate": estimate,
                         "std_error": se, "ci_low": low, "ci_high": high,
                         "df": fitted.df, "n": fitted.n})
    return pd.DataFrame(rows)


def binned_means(ctx: Context) -> pd.DataFrame:
    """Design-based mean 25(OH)D by dose band and magnesium group (the figure's points)."""
    labels = ["0"] + list(ctx.params["analyze"]["dose_band_labels"])
    band = ctx.frame["dose_band"].astype("object").where(ctx.frame["vitd_supp_ug"] > 0, "0")
    ctx.frame["dose_band_mg"] = (band.astype(str) + "|" +
                                 ctx.frame["mg_adequate"].map({True: "mg_adequate", False: "mg_inadequate"}).astype(str))
    table = ctx.survey.mean(OUTCOME, WEIGHT, "in_main", by="dose_band_mg")
    table[["dose_band", "mg_group"]] = table["group"].str.split("|", expand=True)
    table = table[table["dose_band"].isin(labels)]
    return table.drop(columns=["group"])


def observed_dose_upper(ctx: Context) -> Evidence:
    """The dose-range bound of rule within_observed_doses: the weighted percentile (params
    verdicts.C3.dose_percentile) of capped supplemental vitamin D among users in in_main."""
    percentile = ctx.params["verdicts"]["C3"]["dose_percentile"]
    users = ctx.frame["in_main"] & ctx.frame["vitd_supp_user"].fillna(False).astype(bool) & (ctx.frame[WEIGHT] > 0)
    upper = weighted_quantile_cuts(ctx.frame.loc[users, "vitd_supp_ug_capped"], ctx.frame.loc[users, WEIGHT],
                                   [percentile / 100])[0]
    return Evidence(upper, upper, upper, label=f"observed doses ({percentile}th percentile among users)")


def c3_evidence(table: pd.DataFrame, model: str, threshold: float, groups: dict[str, str],
                ctx: Context) -> list[Evidence]:
    """The difference, then each group's dose (`groups`: name -> group key, inadequate first),
    then the dose-range bound; the rows of `model` in `table`."""
    contrast = f"{threshold:g} nmol/L"
    return [evidence_of(row(table, model, "dose_difference", contrast, "all"), "dose difference (ug/day)"),
            *[evidence_of(row(table, model, "dose", contrast, key), f"dose where {name}") for name, key in groups.items()],
            observed_dose_upper(ctx)]


def run_c3(ctx: Context) -> Result:
    params = ctx.params["analyze"]
    threshold = ctx.params["verdicts"]["C3"]["threshold_nmol"]
    linear_exposures = ["dose10", "mg_adequate", "dose10:mg_adequate"]
    spec = ctx.spec(OUTCOME, linear_exposures)
    fitted = ctx.fit(spec, WEIGHT, "in_main")
    covariates = ctx.covariate_text(spec, linear_exposures)
    doses = pd.concat([dose_to_threshold(ctx, fitted, t) for t in sorted({threshold, *params["vitd_cutoffs_nmol"][1:]})],
                      ignore_index=True)
    table = model_table(fitted, "dose10ug_x_mg_adequacy", "in_main", WEIGHT, covariates, lincoms=[doses])
    table.loc[table["quantity"].isin(["dose", "dose_difference"]), "scale"] = "ug/day (delta method)"

    knots = list(params["dose_spline_knots_ug"])
    add_spline_columns(ctx, knots)
    spline_exposures = _dose_terms(knots) + ["mg_adequate"] + [f"{t}:mg_adequate" for t in _dose_terms(knots)]
    spline_spec = ctx.spec(OUTCOME, spline_exposures)
    spline = ctx.fit(spline_spec, WEIGHT, "in_main")
    nonlinear = spline.wald([_knot_column(k) for k in knots] + [f"{_knot_column(k)}:mg_adequate" for k in knots],
                            "wald: spline knots = 0 (linearity)")
    spline_table = model_table(spline, "dose_spline_x_mg_adequacy", "in_main", WEIGHT,
                               ctx.covariate_text(spline_spec, spline_exposures), walds=[nonlinear])
    curves = pd.concat([curve(ctx, fitted, [], "linear"), curve(ctx, spline, knots, "spline")], ignore_index=True)

    return Result(
        tables={"dose_to_sufficiency": pd.concat([table, spline_table], ignore_index=True),
                "dose_curve": curves, "dose_binned_means": binned_means(ctx)},
        evidence=c3_evidence(table, "dose10ug_x_mg_adequacy", threshold,
                             {name: f"mg_adequate = {g:g}" for name, g in GROUPS.items()}, ctx),
        test_label=f"dose to reach {threshold:g} nmol/L, inadequate minus adequate magnesium (ug/day)",
    )
