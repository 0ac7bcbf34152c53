"""Regression calibration with replicate-weight variance: the machinery behind every analysis
that uses usual (habitual) intake.

An outcome model takes the usual-intake columns of data_clean/usual_intake.parquet (the
probability of adequacy, expected usual intakes) in place of one day's intake. Its point
estimate is the design-based fit on the full sample (the survey layer); its variance must
carry the first step's uncertainty, so on every replicate of the design both steps are rerun:
the measurement-error model fitted on that replicate (data_clean/usual_model.json) gives new
columns, the outcome model is refitted with the replicate's weights, and every reported
quantity (coefficients, within-group effects, doses, odds ratios) is recomputed from it. SEs
come from the replicates' spread (JKn or Fay-BRR, as params usual_intake.replicates), CIs
are t-based on the degrees of freedom R's svyglm uses (the domain's design df + 1 - #coefficients).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis.analyses.common import KEY_COLUMNS, OUTPUT_COLUMNS, Context, coefficient_keys
from analysis.core.errors import DataError
from analysis.survey.intervals import interval, p_value
from analysis.survey import replicates as engine
from analysis.survey.design import FittedModel, ModelSpec, Refit, Replicates, SurveyData, outcome_arrays
from analysis.usual.intake_model import UsualIntakeModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quantity:
    """A reported function of a model's coefficients (e.g. the supplement effect in a group);
    scale "log": reported exponentiated, as the model's ratio."""

    label: str
    value: Callable[[FittedModel, np.ndarray], float]
    scale: str = "identity"
    key: tuple[str, str, str] | None = None  # (quantity, contrast, group), see common.KEY_COLUMNS


@dataclass
class CalibratedModel:
    """An outcome model on usual-intake columns, and what to report from it."""

    name: str
    table: str
    spec: ModelSpec
    exposures: tuple[str, ...]
    domain: str
    weight: str
    quantities: list[Quantity] = field(default_factory=list)
    ratio_scale: str | None = None  # e.g. OR_SCALE: coefficients reported exponentiated
    note: str = ""
    # a model on a copy of the frame whose rows repeat (e.g. follow-up split into periods): from
    # the frame (its usual columns in place), that copy and, per row of it, the frame row it repeats
    expand: Callable[[pd.DataFrame], tuple[pd.DataFrame, np.ndarray]] | None = None


@dataclass
class CalibratedStatistic:
    """Any other two-step estimate (e.g. survival curves by calibrated group): `compute` takes
    the usual-intake columns (for every row of `ctx.frame`, NaN outside the calibration model's
    persons) and the replicate's weight factors (ones for the full sample) and returns a vector;
    `tidy` turns (estimates, SEs, df) into the table `table`."""

    table: str
    compute: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]
    tidy: Callable[[np.ndarray, np.ndarray, float], pd.DataFrame]
    needs: tuple[str, ...] | None = None  # the usual-intake columns `compute` reads (None: all of them)


def coefficient(term: str) -> Callable[[FittedModel, np.ndarray], float]:
    return lambda fitted, beta: float(beta[fitted.index_of(term)])


def combination(weights: dict[str, float]) -> Callable[[FittedModel, np.ndarray], float]:
    return lambda fitted, beta: float(sum(w * beta[fitted.index_of(t)] for t, w in weights.items()))


# columns built from the calibration columns, and the calibration columns each is built from
DERIVED_FROM = {"mg_total_usual_100": ("mg_total_usual_mg",), "mg_inadequate_usual": ("mg_adequate_usual",),
                "mg_vitd_both_adequate_usual": ("mg_vitd_adequate_usual",),
                "mg_vitd_one_adequate_usual": ("mg_adequate_usual", "vitd_adequate_usual", "mg_vitd_adequate_usual")}


