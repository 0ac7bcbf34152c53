"""The design-based estimation layer: the only module that imports svy.

NHANES design: strata `sdmvstra`, PSUs `sdmvpsu` nested in strata, one weight per analysis.
Subpopulations are domains of the full design (svy `where=`, R's `subset()`), never a
filtered frame. Variances are Taylor-linearized; degrees of freedom are the design's
(#PSU - #strata holding the domain; for regressions, less the extra coefficients, as R's
`svyglm`). Every result is a tidy pandas frame with the columns of `TIDY_COLUMNS`.

Singleton rule: a *design* stratum with a single PSU is handled as R's
`options(survey.lonely.psu = "adjust")` (svy "center"). Within a *domain*, a stratum whose
domain members all sit in one PSU is not a singleton: the other PSUs of the stratum stay in
the design with zero scores, as in R's `subset()` (R's default `survey.adjust.domain.lonely =
FALSE`). The clean stage refuses data whose design strata have fewer than 2 PSUs anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import polars as pl
import svy
from scipy import special, stats

from analysis.survey import cox, terms
from analysis.core.errors import DataError
from analysis.survey.combine import delta_method_se
from analysis.survey.intervals import interval, p_value

# svy reports a domain's one-PSU strata as INFO log lines with internal column names, once per call;
# the commands say it once, in words (estimate.one_psu_strata). `-v` shows svy's lines again.
logging.getLogger("svy").setLevel(logging.WARNING)

STRATUM = "sdmvstra"
PSU = "sdmvpsu"
SINGLETON_RULE = "center"  # R: options(survey.lonely.psu = "adjust")
# IRLS convergence: tight enough that logistic SEs agree with R (epsilon 1e-12) to 1e-6.
GLM_TOLERANCE = 1e-12
TIDY_COLUMNS = ["term", "estimate", "std_error", "ci_low", "ci_high", "statistic", "df", "p_value",
                "n", "n_weighted"]


@dataclass(frozen=True)
class ModelSpec:
    """A regression: outcome, terms ("a", "a:b" for a product; "a:b:c" in Cox models) and reference levels.

    Columns of string dtype are categorical (indicator terms against `references[col]`);
    numeric and boolean columns enter as numbers. A Cox model (family "cox") has the event
    indicator as `outcome`, the follow-up's end as `time` and, for split follow-up, its start
    as `entry`.
    """

    outcome: str
    terms: tuple[str, ...]
    references: dict[str, str] = field(default_factory=dict)
    family: str = "gaussian"
    time: str | None = None
    entry: str | None = None

    def columns(self) -> list[str]:
        names = [self.outcome] + [c for c in (self.time, self.entry) if c]
        for term in self.terms:
            for part in term.split(":"):
                if part not in names:
                    names.append(part)
        return names


def _t_statistic(record: dict) -> float:
    """estimate / SE; none where the SE is 0 (e.g. a total of zeros: nobody in the domain has it)."""
    return record["est"] / record["se"] if record["se"] > 0 else np.nan


class SurveyData:
    """A frame bound to the NHANES design. Every estimator takes a weight and a domain column."""

    def __init__(self, frame: pd.DataFrame, strata: str = STRATUM, psu: str = PSU):
        self.frame = frame
        self.strata = strata
        self.psu = psu

    # ---------------------------------------------------------------- preparation

    def _check_domain(self, weight: str, domain: str | None) -> pd.Series:
        if weight not in self.frame:
            raise DataError(f"weight column {weight!r} not in the analytic table")
        if domain is None:
            return pd.Series(True, index=self.frame.index)
        if domain not in self.frame:
            raise DataError(f"domain column {domain!r} not in the analytic table")
        flag = self.frame[domain]
        if flag.isna().any():
            raise DataError(f"domain column {domain!r} has missing values; domains must be true/false")
        return flag.astype(bool)

    def _sample(self, columns: list[str], weight: str, domain: str | None,
                categorical: dict[str, str] | None = None) -> tuple[svy.Sample, pd.Series]:
        """A polars sample holding the design, `columns` and a `_domain` flag.

        Inside the domain every column must be complete (a missing value there is an
        error, not a silent drop); outside it, missing values are filled with a constant
        so that svy keeps those rows (and their PSUs) in the design with zero weight in the
        estimate, exactly as R's subset().
        """
        in_domain = self._check_domain(weight, domain) & (self.frame[weight] > 0)
        if not in_domain.any():
            raise DataError(f"domain {domain!r} has no participant with a positive {weight}")
        # Rows outside the domain add nothing to any estimate or score; one row per PSU is
        # enough to keep every PSU, and so every stratum's PSU count, in the design. Dropping
        # the rest changes no number (the R oracle tests check this) and halves the work; the
        # columns are prepared on the rows kept only.
        inside = in_domain.to_numpy()
        keep = np.flatnonzero(inside | self.first_row_of_psu)
        inside = inside[keep]
        data = {self.strata: pl.Series(self.strata, self.frame[self.strata].to_numpy()[keep]),
                self.psu: pl.Series(self.psu, self.frame[self.psu].to_numpy()[keep]),
                "_w": pl.Series("_w", self._numbers(weight, keep)), "_domain": pl.Series("_domain", inside)}
        for name in columns:
            data[name] = self._prepared(name, keep, inside, domain, (categorical or {}).get(name))
        frame = pl.DataFrame(list(data.values()))
        design = svy.Design(stratum=self.strata, psu=self.psu, wgt="_w", singleton=SINGLETON_RULE)
        return svy.Sample(frame, design), in_domain

    def _numbers(self, name: str, rows: np.ndarray) -> np.ndarray:
        """A numeric or boolean column on `rows` as floats (booleans 0.0/1.0), missing as 0.0."""
        values = self.frame[name].to_numpy(dtype=float, na_value=np.nan)[rows]
        values[np.isnan(values)] = 0.0
        return values

    def _prepared(self, name: str, keep: np.ndarray, inside: np.ndarray, domain: str | None,
                  reference: str | None) -> pl.Series:
        """Column `name` on the rows kept: complete inside the domain (else an error), and outside
        it filled with a constant (the reference level, a text column's first value, or 0.0)."""
        values = self.frame[name]
        missing_inside = values.isna().to_numpy()[keep] & inside
        if missing_inside.any():
            seqn = self.frame["seqn"].to_numpy()[keep][missing_inside][:3].tolist()
            raise DataError(f"column {name!r} is missing for {int(missing_inside.sum())} participant(s) in domain "
                            f"{domain!r} (e.g. SEQN {seqn})")
        if reference is not None or pd.api.types.is_string_dtype(values):
            fill = reference if reference is not None else values.dropna().iloc[0]
            text = values.iloc[keep].astype("string").fillna(fill)
            return pl.from_pandas(text.reset_index(drop=True)).rename(name)
        return pl.Series(name, self._numbers(name, keep))

    @cached_property
    def first_row_of_psu(self) -> np.ndarray:
        """Each PSU's first row (the placeholders that keep every PSU in a domain's design)."""
        return ~self.frame.duplicated([self.strata, self.psu]).to_numpy()

    def _n_weighted(self, in_domain: pd.Series, weight: str) -> float:
        return float(self.frame.loc[in_domain, weight].sum())

    # ---------------------------------------------------------------- estimators

    def mean(self, y: str, weight: str, domain: str | None = None, by: str | None = None) -> pd.DataFrame:
        """Design-based mean of `y` in the domain (optionally per level of `by`)."""
        sample, in_domain = self._sample([y] + ([by] if by else []), weight, domain)
        result = sample.estimation.mean(y, by=by, where=svy.col("_domain")).to_polars().to_pandas()
        return self._tidy_estimates(result, y, by, in_domain, weight, statistic_of=_t_statistic)

    def proportion(self, y: str, weight: str, domain: str | None = None, by: str | None = None,
                   ci_method: str = "logit") -> pd.DataFrame:
        """Design-based share of participants for whom boolean `y` is true; logit or
        Korn-Graubard ("korn-graubard") CI (R svyciprop, method "logit" or "beta")."""
        sample, in_domain = self._sample([y] + ([by] if by else []), weight, domain)  # y arrives as 0.0/1.0
        result = sample.estimation.prop(y, by=by, where=svy.col("_domain"), ci_method=ci_method).to_polars().to_pandas()
        result = result[result[y] == 1.0].drop(columns=[y])
        return self._tidy_estimates(result, y, by, in_domain, weight, statistic_of=lambda r: np.nan)

    def total(self, y: str, weight: str, domain: str | None = None, by: str | None = None) -> pd.DataFrame:
        """Design-based population total of `y` in the domain (R svytotal)."""
        sample, in_domain = self._sample([y] + ([by] if by else []), weight, domain)
        result = sample.estimation.total(y, by=by, where=svy.col("_domain")).to_polars().to_pandas()
        return self._tidy_estimates(result, y, by, in_domain, weight, statistic_of=_t_statistic)

    def quantiles(self, y: str, weight: str, probs: list[float], domain: str | None = None) -> pd.DataFrame:
        """Design-based quantiles of `y` in the domain with Woodruff CIs (R svyquantile,
        qrule "math", the default); `std_error` is the CI's half-width over t, as in R."""
        sample, in_domain = self._sample([y], weight, domain)
        result = sample.estimation.quantile(y, p=tuple(probs), where=svy.col("_domain"), q_method="higher")
        frame = pl.concat([r.to_polars() for r in result]).to_pandas() if len(probs) > 1 else result.to_polars().to_pandas()
        rows = [{"term": f"{y}[p={record['prob']:g}]", "estimate": record["est"], "std_error": record["se"],
                 "ci_low": record["lci"], "ci_high": record["uci"], "statistic": np.nan, "df": float(record["df"]),
                 "p_value": np.nan, "n": int(in_domain.sum()), "n_weighted": self._n_weighted(in_domain, weight),
                 "prob": float(record["prob"])} for record in frame.to_dict("records")]
        return pd.DataFrame(rows, columns=TIDY_COLUMNS + ["prob"])

    def distribution(self, y: str, weight: str, domain: str | None = None) -> pd.DataFrame:
        """Design-based share of each level of categorical `y` (R svymean(~factor(y))); logit CIs."""
        sample, in_domain = self._sample([y], weight, domain)
        result = sample.estimation.prop(y, where=svy.col("_domain"), ci_method="logit").to_polars().to_pandas()
        rows = []
        for record in result.to_dict("records"):
            members = in_domain & (self.frame[y].astype(str) == str(record[y]))
            rows.append({"term": f"{y}={record[y]}", "estimate": record["est"], "std_error": record["se"],
                         "ci_low": record["lci"], "ci_high": record["uci"], "statistic": np.nan,
                         "df": float(record["df"]), "p_value": np.nan, "n": int(members.sum()),
                         "n_weighted": self._n_weighted(members, weight), "group": str(record[y])})
        return pd.DataFrame(rows, columns=TIDY_COLUMNS + ["group"])

    def _tidy_estimates(self, result: pd.DataFrame, y: str, by: str | None, in_domain: pd.Series,
                        weight: str, statistic_of) -> pd.DataFrame:
        rows = []
        for record in result.to_dict("records"):
            level = record.get(by) if by else None
            members = in_domain & (self.frame[by].astype(str) == str(level)) if by else in_domain
            df = float(record["df"])
            statistic = statistic_of(record)
            rows.append({
                "term": y if by is None else f"{y}[{by}={level}]",
                "estimate": record["est"], "std_error": record["se"],
                "ci_low": record["lci"], "ci_high": record["uci"],
                "statistic": statistic, "df": df,
                "p_value": p_value(statistic, df),
                "n": int(members.sum()), "n_weighted": self._n_weighted(members, weight),
                **({"group": str(level)} if by else {}),
            })
        return pd.DataFrame(rows, columns=TIDY_COLUMNS + (["group"] if by else []))

    def glm(self, spec: ModelSpec, weight: str, domain: str | None = None) -> "FittedModel":
        """Survey-weighted GLM (R svyglm) on the domain: gaussian (identity), binomial (logit) or
        poisson (log; R's quasipoisson gives the same estimates and design-based SEs)."""
        categorical = {c: spec.references.get(c) for c in spec.columns()[1:]
                       if pd.api.types.is_string_dtype(self.frame[c])}
        for name, ref in categorical.items():
            if ref is None:
                raise DataError(f"model for {spec.outcome}: categorical column {name!r} needs a reference level")
        # booleans (outcome or predictors) arrive in svy as 0.0/1.0, via _sample
        sample, in_domain = self._sample(spec.columns(), weight, domain, categorical)
        features = [self._feature(term, categorical) for term in spec.terms]
        try:
            model = sample.glm.fit(y=spec.outcome, x=features, family=spec.family, where=svy.col("_domain"),
                                   tol=GLM_TOLERANCE, max_iter=100)
        except (RuntimeError, svy.errors.SvyError) as exc:  # e.g. a term constant or collinear in the domain
            lines = [line.strip() for line in str(exc).splitlines()]
            reason = " ".join(line for line in lines if line and not line.startswith(("❌", "- where")))
            raise DataError(f"model for {spec.outcome}: cannot be fitted in this domain: {reason}") from None
        return FittedModel(spec, model, n=int(in_domain.sum()), n_weighted=self._n_weighted(in_domain, weight))

    def coxph(self, spec: ModelSpec, weight: str, domain: str | None = None) -> "FittedCox":
        """Design-based Cox proportional-hazards model (R svycoxph) on the domain: the weighted
        Breslow partial likelihood (analysis/survey/cox.py), Binder's linearization for the variance
        (each row's dfbeta, totalled by PSU, between-PSU variance within strata, as svyrecvar),
        t-based CIs on R's residual df (the domain's design df + 1 - #coefficients). svy 0.35
        has no survival models; R's survey + survival are the oracle (tests, 1e-6)."""
        if spec.family != "cox" or spec.time is None:
            raise DataError(f"model for {spec.outcome}: a Cox model needs family 'cox' and a time column")
        in_domain = self._check_domain(weight, domain) & (self.frame[weight] > 0)
        if not in_domain.any():
            raise DataError(f"domain {domain!r} has no participant with a positive {weight}")
        members = self.frame[in_domain.to_numpy()]
        for name in spec.columns():
            missing = members[name].isna()
            if missing.any():
                raise DataError(f"column {name!r} is missing for {int(missing.sum())} participant(s) in domain "
                                f"{domain!r} (e.g. SEQN {members.loc[missing, 'seqn'].head(3).tolist()})")
        for name in spec.columns()[1:]:
            if pd.api.types.is_string_dtype(members[name]) and name not in spec.references:
                raise DataError(f"model for {spec.outcome}: categorical column {name!r} needs a reference level")
        names, dummies = terms.coding(spec.terms, members, spec.references)
        x = terms.matrix(members, names, dummies)
        w = members[weight].to_numpy(dtype=float)
        stop, event, entry = outcome_arrays(spec, members)
        fitted = cox.fit(x, stop, event, w, start=entry)
        influence = np.zeros((len(self.frame), len(names)))
        influence[in_domain.to_numpy()] = fitted.influence(w)
        vcov, design_df = self.linearized_vcov(influence, in_domain)
        fitted = replace(fitted, score_residuals=None)  # (rows x terms): spent on the variance
        return FittedCox(spec, names, dummies, fitted, vcov, design_df + 1 - len(names), n=int(in_domain.sum()),
                         n_weighted=self._n_weighted(in_domain, weight),
                         events=int(members[spec.outcome].astype(bool).sum()))

    def standardized_mean(self, y: str, weight: str, domain: str, stratum: str, shares: dict[str, float],
                          proportion: bool = False) -> pd.DataFrame:
        """Directly standardized mean (or share, for a 0/1 `y`) of `y` in the domain: the
        domain's mean in each level of `stratum` (e.g. an age group) weighted by the standard's
        `shares` (summing to 1), sum_g share_g mean_g. Its SE is the linearized one of that
        combination (influence share_g w_i (y_i - mean_g) / N_g, PSU totals within strata), as R's
        svystandardize (which post-stratifies the domain to the standard); t CI on the domain's
        design df, logit for shares (R svyciprop "logit")."""
        in_domain = self._check_domain(weight, domain) & (self.frame[weight] > 0)
        levels = self.frame.loc[in_domain, stratum].astype("string")
        missing = sorted(set(shares) - set(levels.dropna().unique()))
        if missing:
            raise DataError(f"standardization by {stratum}: no one in the domain falls in {missing}; narrow the "
                            "standard or widen the domain")
        w = self.frame[weight].to_numpy(dtype=float)
        values = self.frame[y].to_numpy(dtype=float)
        influence = np.zeros(len(self.frame))
        estimate = 0.0
        inside = in_domain.to_numpy()
        for level, share in shares.items():
            members = inside & (self.frame[stratum].astype("string") == level).fillna(False).to_numpy()
            total = w[members].sum()
            mean = float(w[members] @ values[members] / total)
            estimate += share * mean
            influence[members] = share * w[members] * (values[members] - mean) / total
        vcov, df = self.linearized_vcov(influence[:, None], in_domain)
        se = float(np.sqrt(vcov[0, 0]))
        low, high = interval(estimate, se, df, scale="logit" if proportion and 0 < estimate < 1 else "identity")
        statistic = estimate / se if se > 0 and not proportion else np.nan
        return pd.DataFrame([{"term": y, "estimate": estimate, "std_error": se, "ci_low": low, "ci_high": high,
                              "statistic": statistic, "df": df, "p_value": p_value(statistic, df),
                              "n": int(in_domain.sum()), "n_weighted": self._n_weighted(in_domain, weight)}],
                            columns=TIDY_COLUMNS)

    def linearized_vcov(self, influence: np.ndarray, in_domain: pd.Series) -> tuple[np.ndarray, float]:
        """Covariance of the total of `influence` (one row per frame row, 0 outside the domain)
        under the NHANES design: PSU totals, centred within strata, times n_h / (n_h - 1)
        (with-replacement, R's svyrecvar); and the domain's design df, #PSU - #strata holding it."""
        design = pd.DataFrame({"h": self.frame[self.strata].to_numpy(), "psu": self.frame[self.psu].to_numpy()})
        totals = pd.DataFrame(influence).groupby([design["h"], design["psu"]]).sum()
        strata = totals.index.get_level_values(0).to_numpy()
        values = totals.to_numpy()
        vcov = np.zeros((influence.shape[1], influence.shape[1]))
        for h in np.unique(strata):
            t = values[strata == h]
            if len(t) < 2:
                raise DataError(f"stratum {h} has a single PSU; the linearized variance needs two or more")
            centred = t - t.mean(axis=0)
            vcov += len(t) / (len(t) - 1) * centred.T @ centred
        inside = design[in_domain.to_numpy()]
        return vcov, float(inside.drop_duplicates().shape[0] - inside["h"].nunique())

    @staticmethod
    def _feature(term: str, categorical: dict[str, str]):
        def one(name: str):
            return svy.Cat(name, ref=categorical[name]) if name in categorical else name

        parts = term.split(":")
        if len(parts) == 1:
            return one(parts[0])
        if len(parts) == 2:
            return svy.Cross(one(parts[0]), one(parts[1]))
        raise DataError(f"term {term!r}: only two-way products are supported")


class Coefficients:
    """What every fitted model offers from its coefficients, their design-based covariance and
    degrees of freedom: coefficients by name, linear combinations and Wald tests."""

    names: list[str]
    coef: np.ndarray
    vcov: np.ndarray
    df: float
    n: int
    n_weighted: float
    spec: ModelSpec

    def index_of(self, term: str) -> int:
        """Position of a coefficient; a product may be named in either order ("a:b" or "b:a")."""
        wanted = sorted(term.split(":"))
        for i, name in enumerate(self.names):
            if sorted(name.split(":")) == wanted:
                return i
        raise DataError(f"model for {self.spec.outcome}: no coefficient {term!r}; it has {self.names}")

    def lincom(self, weights: dict[str, float], label: str, alpha: float = 0.05) -> pd.DataFrame:
        """A linear combination of coefficients (e.g. the supplement effect within a group)."""
        vector = np.zeros(len(self.names))
        for term, w in weights.items():
            vector[self.index_of(term)] += w
        estimate = float(vector @ self.coef)
        return self._row(label, estimate, delta_method_se(vector, self.vcov), alpha)

    def nonlinear(self, estimate: float, gradient: np.ndarray, label: str, alpha: float = 0.05) -> pd.DataFrame:
        """A smooth function of the coefficients, given its value and gradient at the estimate
        (e.g. the dose reaching a threshold): SE by the delta method (R svycontrast's way)."""
        return self._row(label, estimate, delta_method_se(gradient, self.vcov), alpha)

    def _row(self, label: str, estimate: float, se: float, alpha: float = 0.05) -> pd.DataFrame:
        statistic = estimate / se if se > 0 else np.nan
        low, high = interval(estimate, se, self.df, alpha)
        return pd.DataFrame([{
            "term": label, "estimate": estimate, "std_error": se, "ci_low": low, "ci_high": high,
            "statistic": statistic, "df": self.df, "p_value": p_value(statistic, self.df),
            "n": self.n, "n_weighted": self.n_weighted,
        }], columns=TIDY_COLUMNS)

    def wald(self, terms: list[str], label: str | None = None) -> pd.DataFrame:
        """Design-based Wald F test that all `terms` are 0 (R regTermTest, method "Wald").

        F = b' V^-1 b / q on (q, residual design df); `statistic` holds F, `df` the
        denominator df, and `estimate` the number of terms tested.
        """
        idx = [self.index_of(t) for t in terms]
        b = self.coef[idx]
        v = self.vcov[np.ix_(idx, idx)]
        q = len(idx)
        f_value = float(b @ np.linalg.solve(v, b) / q)
        p_value = float(stats.f.sf(f_value, q, self.df))
        return pd.DataFrame([{
            "term": label or " + ".join(terms), "estimate": float(q), "std_error": np.nan,
            "ci_low": np.nan, "ci_high": np.nan, "statistic": f_value, "df": self.df,
            "p_value": p_value, "n": self.n, "n_weighted": self.n_weighted,
        }], columns=TIDY_COLUMNS)


class FittedModel(Coefficients):
    """A fitted survey GLM: coefficient table, Wald tests, linear combinations, predictions."""

    def __init__(self, spec: ModelSpec, model, n: int, n_weighted: float):
        self.spec = spec
        self._model = model
        self.n = n
        self.n_weighted = n_weighted
        fitted = model.fitted
        self.names: list[str] = list(fitted.feature_names)
        self.coef = np.array([c.est for c in fitted.coefs], dtype=float)
        self.vcov = np.asarray(fitted.cov_matrix, dtype=float)
        self.df = float(fitted.coefs[0].wald.df)

    def table(self) -> pd.DataFrame:
        table = self._model.to_polars().to_pandas().rename(columns={
            "std_err": "std_error", "conf_low": "ci_low", "conf_high": "ci_high"})
        table["df"] = table["df"].astype(float)
        table["n"] = self.n
        table["n_weighted"] = self.n_weighted
        return table[TIDY_COLUMNS]

    def coefficient_terms(self, column: str) -> list[str]:
        """Every coefficient belonging to `column` (its indicators, or the column itself)."""
        return [n for n in self.names if n == column or n.startswith(f"{column}_")
                and ":" not in n]

    def predict(self, new_data: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
        """Predicted mean (response scale) with its CI, for rows of covariate values."""
        prepared = pl.from_pandas(new_data.astype({c: float for c in new_data.columns
                                                   if pd.api.types.is_bool_dtype(new_data[c])}))
        result = self._model.predict(prepared, alpha=alpha).to_polars().to_pandas()
        return result.rename(columns={"yhat": "estimate", "se": "std_error", "lci": "ci_low", "uci": "ci_high"})

    def _dummies(self, frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
        """{dummy coefficient name: (column, level)}, refusing values that are not model levels."""
        dummies = {}
        for column, info in self._model.fitted.term_info.items():
            if info.get("type") == "categorical":
                levels = {str(level) for level in info["levels"]}
                unknown = sorted(set(pd.unique(frame[column].astype(str).to_numpy())) - levels)
                if unknown:  # an unknown level would silently act as the reference
                    raise DataError(f"{column}: value(s) {unknown} are not levels of the model; use {sorted(levels)}")
                for name, level in info["dummies"]:
                    dummies[name] = (column, str(level))
        return dummies

    def design_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's design matrix for new rows (same columns, categoricals as text)."""
        return terms.matrix(frame, self.names, self._dummies(frame))

    def matrix_builder(self, frame: pd.DataFrame, varying: set[str]):
        """See `terms.builder`: the design matrix of `frame` with the `varying` columns replaced."""
        return terms.builder(frame, self.names, self._dummies(frame), varying)

    def standardized(self, scenarios: dict[str, pd.DataFrame], weights: np.ndarray,
                     reference: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """g-computation: the weighted mean prediction over the same people under each
        scenario (a counterfactual copy of their covariates), and each scenario's difference
        from `reference`. SEs by the delta method over the design-based V(beta), covariates
        treated as fixed: the convention of svy's and Stata's predictive margins."""
        return self.standardized_matrices({name: self.design_matrix(frame) for name, frame in scenarios.items()},
                                          weights, reference, alpha)

    def standardized_matrices(self, scenarios: dict[str, np.ndarray], weights: np.ndarray,
                              reference: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
        """`standardized` from the scenarios' design matrices (see `matrix_builder`)."""
        weights = np.asarray(weights, dtype=float)
        means, grads = {}, {}
        for name, x in scenarios.items():
            eta = x @ self.coef
            if self.spec.family == "binomial":
                mu = 1 / (1 + np.exp(-eta))
                slope = mu * (1 - mu)
            else:
                mu, slope = eta, np.ones_like(eta)
            means[name] = float(weights @ mu / weights.sum())
            grads[name] = (weights * slope) @ x / weights.sum()
        rows = [self._row(name, means[name], delta_method_se(grads[name], self.vcov), alpha)
                for name in scenarios]
        if reference is not None:
            for name in scenarios:
                if name != reference:
                    g = grads[name] - grads[reference]
                    rows.append(self._row(f"{name} - {reference}", means[name] - means[reference],
                                          delta_method_se(g, self.vcov), alpha))
        return pd.concat(rows, ignore_index=True)

    def svy_predictive_margin(self, column: str, values: list[float]) -> pd.DataFrame:
        """svy's own predictive margins (everyone set to each value): a cross-check of `standardized`."""
        result = self._model.margins(at={column: list(values)})
        return pd.DataFrame({"value": values, "estimate": np.asarray(result.margin), "std_error": np.asarray(result.se)})

    def linear_predictor_gradient(self, row: dict[str, float | str]) -> np.ndarray:
        """x such that x @ coef is the linear predictor at `row` (for delta-method work)."""
        return self.design_matrix(pd.DataFrame([row]))[0]


class FittedCox(Coefficients):
    """A fitted design-based Cox model: log hazard ratios, their linearized covariance, tables."""

    def __init__(self, spec: ModelSpec, names: list[str], dummies: terms.Dummies, fitted: cox.CoxFit,
                 vcov: np.ndarray, df: float, n: int, n_weighted: float, events: int):
        self.spec = spec
        self.names = names
        self._dummies = dummies
        self.fitted = fitted
        self.coef = fitted.coef
        self.vcov = vcov
        self.df = df
        self.n = n
        self.n_weighted = n_weighted
        self.events = events

    def table(self) -> pd.DataFrame:
        """Log hazard ratios with design-based SEs, t CIs on `df`."""
        return pd.concat([self._row(name, float(b), float(np.sqrt(v)))
                          for name, b, v in zip(self.names, self.coef, np.diag(self.vcov))], ignore_index=True)

    def design_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return terms.matrix(frame, self.names, self._dummies)

    def matrix_builder(self, frame: pd.DataFrame, varying: set[str]):
        """See `terms.builder`."""
        return terms.builder(frame, self.names, self._dummies, varying)


def outcome_arrays(spec: ModelSpec, frame: pd.DataFrame):
    """A model's outcome for `frame`'s rows: y, or for a Cox model (stop, event, start). Copies,
    never views: a view of one column keeps the frame's whole block of number columns alive."""
    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=float, copy=True)

    if spec.family != "cox":
        return column(spec.outcome)
    return column(spec.time), column(spec.outcome), None if spec.entry is None else column(spec.entry)


class Refit:
    """A model's point estimate for new weights (and new values of its varying columns) on the
    same rows: what each replicate of a two-step estimate reruns. A Cox model's follow-up is
    mapped onto its event times once, here, not on every replicate. A logistic or log-linear
    model's first fit without a start (the full sample's) leaves its information matrix, with
    which the replicates' fits iterate (`chord_glm_coef`); a Cox model's leaves its score
    residuals, from which each replicate's starting point is predicted (`replicate_starts`)."""

    def __init__(self, spec: ModelSpec, outcome, weights: np.ndarray):
        self.spec = spec
        self.outcome = outcome
        self.inverse_information = None
        self._cox_full: tuple[np.ndarray, cox.CoxFit] | None = None  # until replicate_starts uses it
        if spec.family == "cox":
            stop, event, entry = outcome
            self.followup = cox.Followup(stop, event, weights, entry)

    def coef(self, x: np.ndarray, w: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        family = self.spec.family
        if family == "cox":
            full = start is None  # the full sample's fit: its residuals predict the replicates' starts
            fitted = cox.fit_followup(self.followup, x, w, beta=start, residuals=full)
            if full:
                self._cox_full = (w, fitted)
            return fitted.coef
        if family in ("binomial", "poisson") and start is not None and self.inverse_information is not None:
            beta = chord_glm_coef(x, self.outcome, w, family, start, self.inverse_information)
            if beta is not None:
                return beta
        beta = weighted_glm_coef(x, self.outcome, w, family, start=start)
        if start is None and family in ("binomial", "poisson"):
            try:
                self.inverse_information = np.linalg.inv(glm_information(x, w, family, beta))
            except np.linalg.LinAlgError:  # no chord matrix: the replicates take Newton's steps
                self.inverse_information = None
        return beta

    def replicate_starts(self, coef: np.ndarray, factors: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Where each replicate's fit starts (replicates x coefficients): the full sample's
        coefficients `coef`, for replicate weights w x factors[rows, r]. A Cox model's (after
        its full-sample fit) are moved by the linearization of the change of weights,
        sum_i (f_ir - 1) w_i L_i I^-1 (score residuals L, information I): a jackknife replicate
        starts about 20 times nearer its root, and takes one Newton evaluation fewer of about
        four; the root, and so the estimate, is the same. Computed for every replicate at once,
        a block of rows at a time, so that no (rows x coefficients) array outlives the call."""
        starts = np.tile(np.asarray(coef, dtype=float), (factors.shape[1], 1))
        if self._cox_full is None:
            return starts
        weights, fitted = self._cox_full
        self._cox_full = None
        influence = fitted.influence(weights)  # w_i L_i I^-1, each row's
        for block in range(0, len(rows), 4096):
            part = slice(block, block + 4096)
            starts += (factors[rows[part]] - 1).T @ influence[part]
        return starts


# ---------------------------------------------------------------------------- replicate weights


@dataclass(frozen=True)
class Replicates:
    """Replicate weights of the design as factors (replicate weight = weight x factor), with
    each replicate's variance coefficient and the design degrees of freedom."""

    factors: np.ndarray  # (rows, replicates)
    coefficients: np.ndarray  # (replicates,)
    df: float
    method: str  # "jackknife", "brr" or "bootstrap"

    def standard_error(self, full: np.ndarray, replicates: np.ndarray) -> np.ndarray:
        """sqrt(sum_r c_r (theta_r - theta)^2): centred on the full-sample estimate, as R's
        survey with mse = TRUE and as NCI does. `replicates` has one row per replicate."""
        deviation = np.asarray(replicates, dtype=float) - np.asarray(full, dtype=float)[None, ...]
        return np.sqrt(np.tensordot(self.coefficients, deviation**2, axes=1))

    def confidence_interval(self, estimate: np.ndarray, se: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        return interval(estimate, se, self.df, alpha)


def replicate_factors(frame: pd.DataFrame, method: str = "jackknife", fay_coef: float = 0.3,
                      strata: str = STRATUM, psu: str = PSU, n_reps: int = 100, seed: int = 0) -> Replicates:
    """Replicate factors for every row of `frame`, built by svy from the design's strata and
    PSUs: delete-one-PSU jackknife (JKn), Fay's balanced repeated replication, or the Rao-Wu
    bootstrap (`n_reps`, `seed`; consistent for quantiles, where the jackknife is not)."""
    data = pl.from_pandas(pd.DataFrame({strata: frame[strata].to_numpy(), psu: frame[psu].to_numpy(),
                                        "_one": np.ones(len(frame))}))
    sample = svy.Sample(data, svy.Design(stratum=strata, psu=psu, wgt="_one"))
    try:
        if method == "jackknife":
            built = sample.weighting.create_jk_wgts(rep_prefix="_rep")
        elif method == "brr":
            built = sample.weighting.create_brr_wgts(fay_coef=fay_coef, rep_prefix="_rep")
        elif method == "bootstrap":
            built = sample.weighting.create_bs_wgts(n_reps=n_reps, rstate=seed, rep_prefix="_rep")
        else:
            raise DataError(f"replicate method {method!r}: use 'jackknife', 'brr' or 'bootstrap'")
    except svy.errors.SvyError as exc:
        raise DataError(f"replicate weights ({method}) cannot be built for this design: {exc}") from exc
    info = built.design.rep_wgts
    columns = [f"_rep{i}" for i in range(1, info.n_reps + 1)]
    factors = built.data.select(columns).to_numpy()
    return Replicates(factors, np.asarray(info.coefficients(), dtype=float), float(info.df), method)


def _mean_and_variance(x: np.ndarray, beta: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    if family == "binomial":
        mu = special.expit(x @ beta)
        return mu, mu * (1 - mu)
    mu = np.exp(x @ beta)  # log link: the score is the same for quasi-Poisson
    return mu, mu


def _weighted_cross(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """x' diag(weights) x as root' root with root = sqrt(weights) x: a symmetric product, half the work."""
    root = x * np.sqrt(weights)[:, None]
    return root.T @ root


def glm_information(x: np.ndarray, w: np.ndarray, family: str, beta: np.ndarray) -> np.ndarray:
    """x' W V(mu) x at beta."""
    _, variance = _mean_and_variance(x, beta, family)
    return _weighted_cross(x, w * variance)


def weighted_glm_coef(x: np.ndarray, y: np.ndarray, w: np.ndarray, family: str,
                      start: np.ndarray | None = None, tol: float = GLM_TOLERANCE) -> np.ndarray:
    """Coefficients solving the survey-weighted GLM score equations sum w x (y - mu) = 0 (the
    point estimate svyglm and svy give) for one set of weights; for replicate refits."""
    xw = x * w[:, None]
    if family == "gaussian":
        return np.linalg.solve(_weighted_cross(x, w), xw.T @ y)
    if family not in ("binomial", "poisson"):
        raise DataError(f"family {family!r}: replicate refits support gaussian, binomial and poisson")
    beta = np.zeros(x.shape[1]) if start is None else start.copy()
    for _ in range(100):
        mu, variance = _mean_and_variance(x, beta, family)
        step = np.linalg.solve(_weighted_cross(x, w * variance), xw.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(beta))):
            break
    return beta


CHORD_CONTRACTION = 0.5  # a chord step must shrink at least this much on the one before, or Newton takes over
CHORD_STEPS = 60


def chord_glm_coef(x: np.ndarray, y: np.ndarray, w: np.ndarray, family: str, start: np.ndarray,
                   inverse_information: np.ndarray, tol: float = GLM_TOLERANCE) -> np.ndarray | None:
    """The same root of the score equations as `weighted_glm_coef`, by chord steps: Newton's
    step with a fixed matrix, the full sample's information, in place of each replicate's own.

    A replicate's information differs from the full sample's by a few percent, so each step
    shrinks the distance to the root by about as much (linear convergence) and costs two
    matrix-vector products instead of a weighted cross-product: several times cheaper than a
    Newton step. The root does not depend on the matrix (only the pace does). The stopping
    rule is Newton's; steps shrinking at least 2x each time leave at most the last step's size
    (below tol) to go. None when they do not shrink (a replicate too far from the full
    sample): the caller then takes Newton's steps."""
    beta = start.copy()
    previous = np.inf
    for _ in range(CHORD_STEPS):
        mu, _ = _mean_and_variance(x, beta, family)
        step = inverse_information @ (x.T @ (w * (y - mu)))
        size = np.max(np.abs(step))
        if not np.isfinite(size) or size > CHORD_CONTRACTION * previous:
            return None
        beta = beta + step
        if size < tol * (1 + np.max(np.abs(beta))):
            return beta
        previous = size
    return None
