"""The risk stage: who is at risk of low 25(OH)D, and what-if scenarios.

- Reference model: design-based logistic regression (survey layer) of 25(OH)D below each
  cut-off on intake, demographics, BMI, season and cycle.
- A gradient-boosted classifier (scikit-learn) fitted with the survey weights, to see
  nonlinearity and interactions the logistic model misses.
- Both evaluated out of sample on folds that keep each PSU whole (no leakage across
  clusters): weighted AUC, Brier score, calibration.
- A risk surface and scenarios by g-computation over the population's own covariate mix.
  These are model-based what-ifs that assume no unmeasured confounding.

Without food intake (DR1TOT), the models use supplemental magnesium only, and the
scenarios that need total magnesium against the EAR are reported as not testable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from analysis.core import atomic, parallel
from analysis.core.config import Paths
from analysis.core.errors import DataError
from analysis.survey.intervals import interval
from analysis.survey.weights import for_cycles
from analysis.survey.design import FittedModel, ModelSpec, SurveyData

log = logging.getLogger(__name__)

WEIGHT = "wt_day1"


@dataclass(frozen=True)
class Setup:
    """What the files at hand allow: domain, magnesium variable, predictors."""

    domain: str
    magnesium: str  # mg_total_mg, or mg_supp_mg without food intake
    predictors: tuple[str, ...]
    categorical: tuple[str, ...]
    label: str


def setup(frame: pd.DataFrame, params: dict) -> Setup:
    p = params["risk"]
    has_diet = bool(frame["in_main"].any())
    categorical = tuple(c for c in p["categorical"] if frame[c].notna().any())
    if has_diet:
        return Setup("in_main", "mg_total_mg", tuple(p["intake_predictors"]) + tuple(p["other_predictors"]),
                     categorical, "food + supplement intake")
    if not frame["in_supp"].any():
        raise DataError("risk: neither food intake (DR1TOT) nor supplement totals (DS1TOT) are available")
    return Setup("in_supp", "mg_supp_mg", tuple(p["supplement_predictors"]) + tuple(p["other_predictors"]),
                 categorical, "supplemental magnesium and vitamin D only (food intake files absent)")


def prepare(frame: pd.DataFrame, params: dict) -> pd.DataFrame:
    out = frame.copy()  # the analytic table brings dose10, mg_total_100, mg_supp_100 (analysis/clean/features.py)
    out["ca_100"] = out["ca_total_mg"] / 100  # calcium per 100 mg/day
    out["psu_id"] = out["sdmvstra"].astype(str) + "-" + out["sdmvpsu"].astype(str)
    return out


def logistic_spec(s: Setup, outcome: str, params: dict) -> ModelSpec:
    refs = dict(params["model"]["reference_levels"])
    return ModelSpec(outcome, s.predictors + s.categorical, refs, "binomial")


def cycle_reference(frame: pd.DataFrame) -> str:
    return sorted(frame["cycle"].unique())[0]


def fit_logistic(frame: pd.DataFrame, s: Setup, outcome: str, params: dict, domain: str) -> FittedModel:
    spec = logistic_spec(s, outcome, params)
    spec = ModelSpec(spec.outcome, spec.terms, {**spec.references, "cycle": cycle_reference(frame)}, spec.family)
    return SurveyData(frame).glm(spec, WEIGHT, domain)


def boosting(params: dict) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(**params["risk"]["boosting"], categorical_features="from_dtype")


def boosting_matrix(frame: pd.DataFrame, s: Setup) -> pd.DataFrame:
    x = frame[list(s.predictors) + list(s.categorical)].copy()
    for c in s.categorical:
        x[c] = x[c].astype("category")
    return x


# ---------------------------------------------------------------- evaluation


def psu_folds(frame: pd.DataFrame, n_splits: int) -> np.ndarray:
    """Fold number per row; every PSU (stratum x PSU) falls wholly in one fold."""
    fold = np.full(len(frame), -1)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_splits).split(frame, groups=frame["psu_id"])):
        fold[test] = k
    return fold


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    return float(roc_auc_score(y, p, sample_weight=w))


def weighted_brier(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    return float(brier_score_loss(y, p, sample_weight=w))


def calibration(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int) -> pd.DataFrame:
    """Weighted deciles of predicted risk: mean predicted vs weighted observed share."""
    order = np.argsort(p, kind="stable")
    before = (np.cumsum(w[order]) - w[order]) / w.sum()  # weight share below each person
    group = np.minimum(np.floor(before * bins + 1e-9).astype(int), bins - 1)
    rows = []
    for g in range(bins):
        idx = order[group == g]
        if len(idx):
            rows.append({"bin": g + 1, "predicted": float(np.average(p[idx], weights=w[idx])),
                         "observed": float(np.average(y[idx], weights=w[idx])), "n": int(len(idx)),
                         "n_weighted": float(w[idx].sum())})
    return pd.DataFrame(rows)


def out_of_fold(frame: pd.DataFrame, s: Setup, outcome: str, params: dict) -> pd.DataFrame:
    """Out-of-fold predicted risk of both models for every domain member."""
    inside = frame[s.domain].to_numpy()
    folds = psu_folds(frame, params["risk"]["folds"])
    preds = pd.DataFrame({"fold": folds, "logistic": np.nan, "boosting": np.nan}, index=frame.index)
    splits = [(inside & (folds != k), inside & (folds == k)) for k in range(params["risk"]["folds"])]

    def boosted(split: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        train, test = split
        # one OpenMP thread: the binning's thread pool spends longer waiting than working on data this size
        with threadpool_limits(1, user_api="openmp"):
            booster = boosting(params).fit(boosting_matrix(frame.loc[train], s), frame.loc[train, outcome].astype(int),
                                           sample_weight=frame.loc[train, WEIGHT])
            return booster.predict_proba(boosting_matrix(frame.loc[test], s))[:, 1]

    # the folds' boosted trees (no svy) side by side in forked workers, the same trees in any
    # order; meanwhile the folds' survey-weighted logistic models (svy) here
    trees = parallel.start_ordered(boosted, splits, "risk: boosted trees by fold", unit="fold")
    for train, test in splits:
        work = frame.assign(_train=train)
        model = fit_logistic(work, s, outcome, params, "_train")
        x_test = model.design_matrix(frame.loc[test])
        preds.loc[test, "logistic"] = 1 / (1 + np.exp(-(x_test @ model.coef)))
    for (_, test), predicted in zip(splits, trees.result()):
        preds.loc[test, "boosting"] = predicted
    return preds[inside]


# ---------------------------------------------------------------- scenarios and surface


def scenario_frames(frame: pd.DataFrame, s: Setup, params: dict) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Counterfactual copies of the domain: (frames by scenario, scenarios not possible)."""
    p = params["risk"]
    unit = params["analyze"]["dose_unit_ug"]
    members = frame[frame[s.domain]]
    observed = members.copy()
    min_dose = p["scenario_min_dose_ug"]
    users = members["vitd_supp_ug"] > 0

    def with_dose(f: pd.DataFrame) -> pd.DataFrame:
        dose = np.where(users, np.maximum(f["vitd_supp_ug_capped"], min_dose), f["vitd_supp_ug_capped"])
        return f.assign(dose10=dose / unit)

    frames = {"observed": observed, f"users_take_at_least_{min_dose:g}ug": with_dose(members)}
    skipped = []
    if s.magnesium == "mg_total_mg":
        def with_mg(f: pd.DataFrame) -> pd.DataFrame:
            return f.assign(mg_total_100=np.maximum(f["mg_total_mg"], f["mg_ear_mg"]) / params["analyze"]["mg_unit_mg"])

        frames["magnesium_at_least_ear"] = with_mg(members)
        frames["both"] = with_mg(with_dose(members))
    else:
        skipped = ["magnesium_at_least_ear", "both"]
    return frames, skipped


