"""The usual stage: data_clean/analytic.parquet ->

- data_clean/usual_model.json: the measurement-error models fitted on the full sample and on
  every replicate of the design (what later stages need to rerun the first step);
- data_clean/usual_intake.parquet: each person's usual intakes and probabilities of adequacy
  (the regression-calibration columns), full sample;
- reports/tables/usual_intake.csv: the models' parameters, and the usual-intake distribution
  of magnesium (share below the EAR, percentiles), with replicate-weight CIs.

Two models: the *distribution* model (magnesium; covariates = the reported groups) gives the
population distribution; the *calibration* model (energy, magnesium, calcium, vitamin D
jointly; covariates = every covariate of the outcome models and the supplement exposures)
gives the per-person expectations. analysis/usual/definition.py says what each is fitted on;
the calibration model is one object, analysis/usual/intake_model.py's UsualIntakeModel, which
the analyses load. Without dietary recalls (DR1TOT) nothing can be fitted: the outputs say so.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from analysis.core import atomic
from analysis.clean.dictionary import undocumented
from analysis.core.config import Paths
from analysis.data.fetch import RECORDED, VERIFIED, read_manifest
from analysis.core.errors import DataError
from analysis.survey.intervals import interval
from analysis.survey import replicates as engine
from analysis.survey.weights import for_cycles
from analysis.survey.design import Replicates
from analysis.usual import calibration, distribution, eras, observed
from analysis.usual.individual import Individuals
from analysis.usual.intake_model import UsualIntakeModel, fit_replicates
from analysis.usual.definition import domains, model_data
from analysis.usual.model import Parameters, RecallData, fit

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ["model", "term", "group_by", "group", "estimate", "std_error", "ci_low", "ci_high", "statistic",
                  "p_value", "df", "n", "n_weighted", "scale", "variance", "monte_carlo", "domain", "weight",
                  "covariates", "note"]
PERSONS_FILE = "usual_intake.parquet"


# ---------------------------------------------------------------------------- estimates


def parameter_values(fitted: Parameters) -> dict[str, float]:
    """lambda, between- and within-person variance and their ratio, per nutrient."""
    out = {}
    for j, name in enumerate(fitted.nutrients):
        between, within = fitted.sigma_u[j, j], fitted.sigma_e[j, j]
        out[f"lambda[{name}]"] = float(fitted.lambdas[j])
        out[f"between_person_variance[{name}]"] = float(between)
        out[f"within_person_variance[{name}]"] = float(within)
        out[f"within_to_between_ratio[{name}]"] = float(within / between)
    return out


def population(data: RecallData, fitted: Parameters, frame: pd.DataFrame, groups: dict[str, np.ndarray],
               factor: np.ndarray | None = None, pattern: np.ndarray | None = None
               ) -> tuple[Individuals, distribution.Population]:
    ind = Individuals(data, fitted)
    weights = data.day1_weight if factor is None else data.day1_weight * factor
    supplement = frame["mg_supp_usual_mg"].to_numpy(dtype=float)
    if pattern is None:
        pattern = distribution.Population.patterns(data.design, supplement)
    pop = distribution.Population(ind.eta[:, 0], supplement, frame["mg_ear_mg"].to_numpy(dtype=float), weights,
                                  groups, pattern)
    return ind, pop


SOURCES = (("mg_food_usual", False), ("mg_total_usual", True))


def distribution_values(data: RecallData, fitted: Parameters, frame: pd.DataFrame, groups: dict[str, np.ndarray],
                        probs: list[float], factor: np.ndarray | None = None, pattern: np.ndarray | None = None,
                        start: dict | None = None) -> dict[tuple[str, str], float]:
    """{(term, group): value}: shares below the EAR and percentiles, food and food + supplements.
    `start`: the full-sample values, from which a replicate's percentiles are found."""
    ind, pop = population(data, fitted, frame, groups, factor, pattern)
    curve, sd_u = ind.curves[0], float(np.sqrt(fitted.sigma_u[0, 0]))
    out = {}
    for source, with_supplement in SOURCES:
        for group, share in distribution.shares_below(curve, sd_u, pop, with_supplement).items():
            out[(f"{source}_below_ear", group)] = share
        begin = None if start is None else {
            group: [start[(f"{source}_p{round(100 * prob):02d}", group)] for prob in probs] for group in groups}
        for group, values in distribution.percentiles(curve, sd_u, pop, probs, with_supplement, begin).items():
            for prob, value in zip(probs, values):
                out[(f"{source}_p{round(100 * prob):02d}", group)] = float(value)
    return out


