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

from analysis import query, weights
from analysis.dictionary import load_dictionary
from analysis.config import Paths, load_params
from analysis.errors import ConfigError, DataError

FAMILIES = {"gaussian": "gaussian", "binomial": "binomial", "quasipoisson": "poisson"}
CATEGORICAL = re.compile(r"""^C\(\s*(\w+)\s*(?:,\s*(?:contr\.treatment|Treatment)\(\s*(?:reference\s*=\s*)?['"]([^'"]+)['"]\s*\)\s*)?\)$""")
SHOWN = ["term", "estimate", "std_error", "ci_low", "ci_high", "statistic", "p_value", "df", "n"]


@dataclass(frozen=True)
class Terms:
    outcome: str
    terms: tuple[str, ...]
    references: dict[str, str]


def parse(formula: str, frame: pd.DataFrame, params: dict) -> Terms:
    """Outcome, terms ("a", "a:b") and categorical references from a formulaic formula."""
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
    for name in [lhs[0]] + [p for t in terms for p in t.split(":")]:
        if name not in frame:
            raise missing_column(name, frame)
    for name in {p for t in terms for p in t.split(":")}:
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
    return Terms(lhs[0], tuple(terms), {k: v for k, v in references.items()
                                        if k in {p for t in terms for p in t.split(":")}})


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


def missing_column(name: str, frame: pd.DataFrame) -> ConfigError:
    if name in usual_columns():
        return ConfigError(f"model: {name} comes from the usual-intake model, which has not been run here; run the "
                           "usual stage first (`dvc repro usual`)")
    return query.unknown_column(name, list(frame.columns))


def usual_columns() -> set[str]:
    table = load_dictionary()
    return set(table.loc[table["file"] == "usual_intake.parquet", "column"])


def fit(formula: str, family: str = "gaussian", where: str | None = None, cycles: list[str] | tuple = (),
        weight: str | None = None, exponentiate: bool = False, root: str | Path = ".",
        frame: pd.DataFrame | None = None, params: dict | None = None) -> ModelResult:
    """The design-based GLM of `formula` in the domain `where` (see the module's docstring)."""
    from analysis import estimate
    from analysis.analyses import calibrated, features
    from analysis.analyses.common import Context
    from analysis.survey import ModelSpec

    if family not in FAMILIES:
        raise ConfigError(f"--family {family!r}: use one of {', '.join(FAMILIES)}")
    if exponentiate and family == "gaussian":
        raise ConfigError("--exponentiate goes with binomial (odds ratios) or quasipoisson (rate ratios)")
    paths = Paths(Path(root))
    params = load_params(paths.params) if params is None else params
    frame = features.add(estimate.load(Path(root)), params) if frame is None else frame.copy()
    terms = parse(formula, frame, params)
    columns = [terms.outcome] + sorted({p for t in terms.terms for p in t.split(":")})
    used = columns + (query.columns_of(where) if where else [])
    for name in used:
        if name not in frame:
            raise missing_column(name, frame)
    outcome = frame[terms.outcome]
    if pd.api.types.is_string_dtype(outcome):
        raise ConfigError(f"model: the outcome {terms.outcome} holds text; use a number or true/false column")
    if family == "binomial" and not set(outcome.dropna().astype(float).unique()) <= {0.0, 1.0}:
        raise ConfigError(f"--family binomial: {terms.outcome} must be true/false or 0/1")
    frame["_weight"], weight, reason = weights.analysis_weight(frame, used, weight, cycles)
    domain = (frame["_weight"] > 0) & frame[columns].notna().all(axis=1)
    if where:
        domain &= query.evaluate(where, frame)
    two_step = sorted(set(columns) & usual_columns())
    notes = []
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
    spec = ModelSpec(terms.outcome, terms.terms, terms.references, FAMILIES[family])
    ctx = Context(frame, params)
    if two_step:
        path = paths.data_clean / "usual_model.json"
        if not path.exists():
            raise DataError(f"{path}: not found; terms {two_step} need the usual stage (`dvc repro usual`)")
        model = calibrated.CalibratedModel("model", "model", spec, tuple(terms.terms), "_model_domain", "_weight")
        table = calibrated.run(ctx, [model], path)["model"]
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
    question = f"{formula}" + (f" where {where}" if where else "") + (f" in {', '.join(cycles)}" if cycles else "")
    if terms.references:
        notes.append("reference levels: " + ", ".join(f"{k} = {v}" for k, v in sorted(terms.references.items())))
    return ModelResult(question, table, weight, reason, variance, int(domain.sum()), family, exponentiate, notes)