def surface(model: FittedModel, frame: pd.DataFrame, s: Setup, params: dict) -> pd.DataFrame:
    p = params["risk"]
    unit = params["analyze"]["dose_unit_ug"]
    members = frame[frame[s.domain]]
    weights = members[WEIGHT].to_numpy()
    column = "mg_total_100" if s.magnesium == "mg_total_mg" else "mg_supp_100"
    grid = p["surface_mg_total_mg"] if s.magnesium == "mg_total_mg" else p["surface_mg_supp_mg"]
    build = model.matrix_builder(members, {column, "dose10"})  # the rest of each person's row, built once
    ones = np.ones(len(members))
    mg_cell = cell_of(members[s.magnesium].to_numpy(dtype=float), grid)
    dose_cell = cell_of(members["vitd_supp_ug_capped"].to_numpy(dtype=float), p["surface_dose_ug"])
    rows = []
    for i, mg in enumerate(grid):
        for j, dose in enumerate(p["surface_dose_ug"]):
            n_cell = int(((mg_cell == i) & (dose_cell == j)).sum())
            x = build({column: ones * mg / params["analyze"]["mg_unit_mg"], "dose10": ones * dose / unit})
            estimate = model.standardized_matrices({"cell": x}, weights).iloc[0]
            rows.append({"magnesium_variable": s.magnesium, "magnesium_mg": float(mg), "dose_ug": float(dose),
                         "estimate": estimate["estimate"], "std_error": estimate["std_error"],
                         "ci_low": estimate["ci_low"], "ci_high": estimate["ci_high"], "df": estimate["df"],
                         "n_in_cell": n_cell, "beyond_data": n_cell < p["surface_min_n"]})
    return pd.DataFrame(rows)


