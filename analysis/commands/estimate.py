"""Ask the data a question without writing a model: a design-based mean, proportion,
percentiles or total of any documented column, in a domain, by groups, for chosen cycles,
with the weight chosen from the variables used (analysis/survey/weights.py) and NCHS reliability
flags (analysis/survey/nchs.py). `python -m analysis estimate` and notebooks call `estimate`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.survey import nchs, query, weights
from analysis.core.config import Paths, load_params, project_root
from analysis.core.errors import ConfigError, DataError
from analysis.survey.intervals import interval

if TYPE_CHECKING:  # imported where used: svy takes a while to import, and an argument error needs none of it
    from analysis.survey.design import SurveyData

STATISTICS = ("mean", "proportion", "percentiles", "total")
CI_METHODS = {"korn-graubard": "Korn-Graubard (R svyciprop method 'beta'), as NCHS's standard uses",
              "logit": "logit (R svyciprop method 'logit')"}
GROUP = "_group"
TAYLOR = "Taylor linearization (svy; R survey), design df"
TOTAL_CI = ("95% CI of a total of a count or amount: on the log scale, total·exp(±t·SE/total), so it stays "
            "positive (as NCHS computes intervals for counts); SE as R's svytotal")
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
    variance: str = TAYLOR

    def header(self) -> list[str]:
        lines = [self.question, f"weight: {self.weight} ({self.weight_reason})", f"variance: {self.variance}",
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
                           "variance": self.variance, "ci_method": self.ci_method, "domain_n": self.domain_n,
                           "excluded_missing": self.excluded_missing, "notes": self.notes,
                           "rows": json.loads(self.table.to_json(orient="records"))}, indent=2)


def load(root: Path) -> pd.DataFrame:
    """The analytic table, joined to the usual-intake columns when the usual stage has run.

    A notebook asks many questions of the same files: the table read is kept (per files'
    path, size and modification time, so a rerun of the pipeline is read afresh) and each
    call gets its own copy."""
    paths = Paths(project_root(root))
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the pipeline first (`dvc repro`)")
    usual = paths.data_clean / "usual_intake.parquet"
    kept = _read(_version(paths.analytic), _version(usual) if usual.exists() else None)
    return kept.copy(deep=not _COPY_ON_WRITE)


# pandas >= 3 always copies on write: a shallow copy is already the caller's own (pandas 2: a deep one)
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3


def _version(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return str(path.resolve()), status.st_mtime_ns, status.st_size


@lru_cache(maxsize=2)
def _read(analytic: tuple, usual: tuple | None) -> pd.DataFrame:
    frame = pd.read_parquet(analytic[0])
    if usual is not None:
        frame = frame.merge(pd.read_parquet(usual[0]), on="seqn", how="left", validate="one_to_one")
    return frame  # with the analysis-time columns the clean stage made (vitd_below_50, dose10, age_group, ...)


def known_columns(root: Path) -> set[str]:
    """Every column a question may name, read from the files' schemas (no data loaded), so that a
    misspelt name is answered at once."""
    import pyarrow.parquet as pq

    paths = Paths(root)
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the pipeline first (`dvc repro`)")
    names = set(pq.read_schema(paths.analytic).names)
    usual = paths.data_clean / "usual_intake.parquet"
    if usual.exists():
        names |= set(pq.read_schema(usual).names)
    return names


def check_names(names: set[str], column: str, by=(), where: str | None = None) -> None:
    """Unknown columns, `--by a,b` and a --where outside the grammar, refused before any data is read."""
    for name in by:
        if "," in name:
            parts = " ".join(p.strip() for p in name.split(",") if p.strip())
            raise ConfigError(f"--by {name!r}: separate columns with spaces, not commas (--by {parts})")
    for name in [column, *by, *(query.columns_of(where) if where else [])]:
        if name not in names:
            raise query.unknown_column(name, sorted(names))


# More groups than this in one --by column is a mistake (an identifier or a continuous value),
# and one domain per value would exhaust memory.
MAX_GROUPS = 100


def estimate(statistic: str, column: str, where: str | None = None, by: list[str] | tuple = (),
             cycles: list[str] | tuple = (), below: float | None = None, above: float | None = None,
             percentiles: list[float] | tuple = (50,), weight: str | None = None, ci: str = "korn-graubard",
             root: str | Path | None = None, frame: pd.DataFrame | None = None, age_adjust: str | None = None,
             params: dict | None = None) -> Estimate:
    """The design-based `statistic` of `column` in the domain `where`, per group of `by`.

    proportion: of `column` below `below`, above `above`, or true (a boolean column).
    percentiles: at `percentiles` (0-100). weight: None chooses it from the variables used.
    age_adjust: a standard of params estimate.age_standards, or one written out
    ("20-39:77670,40-59:72816,60-80:45364"): the directly age-standardized mean or share beside
    the crude one, the domain restricted to the standard's ages.
    A column of the usual-intake model gets replicate SEs rerunning both steps (as `model`).
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
    if statistic != "proportion" and (below is not None or above is not None):
        raise ConfigError("--below / --above go with proportion")
    by = list(by)
    two_step = two_step_column(column)
    if frame is None or two_step or (params is None and age_adjust is not None):
        root = project_root(root)
        params = load_params(Paths(root).params) if params is None else params
    check_names(set(frame.columns) if frame is not None else known_columns(root), column, by, where)
    if weight is not None:
        weights.checked_override(weight, [column] + by + (query.columns_of(where) if where else []))
    if age_adjust is not None:
        standard = age_standard(age_adjust, params)
    refuse_two_step(statistic, column, by, where, below, above, age_adjust, two_step)
    frame = load(Path(root)) if frame is None else frame.copy()
    for name in by:
        levels = frame[name].nunique()
        if levels > MAX_GROUPS:
            raise ConfigError(f"--by {name}: {levels} distinct values (at most {MAX_GROUPS}); group a number column "
                              "first (e.g. age_group for age) or narrow the domain with --where")
    used = [column] + by + (query.columns_of(where) if where else [])
    if two_step:
        frame = weights.usual_model_frame(frame, params, cycles, column)
    weighting = weights.analysis_weight(frame, used, weight, cycles, where, by)
    frame["_weight"], weight, reason = weighting.values, weighting.column, weighting.reason

    y, label = outcome(frame, statistic, column, below, above)
    domain = frame["_weight"] > 0
    if where:
        domain &= query.evaluate(where, frame)
    for name in by:
        domain &= frame[name].notna()
    notes = list(weighting.notes)
    if age_adjust is not None:
        frame["_age_standard"] = standard.groups(frame["age"])
        inside_ages = domain & frame["_age_standard"].notna()
        if domain.any() and not inside_ages.any():
            raise DataError(f"--age-adjust {standard.name}: the standard covers ages {standard.ages}, and no one in "
                            f"the domain ({where or 'everyone'}) is of those ages; choose a standard whose ages the "
                            "domain covers, or write one (e.g. \"1-11:...,12-19:...\")")
        outside = int((domain & ~inside_ages).sum())
        domain = inside_ages
        if outside:
            notes.append(f"age adjustment: {outside:,} participant(s) outside the standard's ages "
                         f"({standard.ages}) left out of the domain")
    if two_step:
        inside = frame["in_usual_calibration"].fillna(False).astype(bool)
        if (domain & ~inside).any():
            notes.append(f"{int((domain & ~inside).sum()):,} participant(s) outside the usual-intake model's domain "
                         "left out (its columns exist only there)")
        domain &= inside
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
    lonely = one_psu_strata(frame, by)
    if lonely:
        notes.append(lonely)
    if statistic == "total":
        notes.append(TOTAL_CI)
    question = (f"{statistic} of {label}" + (f" where {where}" if where else "") + (f" by {', '.join(by)}" if by else "")
                + (f" in {', '.join(weighting.cycles)}" if cycles or (where and "cycle" in query.columns_of(where))
                   else ""))
    if two_step:
        from analysis.commands import usual_estimates

        table, variance = usual_estimates.replicate_table(frame, params, Paths(Path(root)), statistic, column, label, by)
        return Estimate(question, table, weight, reason, "", int(domain.sum()), missing, notes, variance)
    from analysis.survey.design import SurveyData

    table = compute(SurveyData(frame), statistic, y, label, by, percentiles, ci)
    if age_adjust is not None:
        table = pd.concat([table, adjusted(SurveyData(frame), statistic, y, label, by, standard)], ignore_index=True)
        table = table.sort_values("group", kind="stable").reset_index(drop=True)
        notes.append(f"age-adjusted: direct standardization to {standard.name} ({standard.description}); "
                     "SEs linearized as R's svystandardize; CIs t-based"
                     + (" (logit for shares)" if statistic == "proportion" else ""))
    return Estimate(question, table, weight, reason, ci if statistic == "proportion" else "", int(domain.sum()), missing,
                    notes)


