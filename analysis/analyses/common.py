"""What every analysis shares: the data with its design, the covariate set, tidy output."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.analyses.evidence import Evidence
from analysis.survey.design import FittedCox, FittedModel, ModelSpec, SurveyData

# A row's structured key, beside the human `term` label: what kind of number it is, what it is
# about, and within which group. Tables, verdicts, findings and the report select rows by these.
QUANTITIES = {
    "coefficient": "an exposure's model coefficient (contrast: the coefficient's name)",
    "adjustment": "a covariate's coefficient or the intercept",
    "effect": "an exposure's association within a group (a combination of coefficients)",
    "interaction": "how much an exposure's association differs between groups",
    "wald": "a design-based Wald F test (estimate: numerator df)",
    "slope": "a dose's slope within a group",
    "trend": "a trend across ordered groups (P for trend)",
    "dose": "the supplemental dose reaching a 25(OH)D threshold (delta method)",
    "dose_difference": "the difference of two such doses",
    "prediction": "a model's prediction for a standard population",
    "share": "a design-based proportion",
    "mean": "a design-based mean",
}
KEY_COLUMNS = ["quantity", "contrast", "group"]
OUTPUT_COLUMNS = ["model", "term", *KEY_COLUMNS, "estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value",
                  "df", "n", "n_weighted", "scale", "domain", "weight", "covariates", "note"]
OR_SCALE = "odds ratio (std_error on the log-odds scale)"
RR_SCALE = "rate ratio (std_error on the log scale)"
GMR_SCALE = "geometric-mean ratio (std_error on the log scale)"
HR_SCALE = "hazard ratio (std_error on the log scale)"
# Scales on which estimates are reported exponentiated (the model works on the log scale).
RATIO_SCALES = (OR_SCALE, RR_SCALE, GMR_SCALE, HR_SCALE)


@dataclass
class Result:
    """An analysis's tables (file stem -> tidy frame) and the evidence for its claim."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    test_label: str = ""


class Context:
    """The analytic frame with analysis-time columns, its survey design, and the params."""

    def __init__(self, frame: pd.DataFrame, params: dict):
        self.frame = frame
        self.params = params
        self.survey = SurveyData(frame)
        model = params["model"]
        self.references = dict(model["reference_levels"])
        self.references["cycle"] = sorted(frame["cycle"].dropna().unique())[0]
        self.has_diet = bool(frame["kcal"].notna().any())
        self.covariates = list(model["covariates"]) + (list(model["diet_covariates"]) if self.has_diet else [])
        # Models on usual intake adjust for usual energy and calcium instead of one day's.
        self.usual_covariates = list(model["covariates"]) + list(params["usual_intake"]["calibrated_diet_covariates"])
        if frame["cycle"].nunique() < 2:  # a single cycle: nothing to adjust for
            self.covariates = [c for c in self.covariates if c != "cycle"]
            self.usual_covariates = [c for c in self.usual_covariates if c != "cycle"]

    def copy(self) -> "Context":
        """A context on a copy of the frame: what one analysis adds stays in its own copy."""
        return Context(self.frame.copy(), self.params)

    def add_domain(self, name: str, condition: pd.Series) -> str:
        """A boolean domain column (missing counts as outside); returns its name."""
        self.frame[name] = condition.fillna(False).astype(bool)
        return name

    def spec(self, outcome: str, exposures: list[str], family: str = "gaussian",
             drop: tuple[str, ...] = (), references: dict[str, str] | None = None, usual: bool = False,
             covariates: list[str] | None = None, time: str | None = None, entry: str | None = None) -> ModelSpec:
        """Outcome on the exposures plus the standard covariates (less `drop`); `usual`: the
        covariates of models on usual intake (usual energy and calcium); `covariates`: another set."""
        parts = {p for e in exposures for p in e.split(":")}
        base = covariates if covariates is not None else (self.usual_covariates if usual else self.covariates)
        covariates = tuple(c for c in base if c not in drop and c not in parts)
        return ModelSpec(outcome, tuple(exposures) + covariates, {**self.references, **(references or {})}, family,
                         time, entry)

    def covariates_for(self, domain: str, covariates: list[str]) -> list[str]:
        """`covariates` less cycle when the domain holds a single cycle (nothing to adjust for)."""
        return [c for c in covariates if c != "cycle" or self.frame.loc[self.frame[domain], "cycle"].nunique() > 1]

    def cycle_weight(self, base: str, cycles: list[str], name: str) -> str:
        """`base` (pooled over every cycle at hand) re-pooled over `cycles` only, for an
        analysis of those cycles: x (cycles at hand / len(cycles)) inside them, 0 elsewhere."""
        factor = self.frame["cycle"].nunique() / len(cycles)
        self.frame[name] = np.where(self.frame["cycle"].isin(cycles), self.frame[base] * factor, 0.0)
        return name

    def fit(self, spec: ModelSpec, weight: str, domain: str, survey: SurveyData | None = None) -> FittedModel | FittedCox:
        """The survey GLM, or for family "cox" the design-based Cox model; on this context's
        frame, or on `survey`'s (e.g. follow-up split into periods)."""
        survey = survey or self.survey
        if spec.family == "cox":
            return survey.coxph(spec, weight, domain)
        return survey.glm(spec, weight, domain)

    @staticmethod
    def covariate_text(spec: ModelSpec, exposures: list[str]) -> str:
        return ", ".join(t for t in spec.terms if t not in exposures)