def cell_of(values: np.ndarray, grid: list[float]) -> np.ndarray:
    """The grid cell of each value: cells reach half-way to the neighbouring grid values (the
    outer ones half a step beyond); -1 outside every cell or missing."""
    points = np.asarray(grid, dtype=float)
    middles = (points[1:] + points[:-1]) / 2
    low = np.concatenate([[points[0] - (points[1] - points[0]) / 2], middles])
    high = np.concatenate([middles, [points[-1] + (points[-1] - points[-2]) / 2]])
    out = np.full(len(values), -1)
    for k in range(len(points)):
        out[(values >= low[k]) & (values < high[k])] = k
    return out


# ---------------------------------------------------------------- the stage


def run(params: dict, paths: Paths) -> None:
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the clean stage first")
    frame = prepare(for_cycles(pd.read_parquet(paths.analytic), list(params["analyze"]["cycles"]), available_only=True), params)
    s = setup(frame, params)
    p = params["risk"]
    metrics_rows, calibration_rows, scenario_rows = [], [], []
    surface_table = None
    for cut in p["cutoffs_nmol"]:
        outcome = f"vitd_below_{cut}"
        log.info("risk: %s (%s), %d-fold PSU-grouped evaluation", outcome, s.label, p["folds"])
        preds = out_of_fold(frame, s, outcome, params)
        members = frame[frame[s.domain]]
        y = members[outcome].astype(int).to_numpy()
        w = members[WEIGHT].to_numpy()
        for model_name in ("logistic", "boosting"):
            prob = preds[model_name].to_numpy()
            metrics_rows.append({"outcome": outcome, "model": model_name, "predictors": s.label,
                                 "weighted_auc": weighted_auc(y, prob, w), "weighted_brier": weighted_brier(y, prob, w),
                                 "observed_prevalence": float(np.average(y, weights=w)),
                                 "n": int(len(y)), "folds": p["folds"], "fold_grouping": "PSU (stratum x PSU)"})
            calibration_rows.append(calibration(y, prob, w, p["calibration_bins"]).assign(outcome=outcome, model=model_name))
        model = fit_logistic(frame, s, outcome, params, s.domain)
        frames, skipped = scenario_frames(frame, s, params)
        table = model.standardized(frames, members[WEIGHT].to_numpy(), reference="observed")
        table.insert(0, "outcome", outcome)
        scenario_rows.append(table)
        for name in skipped:
            scenario_rows.append(pd.DataFrame([{"outcome": outcome, "term": name,
                                                "note": "not testable with the files at hand: needs food magnesium (DR1TOT)"}]))
        if cut == p["surface_cutoff_nmol"]:
            surface_table = surface(model, frame, s, params)
    scenarios = pd.concat(scenario_rows, ignore_index=True)
    scenarios["assumption"] = "model-based what-if; assumes no unmeasured confounding"
    scenarios["predictors"] = s.label
    atomic.write_csv(paths.tables / "risk_models.csv", pd.DataFrame(metrics_rows))
    atomic.write_csv(paths.tables / "risk_calibration.csv", pd.concat(calibration_rows, ignore_index=True))
    atomic.write_csv(paths.tables / "scenarios.csv", scenarios)
    atomic.write_csv(paths.tables / "risk_surface.csv", surface_table)
    from analysis.outputs import figures

    figures.save(figures.risk_surface(surface_table, p["surface_cutoff_nmol"]), paths.figures / "risk_surface.png")
    figures.save(figures.calibration(pd.concat(calibration_rows, ignore_index=True)), paths.figures / "calibration.png")