def derived_columns(columns: dict[str, np.ndarray], per_mg: float) -> dict[str, np.ndarray]:
    """Columns built from the calibration columns (products are probabilities of both, never
    products of probabilities): each one whose sources `columns` holds."""
    formulas = {"mg_total_usual_100": lambda c: c["mg_total_usual_mg"] / per_mg,
                "mg_inadequate_usual": lambda c: 1 - c["mg_adequate_usual"],
                "mg_vitd_both_adequate_usual": lambda c: c["mg_vitd_adequate_usual"],
                "mg_vitd_one_adequate_usual": lambda c: (c["mg_adequate_usual"] + c["vitd_adequate_usual"]
                                                         - 2 * c["mg_vitd_adequate_usual"])}
    return {**columns, **{name: formula(columns) for name, formula in formulas.items()
                          if all(source in columns for source in DERIVED_FROM[name])}}


def sources(names: set[str]) -> set[str]:
    """The calibration columns that `names` (calibration or derived columns) are computed from."""
    return {source for name in names for source in DERIVED_FROM.get(name, (name,))}


@dataclass
class Calibrated:
    """The two-step estimates: tidy tables by name, and the full-sample usual-intake columns
    (one value per row of the frame, NaN outside the calibration model's persons) that the
    analyses after them may use."""

    tables: dict[str, pd.DataFrame]
    columns: dict[str, np.ndarray]