def keyed(rows: pd.DataFrame, quantity: str, contrast: str = "", group: str = "all") -> pd.DataFrame:
    """`rows` with their structured key (KEY_COLUMNS); `quantity` one of QUANTITIES."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; known: {sorted(QUANTITIES)}")
    return rows.assign(quantity=quantity, contrast=contrast, group=group)


def coefficient_keys(table: pd.DataFrame, spec: ModelSpec, covariates: list[str]) -> pd.DataFrame:
    """A model's coefficient rows keyed: the intercept and the covariates' coefficients (a
    categorical covariate's indicators too) are "adjustment", the exposures' "coefficient"."""
    def is_adjustment(name: str) -> bool:
        return name == "_intercept_" or ":" not in name and any(
            name == c or c in spec.references and name.startswith(f"{c}_") for c in covariates)

    quantity = ["adjustment" if is_adjustment(t) else "coefficient" for t in table["term"]]
    return table.assign(quantity=quantity, contrast=table["term"], group="all")


def row(table: pd.DataFrame, model: str, quantity: str, contrast: str | None = None,
        group: str | None = None) -> pd.DataFrame:
    """The rows of `model` with this key (None: any contrast or group)."""
    inside = (table["model"] == model) & (table["quantity"] == quantity)
    if contrast is not None:
        inside &= table["contrast"] == contrast
    if group is not None:
        inside &= table["group"] == group
    return table[inside]


def tidy(table: pd.DataFrame, model: str, domain: str, weight: str, covariates: str = "",
         scale: str = "identity", note: str = "") -> pd.DataFrame:
    """`table` in the one output format; its rows must carry their key (see `keyed`)."""
    missing = [c for c in KEY_COLUMNS if c not in table]
    if missing:
        raise ValueError(f"{model}: rows without their key columns {missing}")
    out = table.copy()
    if scale in RATIO_SCALES:
        for column in ("estimate", "ci_low", "ci_high"):
            out[column] = np.exp(out[column])
    out["model"] = model
    out["scale"] = scale
    out["domain"] = domain
    out["weight"] = weight
    out["covariates"] = covariates
    out["note"] = note
    return out[OUTPUT_COLUMNS]


F_SCALE = "F test (estimate = numerator df)"


def model_table(fitted: FittedModel, name: str, domain: str, weight: str, covariates: str,
                lincoms: list[pd.DataFrame] = (), walds: list[pd.DataFrame] = (),
                scale: str = "identity") -> pd.DataFrame:
    """The coefficient table, then linear combinations (same scale, keyed by the caller), then
    Wald F tests (key "wald", contrast: the label)."""
    coefficients = coefficient_keys(fitted.table(), fitted.spec, [c for c in covariates.split(", ") if c])
    parts = [tidy(coefficients, name, domain, weight, covariates, scale)]
    parts += [tidy(r, name, domain, weight, covariates, scale) for r in lincoms]
    parts += [tidy(keyed(r, "wald", r["term"].iloc[0]), name, domain, weight, covariates, F_SCALE) for r in walds]
    return pd.concat(parts, ignore_index=True)


def evidence_of(row: pd.DataFrame, label: str) -> Evidence:
    r = row.iloc[0]
    return Evidence(float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]), float(r["p_value"]), label)


def not_testable_table(name: str, reason: str) -> pd.DataFrame:
    return pd.DataFrame([{c: np.nan for c in OUTPUT_COLUMNS} | {"model": name, "term": "not testable", "note": reason}],
                        columns=OUTPUT_COLUMNS)


def shares(ctx: Context, measure: str, domain: str, weight: str, by: list[str | None], mean: bool = False,
           mean_scale: str = "mean") -> list[pd.DataFrame]:
    """Design-based share (logit CI) or mean of `measure` in the domain, overall (None) and per
    level of each `by`; a `by` column's missing values leave the domain for that table."""
    out = []
    for group in by:
        if group is not None:
            domain_by = ctx.add_domain(f"{domain}__{group}", ctx.frame[domain] & ctx.frame[group].notna())
        else:
            domain_by = domain
        if ctx.frame[domain_by].sum() == 0:
            continue
        estimate = (ctx.survey.mean if mean else ctx.survey.proportion)(measure, weight, domain_by, by=group)
        levels = estimate["group"].astype(str) if group else "all"
        table = tidy(keyed(estimate.drop(columns=["group"], errors="ignore"), "mean" if mean else "share", measure, levels),
                     measure, domain, weight, scale=mean_scale if mean else "proportion (logit CI)")
        table.insert(1, "group_by", group or "all")
        out.append(table)
    return out