def monte_carlo_values(data: RecallData, fitted: Parameters, frame: pd.DataFrame, groups: dict[str, np.ndarray],
                       probs: list[float], draws: int, seed: int) -> dict[tuple[str, str], float]:
    ind, pop = population(data, fitted, frame, groups)
    curve, sd_u = ind.curves[0], float(np.sqrt(fitted.sigma_u[0, 0]))
    out = {}
    for source, with_supplement in SOURCES:
        shares, quantiles = distribution.monte_carlo(curve, sd_u, pop, probs, with_supplement, draws, seed)
        for group, share in shares.items():
            out[(f"{source}_below_ear", group)] = share
        for group, values in quantiles.items():
            for prob, value in zip(probs, values):
                out[(f"{source}_p{round(100 * prob):02d}", group)] = float(value)
    return out


def group_masks(frame: pd.DataFrame, by: list[str]) -> dict[str, np.ndarray]:
    """'all' and 'column=level' for each level of each grouping column."""
    masks = {"all": np.ones(len(frame), bool)}
    for column in by:
        values = frame[column].astype(str).to_numpy()
        for level in sorted(set(values)):
            masks[f"{column}={level}"] = values == level
    return masks


def summarize(full: dict, reps: list[dict], replicates: Replicates, proportion_terms: set[str]) -> pd.DataFrame:
    """Estimate, replicate SE, t CI (logit CI for shares) per key."""
    keys = list(full)
    estimate = np.array([full[k] for k in keys])
    matrix = np.array([[rep[k] for k in keys] for rep in reps])
    se = replicates.standard_error(estimate, matrix)
    rows = []
    for (term, group), est, s in zip(keys, estimate, se):
        if term in proportion_terms:
            low, high = interval(est, s, replicates.df, scale="logit")
            scale = "proportion (logit CI)"
        else:
            low, high = interval(est, s, replicates.df)
            scale = "mg/day" if term.startswith("mg_") else "transformed scale"
        rows.append({"term": term, "group": group, "estimate": est, "std_error": s, "ci_low": low, "ci_high": high,
                     "df": replicates.df, "scale": scale, "variance": replicates.method})
    return pd.DataFrame(rows)


def not_testable(reason: str) -> pd.DataFrame:
    return pd.DataFrame([{c: np.nan for c in OUTPUT_COLUMNS} | {"model": "usual_intake", "term": "not testable",
                                                                 "note": reason}], columns=OUTPUT_COLUMNS)


# ---------------------------------------------------------------------------- the stage


def write_persons(paths: Paths, persons: pd.DataFrame) -> None:
    missing = undocumented(persons, PERSONS_FILE)
    if missing:
        raise DataError(f"analysis/clean/dictionary.yaml: column(s) {missing} of {PERSONS_FILE} are not documented")
    atomic.write_parquet(paths.data_clean / PERSONS_FILE, persons)


def distribution_table(data: RecallData, full: Parameters, reps: list[Parameters], sub: pd.DataFrame,
                       factors: np.ndarray, replicates: Replicates, params: dict) -> pd.DataFrame:
    """Shares below the EAR and percentiles of usual magnesium, with replicate SEs and the
    Monte Carlo check."""
    p = params["usual_intake"]
    groups = group_masks(sub, list(p["distribution_groups"]))
    probs = [q / 100 for q in p["percentiles"]]
    pattern = distribution.Population.patterns(data.design, sub["mg_supp_usual_mg"].to_numpy(dtype=float))
    full_values = distribution_values(data, full, sub, groups, probs, pattern=pattern)
    pending = engine.start(
        lambda i: distribution_values(data, reps[i], sub, groups, probs, factors[:, i], pattern, full_values),
        len(reps), "usual: distributions on replicates")
    # the Monte Carlo check in this process while the workers integrate the replicates
    mc = monte_carlo_values(data, full, sub, groups, probs, p["monte_carlo_draws"], p["monte_carlo_seed"])
    shares = {term for term, _ in full_values if term.endswith("_below_ear")}
    table = summarize(full_values, pending.result(), replicates, shares)
    table["monte_carlo"] = [mc[(t, g)] for t, g in zip(table["term"], table["group"])]
    table["model"] = "usual_intake_distribution"
    table["n"] = [int(groups[g].sum()) for g in table["group"]]
    table["n_weighted"] = [float(data.day1_weight[groups[g]].sum()) for g in table["group"]]
    table["note"] = (f"exact integral over the between-person distribution; monte_carlo: DISTRIB's "
                     f"{p['monte_carlo_draws']} draws per person (seed {p['monte_carlo_seed']})")
    return table


def parameter_table(full: Parameters, reps: list[Parameters], replicates: Replicates, which: str) -> pd.DataFrame:
    table = summarize({(k, "all"): v for k, v in parameter_values(full).items()},
                      [{(k, "all"): v for k, v in parameter_values(r).items()} for r in reps], replicates, set())
    table["model"] = f"{which}_model"
    table["note"] = ("weekend term used" if "weekend" in full.terms
                     else "no weekend term: a recall's day of the week is missing in the files")
    table["covariates"] = ", ".join(t for t in full.terms if t != "_intercept_")
    return table