def run(ctx: Context, models: list[CalibratedModel], usual_model_path: Path,
        statistics: list[CalibratedStatistic] = ()) -> Calibrated:
    """Fit every model (and compute every other statistic) on the full sample, refit on every
    replicate, and return tidy tables (by table name) with replicate-weight SEs."""
    usual = UsualIntakeModel.load(usual_model_path, ctx.frame, ctx.params)
    replicates = engine.design(ctx.frame, ctx.params)
    if replicates.factors.shape[1] != usual.n_replicates:
        raise DataError(f"{usual_model_path}: {usual.n_replicates} replicates stored, the design gives "
                        f"{replicates.factors.shape[1]}; rerun the usual stage")
    per_mg = ctx.params["analyze"]["mg_unit_mg"]
    full_columns = derived_columns(usual.columns(None), per_mg)
    varying = set(full_columns)
    calib_index = np.flatnonzero(usual.rows)

    def on_frame(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, values in columns.items():
            column = np.full(len(ctx.frame), np.nan)
            column[calib_index] = values
            out[name] = column
        return out

    frame_columns = on_frame(full_columns)
    for name, column in frame_columns.items():  # the full-sample columns, as the survey layer fits them
        ctx.frame[name] = column
    fits = []
    for m in models:
        if m.expand is None:
            frame, survey = ctx.frame, ctx.survey
            rows = np.flatnonzero(frame[m.domain].to_numpy())
            origin = rows  # each model row's person: its row of ctx.frame
        else:
            frame, repeats = m.expand(ctx.frame)
            survey = SurveyData(frame)
            rows = np.flatnonzero(frame[m.domain].to_numpy())
            origin = repeats[rows]
        position = np.searchsorted(calib_index, origin)
        if not np.array_equal(calib_index[np.minimum(position, len(calib_index) - 1)], origin):
            raise DataError(f"calibrated model {m.name}: domain {m.domain} reaches beyond the usual-intake model's persons")
        fitted = ctx.fit(m.spec, m.weight, m.domain, survey)
        members = frame.iloc[rows]
        needs = varying & set(p for t in fitted.names for p in t.split(":"))  # the usual columns it uses
        build = fitted.matrix_builder(members, needs)
        y = outcome_arrays(m.spec, members)
        w = members[m.weight].to_numpy(dtype=float, copy=True)  # not a view holding `members` alive
        values = [q.value(fitted, fitted.coef) for q in m.quantities]
        # the replicate refit must reproduce the survey layer's full-sample estimate
        refit = Refit(m.spec, y, w)
        check = refit.coef(build({c: full_columns[c][position] for c in needs}), w)
        if not np.allclose(check, fitted.coef, rtol=1e-6, atol=1e-8):
            raise DataError(f"calibrated model {m.name}: refit differs from the survey layer's fit")
        fits.append({"model": m, "fitted": fitted, "position": position, "needs": needs, "build": build,
                     "refit": refit, "w": w, "origin": origin, "full": np.concatenate([fitted.coef, values]),
                     "starts": refit.replicate_starts(fitted.coef, replicates.factors, origin), "replicates": []})

    ones = np.ones(len(ctx.frame))
    statistic_full = [np.asarray(st.compute(on_frame(full_columns), ones), dtype=float) for st in statistics]

    # a replicate computes only the usual-intake columns some model or statistic reads
    wanted = None if any(st.needs is None for st in statistics) else \
        sources(set().union(*(f["needs"] for f in fits), *(st.needs for st in statistics)))

    def replicate(r: int) -> list[np.ndarray]:
        """Both steps on replicate r: its usual-intake columns, then every outcome model."""
        columns = derived_columns(usual.columns(r, wanted), per_mg)
        factor = replicates.factors[:, r]
        out = [np.asarray(st.compute(on_frame(columns), factor), dtype=float) for st in statistics]
        for f in fits:
            x = f["build"]({c: columns[c][f["position"]] for c in f["needs"]})
            beta = f["refit"].coef(x, f["w"] * factor[f["origin"]], start=f["starts"][r])
            out.append(np.concatenate([beta, [q.value(f["fitted"], beta) for q in f["model"].quantities]]))
        return out

    per_replicate = engine.each(replicate, replicates, "analyze: both steps on replicates")
    n_stats = len(statistics)
    for i, f in enumerate(fits):
        f["replicates"] = [estimates[n_stats + i] for estimates in per_replicate]

    tables: dict[str, list[pd.DataFrame]] = {}
    for i, st in enumerate(statistics):
        se = replicates.standard_error(statistic_full[i], np.array([estimates[i] for estimates in per_replicate]))
        tables.setdefault(st.table, []).append(st.tidy(statistic_full[i], se, replicates.df))
    for f in fits:
        tables.setdefault(f["model"].table, []).append(calibrated_table(f, replicates, ctx))
    return Calibrated({name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()}, frame_columns)


def calibrated_table(f: dict, replicates: Replicates, ctx: Context) -> pd.DataFrame:
    """One calibrated model's tidy table: coefficients and quantities with their replicate SEs."""
    m: CalibratedModel = f["model"]
    fitted: FittedModel = f["fitted"]
    labels = list(fitted.names) + [q.label for q in m.quantities]
    missing = [q.label for q in m.quantities if q.key is None]
    if missing:
        raise ValueError(f"calibrated model {m.name}: quantities without a key: {missing}")
    scales = ["log" if m.ratio_scale else "identity"] * len(fitted.names) + [q.scale for q in m.quantities]
    estimate = f["full"]
    se = replicates.standard_error(estimate, np.array(f["replicates"]))
    # degrees of freedom as R's svyglm, on replicate designs too: the domain's design df + 1 - #coefficients
    df = fitted.df
    statistic = estimate / se
    rows = []
    for label, est, s, stat, scale in zip(labels, estimate, se, statistic, scales):
        low, high = interval(est, s, df)
        shown = (np.exp(est), np.exp(low), np.exp(high)) if scale == "log" else (est, low, high)
        rows.append({"model": m.name, "term": label, "estimate": shown[0], "std_error": s, "ci_low": shown[1],
                     "ci_high": shown[2], "statistic": stat, "p_value": p_value(stat, df),
                     "df": df, "n": fitted.n, "n_weighted": fitted.n_weighted,
                     "scale": m.ratio_scale if scale == "log" else scale, "domain": m.domain, "weight": m.weight,
                     "covariates": ctx.covariate_text(m.spec, list(m.exposures)), "note": m.note,
                     "variance": replicates.method})
    covariates = [c for c in m.spec.terms if c not in m.exposures]
    keys = coefficient_keys(pd.DataFrame({"term": list(fitted.names)}), m.spec, covariates)
    keys = pd.concat([keys[KEY_COLUMNS], pd.DataFrame([q.key for q in m.quantities], columns=KEY_COLUMNS)],
                     ignore_index=True)
    out = pd.DataFrame(rows)
    out[KEY_COLUMNS] = keys.to_numpy()
    return out[OUTPUT_COLUMNS + ["variance"]]
