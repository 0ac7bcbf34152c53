"""`python -m analysis model "y ~ a * b + C(sex, contr.treatment('female'))"`: a design-based
GLM in one command. The formula is parsed by formulaic (terms, products, `*` expansion,
`C(column)` or `C(column, contr.treatment('level'))` for a categorical with its reference);
the model is the survey layer's (svy, R svyglm's numbers), on the domain `--where` of the full
design, with the weight of the smallest subsample that measured every variable used. A term
from the usual-intake model (a column of data_clean/usual_intake.parquet) makes it a two-step
estimate: the SEs then come from the design's replicates rerunning the usual-intake model and
this one on each (analyses/calibrated.py), exactly as the pipeline's analyses do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.survey import query, weights
from analysis.clean.dictionary import load_dictionary
from analysis.core.config import Paths, load_params, project_root
from analysis.core.errors import ConfigError, DataError

FAMILIES = {"gaussian": "gaussian", "binomial": "binomial", "quasipoisson": "poisson"}
CATEGORICAL = re.compile(r"""^C\(\s*(\w+)\s*(?:,\s*(?:contr\.treatment|Treatment)\(\s*(?:reference\s*=\s*)?['"]([^'"]+)['"]\s*\)\s*)?\)$""")
SHOWN = ["term", "estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value", "df", "n"]


@dataclass(frozen=True)
class Terms:
    outcome: str
    terms: tuple[str, ...]
    references: dict[str, str]


# Outcomes of the linked mortality files: a death by the end of follow-up is not a 0/1 outcome a GLM
# can model (follow-up differs by person and cycle); the pipeline's survival analysis is the design-based Cox.
SURVIVAL_OUTCOMES = ("died", "died_cvd", "died_heart", "followup_exam_months", "followup_int_months", "death_cause")


def with_references(terms: Terms, frame: pd.DataFrame) -> Terms:
    """`terms` with the reference level of each categorical term, checked against its levels in `frame`."""
    references = dict(terms.references)
    for name in {p for t in terms.terms for p in t.split(":")}:
        if pd.api.types.is_string_dtype(frame[name]):
            levels = sorted(frame[name].dropna().astype(str).unique())
            if name == "cycle" and name not in references:
                references[name] = levels[0]
            if name not in references:
                raise ConfigError(f"model: {name} is categorical; name its reference level, e.g. "
                                  f"C({name}, contr.treatment('{levels[0]}')) (levels: {', '.join(levels)})")
            if references[name] not in levels:
                raise ConfigError(f"model: reference level {references[name]!r} is not a level of {name} "
                                  f"({', '.join(levels)})")
    used = {p for t in terms.terms for p in t.split(":")}
    return Terms(terms.outcome, terms.terms, {k: v for k, v in references.items() if k in used})


def parse_formula(formula: str, params: dict) -> Terms:
    """Outcome, terms and the references named in the formula (or params' defaults), from the
    formula's text alone: what can be refused before any data is read."""
    from formulaic import Formula
    from formulaic.errors import FormulaicError

    if "~" not in formula:
        raise ConfigError(f"model {formula!r}: write outcome ~ terms, e.g. \"vitd_serum_nmol ~ vitd_supp_user * "
                          "mg_adequate + age + C(sex, contr.treatment('female'))\"")
    try:
        parsed = Formula(formula)
    except (FormulaicError, SyntaxError, ValueError) as exc:
        reason = re.sub(r"\x1b\[[0-9;]*m|[⧛⧚]", "", str(exc)).strip().replace("\n", " ")
        raise ConfigError(f"model {formula!r}: not a formula formulaic can read ({reason})") from None
    lhs = [str(t) for t in parsed.lhs]
    if len(lhs) != 1 or not re.fullmatch(r"\w+", lhs[0]):
        raise ConfigError(f"model {formula!r}: the outcome must be one column, not {' + '.join(lhs) or 'nothing'}")
    references = dict(params["model"]["reference_levels"])
    terms, has_intercept = [], False
    for term in parsed.rhs:
        parts = []
        for factor in term.factors:
            expr = str(factor.expr).strip()
            if expr == "1":
                has_intercept = True
                continue
            match = CATEGORICAL.match(expr)
            if match:
                column, reference = match.groups()
                if reference is not None:
                    references[column] = reference
                parts.append(column)
            elif re.fullmatch(r"\w+", expr):
                parts.append(expr)
            else:
                raise ConfigError(f"model {formula!r}: term {expr!r} is a transformation; only columns, products "
                                  "(a:b, a*b) and C(column) or C(column, contr.treatment('level')) are offered. "
                                  "Use a derived column (e.g. vitd_log, dose10) instead")
        if not parts:
            continue
        if len(parts) > 2:
            raise ConfigError(f"model {formula!r}: term {':'.join(parts)} multiplies {len(parts)} columns; at most two")
        terms.append(":".join(parts))
    if not has_intercept:
        raise ConfigError(f"model {formula!r}: models without an intercept (0 + ..., - 1) are not offered")
    if not terms:
        raise ConfigError(f"model {formula!r}: no terms on the right of ~; name at least one column (an "
                          f"intercept-only model is the mean: `estimate mean {lhs[0]}`)")
    if lhs[0] in SURVIVAL_OUTCOMES:
        raise ConfigError(f"model: {lhs[0]} comes from the linked mortality files; follow-up time differs by person "
                          "and cycle, so a GLM of it is wrong. The design-based Cox models (hazard ratios) are the "
                          "pipeline's survival analysis: reports/tables/mortality.csv and mortality_survival.csv "
                          "(analysis/analyses/mortality.py)")
    return Terms(lhs[0], tuple(terms), references)


@dataclass
class ModelResult:
    question: str
    table: pd.DataFrame
    weight: str
    weight_reason: str
    variance: str
    n: int
    family: str
    exponentiated: bool
    notes: list[str] = field(default_factory=list)

    def header(self) -> list[str]:
        return [self.question, f"family: {self.family}; weight: {self.weight} ({self.weight_reason})",
                f"domain: {self.n:,} participants; variance: {self.variance}",
                "estimates and CIs " + ("exponentiated (ratios); std_error on the model's scale" if self.exponentiated
                                        else "on the model's scale")] + self.notes

    def text(self) -> str:
        shown = self.table[SHOWN].copy()
        for column in ("estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value"):
            shown[column] = shown[column].map(lambda v: f"{v:.4g}")
        return "\n".join(self.header()) + "\n\n" + shown.to_string(index=False)

    def json(self) -> str:
        return json.dumps({"question": self.question, "family": self.family, "weight": self.weight,
                           "weight_reason": self.weight_reason, "variance": self.variance, "n": self.n,
                           "exponentiated": self.exponentiated, "notes": self.notes,
                           "rows": json.loads(self.table.to_json(orient="records"))}, indent=2)


def missing_column(name: str, known) -> ConfigError:
    """The error for a column not at hand: the usual stage not run yet, or a typo."""
    if name in usual_columns():
        return ConfigError(f"model: {name} comes from the usual-intake model, which has not been run here; run the "
                           "usual stage first (`dvc repro usual`)")
    return query.unknown_column(name, sorted(known.columns if isinstance(known, pd.DataFrame) else known))


def usual_columns() -> set[str]:
    """The usual-intake model's per-person predictions (data_clean/usual_intake.parquet, less its domain
    flags): any estimate from them needs replicate SEs that rerun the model."""
    table = load_dictionary()
    names = table.loc[table["file"] == "usual_intake.parquet", "column"]
    return {name for name in names if not name.startswith("in_")}


def fit(formula: str, family: str | None = None, where: str | None = None, cycles: list[str] | tuple = (),
        weight: str | None = None, exponentiate: bool = False, root: str | Path | None = None,
        frame: pd.DataFrame | None = None, params: dict | None = None) -> ModelResult:
    """The design-based GLM of `formula` in the domain `where` (see the module's docstring).
    family None: gaussian, except that a true/false outcome is refused (name the family)."""
    from analysis.commands import estimate

    chosen_family = family
    family = family or "gaussian"
    if family not in FAMILIES:
        raise ConfigError(f"--family {family!r}: use one of {', '.join(FAMILIES)}")
    if exponentiate and family == "gaussian":
        raise ConfigError("--exponentiate goes with binomial (odds ratios) or quasipoisson (rate ratios)")
    if frame is None or params is None:
        root = project_root(root)
    params = load_params(Paths(root).params) if params is None else params
    terms = parse_formula(formula, params)
    columns = [terms.outcome] + sorted({p for t in terms.terms for p in t.split(":")})
    used = columns + (query.columns_of(where) if where else [])
    names = set(frame.columns) if frame is not None else estimate.known_columns(Path(root))
    for name in used:
        if name not in names:
            raise missing_column(name, names)
    estimate.refuse_usual_domains(query.columns_of(where) if where else [], "--where")
    if weight is not None:
        weights.checked_override(weight, used)  # before the data are read
    frame = estimate.load(Path(root)) if frame is None else frame.copy()
    terms = with_references(terms, frame)
    outcome = frame[terms.outcome]
    if pd.api.types.is_string_dtype(outcome):
        raise ConfigError(f"model: the outcome {terms.outcome} holds text; use a number or true/false column")
    binary = set(outcome.dropna().astype(float).unique()) <= {0.0, 1.0}
    if family == "binomial" and not binary:
        raise ConfigError(f"--family binomial: {terms.outcome} must be true/false or 0/1")
    if chosen_family is None and binary:
        raise ConfigError(f"model: {terms.outcome} is true/false; a linear model of it (the default family) gives "
                          "risk differences with wrong-shaped errors. Use --family binomial (with --exponentiate: "
                          "odds ratios), or --family gaussian to ask for the linear probability model on purpose")
    two_step = sorted(set(columns) & usual_columns())
    if two_step:
        frame = weights.usual_model_frame(frame, params, cycles, ", ".join(two_step))
    weighting = weights.analysis_weight(frame, used, weight, cycles, where)
    frame["_weight"], weight, reason = weighting.values, weighting.column, weighting.reason
    domain = (frame["_weight"] > 0) & frame[columns].notna().all(axis=1)
    if where:
        domain &= query.evaluate(where, frame)
    notes = list(weighting.notes)
    if two_step:
        inside = frame["in_usual_calibration"].fillna(False).astype(bool)
        if (domain & ~inside).any():
            notes.append(f"{int((domain & ~inside).sum()):,} participant(s) outside the usual-intake model's domain "
                         "left out (its columns exist only there)")
        domain &= inside
    if int(domain.sum()) < 2 * (len(terms.terms) + 1):
        raise DataError(f"model: {int(domain.sum())} participant(s) in the domain ({where or 'everyone'}) with every "
                        f"variable of the model; too few for {len(terms.terms) + 1} coefficients")
    frame["_model_domain"] = domain
    lonely = estimate.one_psu_strata(frame.assign(_domain=domain), [])
    if lonely:
        notes.append(lonely)
    from analysis.analyses import calibrated
    from analysis.analyses.common import Context
    from analysis.survey.design import ModelSpec

    spec = ModelSpec(terms.outcome, terms.terms, terms.references, FAMILIES[family])
    ctx = Context(frame, params)
    if two_step:
        path = Paths(project_root(root)).data_clean / "usual_model.json"
        if not path.exists():
            raise DataError(f"{path}: not found; terms {two_step} need the usual stage (`dvc repro usual`)")
        model = calibrated.CalibratedModel("model", "model", spec, tuple(terms.terms), "_model_domain", "_weight")
        table = calibrated.run(ctx, [model], path).tables["model"]
        table = table[table["term"].isin(list(ctx.fit(spec, "_weight", "_model_domain").names))]
        variance = (f"{params['usual_intake']['replicates']} replicates rerunning the usual-intake model and this "
                    f"one ({', '.join(two_step)} from the usual-intake model)")
    else:
        table = ctx.fit(spec, "_weight", "_model_domain").table()
        variance = "Taylor linearization (svy; R svyglm)"
    table = table.reset_index(drop=True)
    if exponentiate:
        for column in ("estimate", "ci_low", "ci_high"):
            table[column] = np.exp(table[column])
    question = f"{formula}" + (f" where {where}" if where else "") + \
        (f" in {', '.join(weighting.cycles)}" if cycles or (where and "cycle" in query.columns_of(where)) else "")
    if terms.references:
        notes.append("reference levels: " + ", ".join(f"{k} = {v}" for k, v in sorted(terms.references.items())))
    return ModelResult(question, table, weight, reason, variance, int(domain.sum()), family, exponentiate, notes)