def fit_models(frame: pd.DataFrame, params: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """Both models on the full sample and every replicate: (the model file's content, the
    per-person columns, the usual_intake table). `frame` is the prepared analytic table."""
    masks = domains(frame, params)
    persons = pd.DataFrame({"seqn": frame["seqn"], "in_usual_distribution": masks["distribution"],
                            "in_usual_calibration": masks["calibration"]})
    p = params["usual_intake"]
    replicates = engine.design(frame, params)
    log.info("usual: %d %s replicates, design df %g", replicates.factors.shape[1], replicates.method, replicates.df)
    model_json = {"available": True, "replicates": {"method": replicates.method, "n": int(replicates.factors.shape[1]),
                                                    "df": replicates.df}}
    # the distribution model: the population's usual magnesium
    rows = masks["distribution"].to_numpy()
    sub = frame[rows].reset_index(drop=True)
    data = model_data(sub, params, "distribution")
    factors = replicates.factors[rows]
    log.info("usual: distribution model, %d persons (%d with two recalls)", len(sub), int(data.has_day2.sum()))
    full = fit(data)
    reps = fit_replicates(data, factors, full, "usual: distribution model on replicates")
    model_json["distribution"] = {"nutrients": list(data.nutrients), "terms": list(full.terms),
                                  "full": full.to_dict(), "replicates": [r.to_dict() for r in reps]}
    distribution_tables = [parameter_table(full, reps, replicates, "distribution"),
                           distribution_table(data, full, reps, sub, factors, replicates, params),
                           observed.table(frame, masks["distribution"], [q / 100 for q in p["percentiles"]])]
    # the calibration model: each person's regression-calibration columns
    boot = engine.bootstrap(frame, params)
    model = UsualIntakeModel.fit(frame, params, replicates, boot, p["bootstrap_seed"])
    model_json["calibration"] = model.to_json()
    if model.bootstrap:
        model_json["bootstrap"] = model.bootstrap
    calibration_table = parameter_table(model.parameters(None), [model.parameters(r) for r in range(model.n_replicates)],
                                        replicates, "calibration")
    for name, values in model.person_columns().items():
        persons.loc[model.rows, name] = values
    out = pd.concat(distribution_tables + [calibration_table], ignore_index=True)
    out["group_by"] = out["group"].str.split("=").str[0]
    out["domain"] = np.where(out["model"].str.startswith("calibration"), "in_usual_calibration", "in_usual_distribution")
    model_rows = out["model"] != "observed_intake_distribution"
    out.loc[model_rows, "weight"] = "wt_day1 (fixed effects, lambda, distribution); wt_day2 (variance components)"
    for column in OUTPUT_COLUMNS:
        if column not in out:
            out[column] = np.nan
    out["n"] = out["n"].astype("Int64")
    return model_json, persons, out[OUTPUT_COLUMNS]


def missing_recall_files(paths: Paths) -> list[str]:
    manifest = read_manifest(paths.raw_manifest)
    absent = manifest[manifest["component"].isin(["DR1TOT", "DR2TOT"]) & ~manifest["status"].isin([VERIFIED, RECORDED])]
    return sorted(f"{r.cycle}/{r.file}" for r in absent.itertuples())


def run(params: dict, paths: Paths) -> None:
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the clean stage first")
    analytic = pd.read_parquet(paths.analytic)
    eras.run(analytic, params, paths)  # each era's model for the claims' replication across eras
    frame = for_cycles(analytic, list(params["analyze"]["cycles"]), available_only=True)
    masks = domains(frame, params)
    if masks["calibration"].sum() < params["analyze"]["min_domain_n"]:
        missing = missing_recall_files(paths)
        reason = ("not testable with the files at hand: too few adults with reliable 24-hour dietary recalls and "
                  "the model's covariates" + (f"; missing NHANES file(s): {', '.join(missing)}" if missing else ""))
        log.info("usual: %s", reason)
        persons = pd.DataFrame({"seqn": frame["seqn"], "in_usual_distribution": masks["distribution"],
                                "in_usual_calibration": masks["calibration"]})
        for column in calibration.COLUMNS:
            persons[column] = np.nan
        write_persons(paths, persons)
        atomic.write_text(paths.data_clean / "usual_model.json", json.dumps({"available": False, "reason": reason}) + "\n")
        atomic.write_csv(paths.tables / "usual_intake.csv", not_testable(reason))
        return
    model_json, persons, out = fit_models(frame, params)
    write_persons(paths, persons)
    atomic.write_text(paths.data_clean / "usual_model.json", json.dumps(model_json) + "\n")
    atomic.write_csv(paths.tables / "usual_intake.csv", out)
    overall = out[(out["term"].str.endswith("below_ear")) & (out["group"] == "all")]
    for r in overall.itertuples():
        log.info("usual: %s %.3f (%.3f to %.3f)", r.term, r.estimate, r.ci_low, r.ci_high)