def two_step_column(column: str) -> bool:
    """Whether `column` is a per-person prediction of the usual-intake model (its SEs need both steps)."""
    from analysis.commands.modeling import usual_columns

    return column in usual_columns()


def refuse_two_step(statistic: str, column: str, by: list[str], where: str | None, below, above, age_adjust,
                    two_step: bool) -> None:
    """What a usual-intake prediction cannot answer without being wrong."""
    refuse_usual_domains(by + (query.columns_of(where) if where else []), "--where or --by")
    if not two_step:
        return
    if statistic == "percentiles" or below is not None or above is not None:
        raise ConfigError(f"{statistic} of {column}: {column} is each person's expected usual intake given their "
                          "recalls, pulled toward the mean, so its percentiles and shares above or below a value "
                          "understate the population's spread. The usual-intake distribution (share below the EAR, "
                          "percentiles) is in reports/tables/usual_intake.csv; the mean (or, for a P(...) column, "
                          "the mean probability = the share) is offered here")
    if age_adjust is not None:
        raise ConfigError(f"--age-adjust with {column}: age standardization of usual-intake predictions is not "
                          "offered (it would need both steps rerun per age group); use --by age_group")


def refuse_usual_domains(names: list[str], arguments: str) -> None:
    """A domain or group defined by a usual-intake prediction is refused (`estimate` and `model`)."""
    predictions = [name for name in names if two_step_column(name)]
    if predictions:
        raise ConfigError(f"{', '.join(predictions)} in {arguments}: a domain defined by a usual-intake prediction "
                          "changes with the model on every replicate, and its SEs would ignore that; not offered. "
                          "Use the observed columns (e.g. mg_adequate) to define domains")


