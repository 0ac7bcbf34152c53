"""Missing covariates: multiple imputation by chained equations beside complete cases.

About one adult in ten leaves the main domain only because a covariate (income-to-poverty
ratio above all, education, smoking, BMI) is missing; complete cases are unbiased only if
those values are missing completely at random. Here the C1 models (supplement use and dose x
usual magnesium adequacy) and the odds of low 25(OH)D by usual adequacy are refitted on m
data sets whose missing covariates are drawn by chained equations (statsmodels' MICEData algorithm,
analysis/analyses/chained_equations.py: predictive mean matching, so imputed values are always observed ones), and combined by
Rubin's rules with Barnard-Rubin degrees of freedom, as R's mitools::MIcombine computes them.

The imputation models hold the outcome (25(OH)D), the exposures (supplement use and dose),
the modifier's inputs (day-1 food and supplement magnesium; the usual-intake columns follow
from the recalls), every covariate, and the design: the weight (log), the cycle and the
PSU-level means of the outcome and of the exposure. The outcome and the exposures are never
imputed (the domain requires them). Each imputed person's usual-intake columns are computed
with the calibration model fitted on complete cases and their imputed covariates.

Within each data set the persons are a domain of the whole design (every PSU stays, as in
every other analysis) and the variance is Taylor-linearized with the usual-intake columns held
fixed (the replicate-weight variance of interaction_usual.csv reruns the first step too);
complete cases are computed the same way here, so the two columns differ by the handling of
missing covariates alone.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from analysis.core import parallel
from analysis.survey.combine import rubin
from analysis.survey.intervals import interval, p_value
from analysis.analyses.chained_equations import ChainedEquations
from analysis.analyses.common import OR_SCALE, Context
from analysis.usual.intake_model import UsualIntakeModel, covered

log = logging.getLogger(__name__)

EXPOSURES = {"use": ["vitd_supp_user", "mg_adequate_usual", "vitd_supp_user:mg_adequate_usual"],
             "dose": ["dose10", "mg_adequate_usual", "dose10:mg_adequate_usual"]}
CODES = {"education": ["lt_hs", "hs_ged", "some_college", "college_grad"], "smoking": ["never", "former", "current"],
         "season": ["nov_apr", "may_oct"]}
COLUMNS = ["model", "term", "analysis", "estimate", "std_error", "ci_low", "ci_high", "df", "p_value",
           "missing_information", "n", "imputations", "scale", "domain", "weight", "covariates", "variance", "note"]


def domain(ctx: Context) -> str:
    """The main domain without its covariate requirement: who complete cases lose."""
    f = ctx.frame
    inside = (f["in_adults"] & f["recall_day1_reliable"] & (f["wt_day1"] > 0) & f["vitd_serum_nmol"].notna()
              & f[["mg_total_mg", "vitd_supp_ug", "kcal", "ca_total_mg", "mg_supp_usual_mg", "ca_supp_usual_mg",
                   "vitd_supp_usual_ug"]].notna().all(axis=1))
    for column in ("age", "sex", "race_eth", "cycle"):  # never missing in NHANES: nothing to impute
        inside &= f[column].notna()
    return ctx.add_domain("in_main_any_covariates", inside)


def imputation_frame(ctx: Context, rows: pd.Series, imputed: list[str]) -> pd.DataFrame:
    """Numbers for the chained equations: predictors and the covariates to impute (coded)."""
    f = ctx.frame[rows]
    psu = f["sdmvstra"].astype(str) + "-" + f["sdmvpsu"].astype(str)
    data = pd.DataFrame({
        "vitd": f["vitd_serum_nmol"], "supp_user": f["vitd_supp_user"].astype(float), "dose10": f["dose10"],
        "mg_food": f["mg_food_mg"], "mg_supp": f["mg_supp_usual_mg"], "kcal": f["kcal"], "ca": f["ca_total_mg"],
        "age": f["age"], "female": (f["sex"] == "female").astype(float), "log_weight": np.log(f["wt_day1"]),
        "psu_vitd": f.groupby(psu)["vitd_serum_nmol"].transform("mean"),
        "psu_supp": f.groupby(psu)["vitd_supp_user"].transform(lambda s: s.astype(float).mean()),
    })
    for level in sorted(f["race_eth"].dropna().unique())[1:]:
        data[f"race_{level}"] = (f["race_eth"] == level).astype(float)
    for level in sorted(f["cycle"].unique())[1:]:
        data[f"cycle_{level[:4]}"] = (f["cycle"] == level).astype(float)
    for column in imputed:
        values = f[column]
        data[column] = values.map({v: i for i, v in enumerate(CODES[column])}) if column in CODES else values.astype(float)
    return pd.DataFrame(data.to_numpy(dtype=float), columns=data.columns)  # plain floats: patsy is faster


def chain(data: pd.DataFrame, imputed: list[str], draws: int, seed: int, burn_in: int, between: int) -> list[pd.DataFrame]:
    """One chain of chained equations: `draws` completed copies of the imputed covariates."""
    mice = ChainedEquations(data, np.random.default_rng(seed), k_pmm=20)
    mice.update_all(burn_in)
    out = []
    for i in range(draws):
        if i:
            mice.update_all(between)
        out.append(mice.data[imputed])
    return out


def imputations(ctx: Context, rows: pd.Series, imputed: list[str], m: int, seed: int, burn_in: int,
                between: int, chains: int) -> list[pd.DataFrame]:
    """m completed copies of the imputed covariates (decoded), for the rows of the domain, from
    `chains` independent chains (seeds seed, seed + 1, ...) run side by side in forked workers
    (BLAS on one thread, so a chain's draws do not depend on the number of workers)."""
    data = imputation_frame(ctx, rows, imputed)
    sizes = [m // chains + (1 if i < m % chains else 0) for i in range(chains)]
    jobs = [(data, imputed, size, seed + i, burn_in, between) for i, size in enumerate(sizes)]
    results = parallel.map_ordered(lambda job: chain(*job), jobs, "analyze: chained-equation chains")
    out = []
    for done in (d for result in results for d in result):
        for column, levels in CODES.items():
            if column in done:
                codes = np.rint(done[column].to_numpy(dtype=float)).astype(int)  # as round(): half to even
                done[column] = pd.array(np.asarray(levels, dtype=object)[codes], dtype="string")
        out.append(done)
    return out


def models(ctx: Context) -> dict[str, tuple[str, list[str], str]]:
    """name -> (outcome, exposures, family)."""
    out = {f"{name}_x_mg_adequacy_usual": ("vitd_serum_nmol", exposures, "gaussian") for name, exposures in EXPOSURES.items()}
    for cut in ctx.params["analyze"]["vitd_cutoffs_nmol"][:2]:
        out[f"vitd_below_{cut}_by_mg_adequacy_usual_adj_supp_use"] = (f"vitd_below_{cut}", ["mg_adequate_usual",
                                                                                           "vitd_supp_user"], "binomial")
    return out


def fit(ctx: Context, frame: pd.DataFrame, name: str, domain_column: str):
    outcome, exposures, family = models(ctx)[name]
    sub = Context(frame, ctx.params)
    spec = sub.spec(outcome, exposures, family, usual=True)
    return sub.fit(spec, "wt_day1", domain_column), spec, exposures


class WholeDesign:
    """Completed (or complete-case) persons placed back in the whole design, the fits taking
    them as their domain (`_domain`), never a filtered frame: a PSU without any of them still
    counts. Of the other rows one per PSU is kept (outside the domain), which is all that
    domain estimation sees of them (survey.SurveyData._sample keeps the same)."""

    def __init__(self, ctx: Context, members: np.ndarray):
        keep = members | ctx.survey.first_row_of_psu
        self.positions = np.flatnonzero(members[keep])  # each completed person's row, in order
        needed = {"seqn", "sdmvstra", "sdmvpsu", "wt_day1", "cycle", "kcal"}  # the design; what a Context reads
        for outcome, exposures, family in models(ctx).values():
            needed |= set(ctx.spec(outcome, exposures, family, usual=True).columns())
        self.skeleton = ctx.frame.loc[keep, [c for c in ctx.frame.columns if c in needed]].reset_index(drop=True)

    def frame(self, values: dict[str, object], rows: np.ndarray, domain: np.ndarray) -> pd.DataFrame:
        """The whole table with `values` (one entry per completed person in `rows`, a mask over
        them) in those persons' rows, NaN in every other row of a number column it replaces,
        and `_domain` = `domain` (one flag per person in `rows`)."""
        frame = self.skeleton.copy()
        where = self.positions[rows]
        for column, column_values in values.items():
            if column in frame and not pd.api.types.is_float_dtype(frame[column]):  # text: its own dtype
                full = frame[column].copy()
                full.iloc[where] = column_values
            else:
                full = np.full(len(frame), np.nan)
                full[where] = np.asarray(column_values, dtype=float)
            frame[column] = full
        inside = np.zeros(len(frame), bool)
        inside[where] = domain
        frame["_domain"] = inside
        return frame


def run(ctx: Context, usual_model_path) -> pd.DataFrame:
    p = ctx.params["imputation"]
    usual = UsualIntakeModel.load(usual_model_path, ctx.frame, ctx.params)
    rows = ctx.frame[domain(ctx)]
    members = rows.to_numpy()
    base = ctx.frame[members].reset_index(drop=True)
    imputed = [c for c in p["covariates"] if base[c].isna().any()]
    complete = base[imputed].notna().all(axis=1)
    calibration_rows = covered(base, ctx.params)
    log.info("imputation: %d adults, %d with a covariate missing (%s); m = %d", len(base), int((~complete).sum()),
             ", ".join(imputed), p["m"])
    design = WholeDesign(ctx, members)
    everyone = np.ones(len(base), bool)
    # complete cases: the same domain restricted to those with every covariate (and the usual columns), i.e. in_main
    cc_base = base[calibration_rows].reset_index(drop=True)
    cc_frame = design.frame(usual.columns_for(cc_base), calibration_rows, cc_base["in_main"].to_numpy(dtype=bool))
    draws = imputations(ctx, rows, imputed, p["m"], p["seed"], p["burn_in"], p["between"], p["chains"])

    def completed_values(draw: pd.DataFrame) -> dict[str, object]:
        """One completed data set's imputed covariates and the usual-intake columns they give."""
        completed = base.copy(deep=False)  # shares base's columns; replacing one leaves base as it is
        for column in imputed:
            completed[column] = draw[column].to_numpy()
        return {column: completed[column].array for column in imputed} | usual.columns_for(completed)

    def analysed(values: dict[str, object]) -> dict[str, tuple[np.ndarray, np.ndarray, float, int, list[str]]]:
        """Every model on one completed data set: (coef, variances, df, n, names)."""
        frame = design.frame(values, everyone, everyone)
        fits = {name: fit(ctx, frame, name, "_domain")[0] for name in models(ctx)}
        return {name: (f.coef, np.diag(f.vcov), f.df, f.n, f.names) for name, f in fits.items()}

    # the usual-intake columns (numpy) in forked workers; the survey fits (svy: polars, which
    # must not be forked) one after the other here: in two threads they were 2 s faster but
    # left ~170 MB more allocated (each thread's arenas), the analyze stage's peak memory
    completed_sets = parallel.map_ordered(completed_values, draws, "analyze: usual intake of the imputed data sets",
                                          unit="data set")
    per_imputation = [analysed(values) for values in tqdm(completed_sets, desc="analyze: models on the imputed data sets",
                                                          unit="data set", disable=None, leave=False)]
    out = []
    for name in models(ctx):
        fitted, spec, exposures = fit(ctx, cc_frame, name, "_domain")
        covariates = ctx.covariate_text(spec, exposures)
        family = models(ctx)[name][2]
        out += rows_of(name, "complete cases", fitted.names, fitted.coef, np.diag(fitted.vcov),
                       np.full(len(fitted.coef), fitted.df), np.full(len(fitted.coef), np.nan), fitted.n, 1,
                       family, covariates)
        results = [r[name] for r in per_imputation]
        combined = rubin(np.array([r[0] for r in results]), np.array([r[1] for r in results]), results[0][2])
        out += rows_of(name, f"multiple imputation (m = {p['m']})", results[0][4], combined["estimate"],
                       combined["variance"], combined["df"], combined["missing_information"], results[0][3], p["m"],
                       family, covariates)
    table = pd.DataFrame(out, columns=COLUMNS)
    table["domain"] = "in_main_any_covariates"
    table["weight"] = "wt_day1"
    table["variance"] = "taylor within imputations; usual-intake columns held fixed"
    table["note"] = "imputed: " + ", ".join(imputed) + f"; seed {p['seed']}"
    keep = table["term"].isin([t for e in EXPOSURES.values() for t in e] + ["mg_adequate_usual", "vitd_supp_user"])
    return table[keep].reset_index(drop=True)


def rows_of(name, analysis, names, estimate, variance, df, missing, n, m, family, covariates) -> list[dict]:
    se = np.sqrt(variance)
    low, high = interval(estimate, se, df)
    p_values = p_value(estimate / se, df)
    ratio = family == "binomial"
    rows = []
    for i, term in enumerate(names):
        shown = (np.exp(estimate[i]), np.exp(low[i]), np.exp(high[i])) if ratio else (estimate[i], low[i], high[i])
        rows.append({"model": name, "term": term, "analysis": analysis, "estimate": shown[0], "std_error": se[i],
                     "ci_low": shown[1], "ci_high": shown[2], "df": df[i], "p_value": p_values[i],
                     "missing_information": missing[i], "n": n, "imputations": m,
                     "scale": OR_SCALE if ratio else "identity", "covariates": covariates})
    return rows