@dataclass(frozen=True)
class ProfileInput:
    """One value of the profile: given on the command line, or assumed (and from where)."""

    name: str
    value: float | str
    source: str


@dataclass(frozen=True)
class ProfileAnswer:
    table: pd.DataFrame  # one row per outcome: risk, ci_low, ci_high, predictors
    inputs: list[ProfileInput]  # every value the model used

    @property
    def assumed(self) -> list[ProfileInput]:
        return [i for i in self.inputs if i.source != "given"]


REFERENCE_SOURCE = "params.yaml analyze.reference_adult"
DEFAULT_SOURCE = "params.yaml risk.profile_defaults"


def profile(params: dict, paths: Paths, assignments: list[str]) -> ProfileAnswer:
    """One person's predicted risk (logistic reference model) with a 95% CI, and every value the
    model used: given, or assumed from the reference adult or the profile defaults (the answer
    moves with them, so they are printed). Values outside the range the model was fitted on are
    refused: the model cannot speak for them."""
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the pipeline first (`dvc repro`, or "
                        "`python -m analysis fetch` and `python -m analysis clean`)")
    frame = prepare(for_cycles(pd.read_parquet(paths.analytic), list(params["analyze"]["cycles"]), available_only=True), params)
    s = setup(frame, params)
    person = dict(params["analyze"]["reference_adult"])
    source = {name: REFERENCE_SOURCE for name in person}
    defaults = {name: float(value) for name, value in params["risk"]["profile_defaults"].items()}
    person.update(defaults)
    source.update({name: DEFAULT_SOURCE for name in defaults})
    known = set(person) | set(s.categorical) | {"age", "bmi"}
    for item in assignments:
        if "=" not in item:
            raise DataError(f"--profile {item!r}: expected name=value")
        key, value = item.split("=", 1)
        if key not in known:
            raise DataError(f"--profile {key}: unknown; use one of {sorted(known)}")
        if key in s.categorical:
            levels = sorted(frame.loc[frame[s.domain], key].dropna().astype(str).unique())
            if value not in levels:
                raise DataError(f"--profile {key}={value}: not a level of {key}; use one of {levels}")
            person[key] = value
            source[key] = "given"
            continue
        try:
            person[key] = float(value)
            source[key] = "given"
        except ValueError as exc:
            raise DataError(f"--profile {key}={value}: expected a number") from exc
        if key in frame:
            observed = frame.loc[frame[s.domain], key].dropna()
            low, high = float(observed.min()), float(observed.max())
            if not low <= person[key] <= high:
                raise DataError(f"--profile {key}={value}: outside the range the model was fitted on "
                                f"({low:g} to {high:g}); the model cannot predict there")
    row = pd.DataFrame([person])
    per_100 = params["analyze"]["mg_unit_mg"]  # the same units as analysis/clean/features.py
    row["mg_total_100"] = row["mg_total_mg"] / per_100
    row["mg_supp_100"] = row["mg_supp_mg"] / per_100
    row["ca_100"] = row["ca_total_mg"] / 100
    row["dose10"] = np.minimum(row["vitd_supp_ug"], params["clean"]["vitd_supp_cap_ug"]) / params["analyze"]["dose_unit_ug"]
    out = []
    for cut in params["risk"]["cutoffs_nmol"]:
        model = fit_logistic(frame, s, f"vitd_below_{cut}", params, s.domain)
        x = model.design_matrix(row)[0]
        eta, se = float(x @ model.coef), float(np.sqrt(x @ model.vcov @ x))
        low, high = interval(eta, se, model.df)  # on the logit scale, mapped back
        inv = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        out.append({"outcome": f"25(OH)D < {cut} nmol/L", "risk": inv(eta), "ci_low": inv(low),
                    "ci_high": inv(high), "predictors": s.label})
    used = [n for n in dict.fromkeys([*MODEL_INPUTS.get(s.magnesium, ()), *s.predictors, *s.categorical]) if n in person]
    inputs = [ProfileInput(name, person[name], source.get(name, "given")) for name in used]
    return ProfileAnswer(pd.DataFrame(out), inputs)


# the person's values behind a model's predictors (mg_total_100 is mg_total_mg / 100, ...)
MODEL_INPUTS = {"mg_total_mg": ("mg_total_mg", "vitd_supp_ug", "vitd_food_ug", "ca_total_mg"),
                "mg_supp_mg": ("mg_supp_mg", "vitd_supp_ug")}
