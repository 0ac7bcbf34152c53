"""Ask the data a question without writing a model: a design-based mean, proportion,
percentiles or total of any documented column, in a domain, by groups, for chosen cycles,
with the weight chosen from the variables used (analysis/weights.py) and NCHS reliability
flags (analysis/nchs.py). `python -m analysis estimate` and notebooks call `estimate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import nchs, query, weights
from analysis.config import Paths, load_params
from analysis.errors import ConfigError, DataError
from analysis.survey import SurveyData

STATISTICS = ("mean", "proportion", "percentiles", "total")
CI_METHODS = {"korn-graubard": "Korn-Graubard (R svyciprop method 'beta'), as NCHS's standard uses",
              "logit": "logit (R svyciprop method 'logit')"}
GROUP = "_group"
COLUMNS = ["group", "statistic", "estimate", "std_error", "ci_low", "ci_high", "df", "n", "effective_n", "reliability",
           "reasons"]


@dataclass
class Estimate:
    """An answer: the table, and how it was made."""

    question: str
    table: pd.DataFrame
    weight: str
    weight_reason: str
    ci_method: str
    domain_n: int
    excluded_missing: int
    notes: list[str] = field(default_factory=list)

    def header(self) -> list[str]:
        lines = [self.question, f"weight: {self.weight} ({self.weight_reason})",
                 f"domain: {self.domain_n:,} participants"
                 + (f"; {self.excluded_missing:,} left out because the variable is missing" if self.excluded_missing else "")]
        if self.ci_method:
            lines.append(f"95% CI: {CI_METHODS[self.ci_method]}")
        return lines + self.notes

    def text(self) -> str:
        shown = self.table.copy()
        for column in ("estimate", "std_error", "ci_low", "ci_high"):
            shown[column] = [("(suppressed)" if r == "suppressed" and column != "std_error" else f"{v:.4g}")
                             for v, r in zip(shown[column], shown["reliability"])]
        shown["effective_n"] = shown["effective_n"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
        return "\n".join(self.header()) + "\n\n" + shown.to_string(index=False)

    def json(self) -> str:
        return json.dumps({"question": self.question, "weight": self.weight, "weight_reason": self.weight_reason,
                           "ci_method": self.ci_method, "domain_n": self.domain_n,
                           "excluded_missing": self.excluded_missing, "notes": self.notes,
                           "rows": json.loads(self.table.to_json(orient="records"))}, indent=2)


def load(root: Path) -> pd.DataFrame:
    """The analytic table, joined to the usual-intake columns when the usual stage has run.

    A notebook asks many questions of the same files: the table read is kept (per files'
    path, size and modification time, so a rerun of the pipeline is read afresh) and each
    call gets its own copy."""
    paths = Paths(Path(root))
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the pipeline first (`dvc repro`)")
    usual = paths.data_clean / "usual_intake.parquet"
    kept = _read(_version(paths.analytic), _version(usual) if usual.exists() else None, _version(paths.params))
    return kept.copy(deep=not _COPY_ON_WRITE)


# pandas >= 3 always copies on write: a shallow copy is already the caller's own (pandas 2: a deep one)
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _version(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path.resolve()), status.st_mtime_ns, status.st_size


@lru_cache(maxsize=2)
def _read(analytic: tuple, usual: tuple | None, params_file: tuple) -> pd.DataFrame:
    frame = pd.read_parquet(analytic[0])
    if usual is not None:
        frame = frame.merge(pd.read_parquet(usual[0]), on="seqn", how="left", validate="one_to_one")
    params = load_params(Path(params_file[0]))
    frame["age_group"] = pd.Series(pd.NA, index=frame.index, dtype="string")
    for label, low, high in params["analyze"]["age_groups"]:
        frame.loc[(frame["age"] >= low) & (frame["age"] <= high), "age_group"] = label
    return frame


def check_column(name: str, frame: pd.DataFrame) -> None:
    if name not in frame:
        raise query.unknown_column(name, list(frame.columns))


# More groups than this in one --by column is a mistake (an identifier or a continuous value),
# and one domain per value would exhaust memory.
MAX_GROUPS = 100


def estimate(statistic: str, column: str, where: str | None = None, by: list[str] | tuple = (),
             cycles: list[str] | tuple = (), below: float | None = None, above: float | None = None,
             percentiles: list[float] | tuple = (50,), weight: str | None = None, ci: str = "korn-graubard",
             root: str | Path = ".", frame: pd.DataFrame | None = None, age_adjust: str | None = None,
             params: dict | None = None) -> Estimate:
    """The design-based `statistic` of `column` in the domain `where`, per group of `by`.

    proportion: of `column` below `below`, above `above`, or true (a boolean column).
    percentiles: at `percentiles` (0-100). weight: None chooses it from the variables used.
    age_adjust: a standard of params estimate.age_standards, or one written out
    ("20-39:77670,40-59:72816,60-80:45364"): the directly age-standardized mean or share beside
    the crude one, the domain restricted to the standard's ages.
    """
    if statistic not in STATISTICS:
        raise ConfigError(f"statistic {statistic!r}: use one of {', '.join(STATISTICS)}")
    if ci not in CI_METHODS:
        raise ConfigError(f"--ci {ci!r}: use one of {', '.join(CI_METHODS)}")
    bad = [p for p in percentiles if not 0 < p < 100]
    if statistic == "percentiles" and bad:
        raise ConfigError(f"--percentiles {bad}: each percentile must lie strictly between 0 and 100")
    if age_adjust is not None and statistic not in ("mean", "proportion"):
        raise ConfigError(f"--age-adjust goes with mean or proportion, not {statistic}")
    if age_adjust is not None:
        params = load_params(Paths(Path(root)).params) if params is None else params
        standard = age_standard(age_adjust, params)
    frame = load(Path(root)) if frame is None else frame.copy()
    check_column(column, frame)
    by = list(by)
    for name in by:
        check_column(name, frame)
        levels = frame[name].nunique()
        if levels > MAX_GROUPS:
            raise ConfigError(f"--by {name}: {levels} distinct values (at most {MAX_GROUPS}); group a number column "
                              "first (e.g. age_group for age) or narrow the domain with --where")
    used = [column] + by + (query.columns_of(where) if where else [])
    for name in used:
        check_column(name, frame)
    frame["_weight"], weight, reason = weights.analysis_weight(frame, used, weight, cycles)

    y, label = outcome(frame, statistic, column, below, above)
    domain = frame["_weight"] > 0
    if where:
        domain &= query.evaluate(where, frame)
    for name in by:
        domain &= frame[name].notna()
    notes = []
    if age_adjust is not None:
        frame["_age_standard"] = standard.groups(frame["age"])
        outside = int((domain & frame["_age_standard"].isna()).sum())
        domain &= frame["_age_standard"].notna()
        if outside:
            notes.append(f"age adjustment: {outside:,} participant(s) outside the standard's ages "
                         f"({standard.ages}) left out of the domain")
    missing = int((domain & frame[y].isna()).sum())
    domain &= frame[y].notna()
    if not domain.any():
        raise DataError(f"no one is in the domain ({where or 'everyone'}"
                        f"{', cycles ' + ', '.join(cycles) if cycles else ''}) with {column} and a positive {weight}")
    frame["_domain"] = domain
    if by:
        labels = f"{by[0]}=" + frame[by[0]].astype(str)
        for name in by[1:]:
            labels = labels + f", {name}=" + frame[name].astype(str)
        frame[GROUP] = labels.where(domain).astype("string")
    table = compute(SurveyData(frame), statistic, y, label, by, percentiles, ci)
    if age_adjust is not None:
        table = pd.concat([table, adjusted(SurveyData(frame), statistic, y, label, by, standard)], ignore_index=True)
        table = table.sort_values("group", kind="stable").reset_index(drop=True)
        notes.append(f"age-adjusted: direct standardization to {standard.name} ({standard.description}); "
                     "SEs linearized as R's svystandardize; CIs t-based"
                     + (" (logit for shares)" if statistic == "proportion" else ""))
    question = (f"{statistic} of {label}" + (f" where {where}" if where else "") + (f" by {', '.join(by)}" if by else "")
                + (f" in {', '.join(cycles)}" if cycles else ""))
    if "usual" in column and statistic in ("percentiles", "proportion"):
        notes.append(f"note: {column} is each person's expected usual intake given their recalls, pulled toward the "
                     "mean; its spread understates the population's. For shares below the EAR and percentiles of usual "
                     "intake use reports/tables/usual_intake.csv (the usual-intake distribution).")
    return Estimate(question, table, weight, reason, ci if statistic == "proportion" else "", int(domain.sum()), missing,
                    notes)


@dataclass(frozen=True)
class AgeStandard:
    """A standard population for direct age adjustment: groups [label, first age, last age] and shares."""

    name: str
    groups_spec: tuple[tuple[str, float, float], ...]
    shares: dict[str, float]

    @property
    def ages(self) -> str:
        return f"{self.groups_spec[0][1]:g} to {self.groups_spec[-1][2]:g}"

    @property
    def description(self) -> str:
        return ", ".join(f"{label} {100 * self.shares[label]:.1f}%" for label, _, _ in self.groups_spec)

    def groups(self, age: pd.Series) -> pd.Series:
        out = pd.Series(pd.NA, index=age.index, dtype="string")
        for label, low, high in self.groups_spec:
            out[(age >= low) & (age <= high)] = label
        return out


def age_standard(spec: str, params: dict) -> AgeStandard:
    """A named standard of params estimate.age_standards, or one written "first-last:population,..."."""
    named = params.get("estimate", {}).get("age_standards", {})
    if spec in named:
        rows = [(str(label), float(low), float(high), float(pop)) for label, low, high, pop in named[spec]]
    elif ":" in spec:
        rows = []
        for part in spec.split(","):
            try:
                ages, population = part.split(":")
                low, high = (float(a) for a in ages.split("-"))
                rows.append((ages.strip(), low, high, float(population)))
            except ValueError:
                raise ConfigError(f"--age-adjust {spec!r}: write each group as first-last:population, e.g. "
                                  "\"20-39:77670,40-59:72816,60-80:45364\"") from None
        name = "custom standard"
    else:
        raise ConfigError(f"--age-adjust {spec!r}: not a standard of params.yaml estimate.age_standards "
                          f"({', '.join(named) or 'none'}), nor groups written as first-last:population")
    if any(high < low for _, low, high, _ in rows) or any(p <= 0 for *_, p in rows):
        raise ConfigError(f"--age-adjust {spec!r}: each group needs first <= last age and a positive population")
    ordered = sorted(rows, key=lambda r: r[1])
    if any(b[1] <= a[2] for a, b in zip(ordered, ordered[1:])):
        raise ConfigError(f"--age-adjust {spec!r}: age groups overlap")
    total = sum(r[3] for r in rows)
    return AgeStandard(spec if spec in named else name, tuple((r[0], r[1], r[2]) for r in ordered),
                       {r[0]: r[3] / total for r in ordered})


def adjusted(survey: SurveyData, statistic: str, y: str, label: str, by: list[str], standard: AgeStandard) -> pd.DataFrame:
    """The age-standardized mean or share, overall or per group of `by`."""
    rows = []
    groups = sorted(survey.frame.loc[survey.frame["_domain"], GROUP].dropna().unique()) if by else [None]
    for group in groups:
        inside = survey.frame["_domain"] & (survey.frame[GROUP] == group if group is not None else True)
        survey.frame["_group_domain"] = inside.fillna(False).astype(bool)
        present = set(survey.frame.loc[survey.frame["_group_domain"], "_age_standard"].dropna())
        empty = [g for g, _, _ in standard.groups_spec if g not in present]
        if empty:
            raise DataError(f"--age-adjust {standard.name}: no one in the domain{' ' + group if group else ''} is in "
                            f"age group(s) {empty} (e.g. 25(OH)D is measured from age 1); choose a standard whose ages "
                            "the domain covers, or write one (\"1-19:...,20-39:...\")")
        result = survey.standardized_mean(y, "_weight", "_group_domain", "_age_standard", standard.shares,
                                          proportion=statistic == "proportion").iloc[0].to_dict()
        rows.append(row(group or "all", f"age-adjusted {statistic} of {label} ({standard.name})", result, statistic))
    return pd.DataFrame(rows, columns=COLUMNS)


def outcome(frame: pd.DataFrame, statistic: str, column: str, below: float | None, above: float | None) -> tuple[str, str]:
    """The analysed column (made for proportions below / above a value) and its label."""
    if statistic != "proportion":
        if below is not None or above is not None:
            raise ConfigError("--below / --above go with proportion")
        if pd.api.types.is_string_dtype(frame[column]):
            raise ConfigError(f"{column} holds text; use proportion with a boolean column, or --where")
        frame["_y"] = frame[column].astype(float)
        return "_y", column
    values = frame[column]
    if below is not None and above is not None:
        raise ConfigError("give --below or --above, not both")
    if below is not None or above is not None:
        flag = values < below if below is not None else values > above
        frame["_y"] = flag.astype("boolean").mask(values.isna())
        return "_y", f"{column} {'<' if below is not None else '>'} {below if below is not None else above:g}"
    if not (pd.api.types.is_bool_dtype(values) or set(values.dropna().unique()) <= {0, 1, True, False}):
        raise ConfigError(f"proportion of {column}: give --below or --above, or a true/false column")
    frame["_y"] = values.astype("boolean")
    return "_y", column


def compute(survey: SurveyData, statistic: str, y: str, label: str, by: list[str], percentiles, ci: str) -> pd.DataFrame:
    rows = []
    by_column = GROUP if by else None
    if statistic == "percentiles":
        groups = sorted(survey.frame.loc[survey.frame["_domain"], GROUP].unique()) if by else [None]
        for group in groups:
            inside = survey.frame["_domain"] & (survey.frame[GROUP] == group if group is not None else True)
            survey.frame["_group_domain"] = inside.fillna(False).astype(bool)
            result = survey.quantiles(y, "_weight", [p / 100 for p in percentiles], "_group_domain")
            for r, p in zip(result.to_dict("records"), percentiles):
                rows.append(row(group or "all", f"p{p:g} of {label}", r, statistic))
        return pd.DataFrame(rows, columns=COLUMNS)
    if statistic == "proportion":
        result = survey.proportion(y, "_weight", "_domain", by=by_column, ci_method=ci)
    elif statistic == "mean":
        result = survey.mean(y, "_weight", "_domain", by=by_column)
    else:
        result = survey.total(y, "_weight", "_domain", by=by_column)
    for r in result.to_dict("records"):
        rows.append(row(r.get("group", "all") if by else "all", f"{statistic} of {label}", r, statistic))
    return pd.DataFrame(rows, columns=COLUMNS)


def row(group: str, name: str, r: dict, statistic: str) -> dict:
    out = {"group": group, "statistic": name, "estimate": r["estimate"], "std_error": r["std_error"],
           "ci_low": r["ci_low"], "ci_high": r["ci_high"], "df": r["df"], "n": int(r["n"]), "effective_n": np.nan}
    if statistic == "proportion":
        verdict, n_eff = nchs.proportion(r["estimate"], r["std_error"], r["ci_low"], r["ci_high"], int(r["n"]), r["df"])
        out["effective_n"] = n_eff
    else:
        verdict = nchs.other(r["estimate"], r["std_error"], int(r["n"]), r["df"])
    out["reliability"] = verdict.label
    out["reasons"] = "; ".join(verdict.reasons)
    return out