def one_psu_strata(frame: pd.DataFrame, by: list[str]) -> str:
    """A note, in words, when the domain (or a group of it) sits in one PSU of some design strata."""
    inside = frame[frame["_domain"]]
    keys = [GROUP] if by else []
    psus = inside.groupby(keys + ["sdmvstra"], observed=True)["sdmvpsu"].nunique()
    lonely = int((psus == 1).sum())
    if not lonely:
        return ""
    what = f"{lonely} stratum × group pair(s)" if by else f"{lonely} design stratum/strata"
    return (f"note: in {what} the domain's participants sit in one PSU. As R's survey does for a domain "
            "(subset()), the stratum's other PSUs stay in the variance with zero values, and the stratum adds "
            "nothing to the degrees of freedom: nothing is dropped, but those SEs and CIs rest on fewer PSUs")


@dataclass(frozen=True)
class AgeStandard:
    """A standard population for direct age adjustment: groups [label, first age, last age] and shares."""

    name: str
    groups_spec: tuple[tuple[str, float, float], ...]
    shares: dict[str, float]

    @property
    def ages(self) -> str:
        low, high = self.groups_spec[0][1], self.groups_spec[-1][2]
        return f"{low:g} and over" if high >= 120 else f"{low:g} to {high:g}"

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
        if (survey.frame.loc[survey.frame["_domain"], y].astype(float) >= 0).all():
            positive = result["estimate"] > 0  # a count or an amount: its interval on the log scale
            low, high = interval(result["estimate"][positive], result["std_error"][positive], result["df"][positive],
                                 scale="log")
            result.loc[positive, "ci_low"], result.loc[positive, "ci_high"] = low, high
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

