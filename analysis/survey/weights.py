"""Which weight an estimate needs, and over which cycles it is pooled.

The weight: the one of the smallest NHANES subsample that measured every variable used
(interview < MEC examination < day-1 dietary recall < both recalls). The subsample of every
column is data: the `sample` field of analysis/clean/dictionary.yaml (the analysis-time columns
of analysis/clean/features.py included). The analyses follow the same rule (tests check it); `estimate` and
`model` apply it to any question.

The pooling: the clean stage divides every 2-year weight by the number of cycles in the table.
A question on fewer cycles — chosen with --cycles, with `cycle` in --where, or because a variable
was measured in some cycles only — needs the weight divided by the number of cycles it really
pools, or every total comes out too small. `analysis_weight` finds those cycles whichever way
they were chosen; with `cycle` among the groups, each group is one cycle and gets its 2-year weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.clean.dictionary import load_dictionary
from analysis.core.cycles import cycle_span
from analysis.core.errors import ConfigError
from analysis.survey import query

ORDER = ["interview", "mec", "day1", "day2"]
WEIGHT_OF = {"interview": "wt_int", "mec": "wt_mec", "day1": "wt_day1", "day2": "wt_day2"}
LEVEL_OF = {weight: level for level, weight in WEIGHT_OF.items()}
NAMES = {"interview": "interview weight (WTINT2YR)", "mec": "MEC exam weight (WTMEC2YR)",
         "day1": "day-1 dietary weight (WTDRD1)", "day2": "two-day dietary weight (WTDR2D)"}
SUBSAMPLES = {"interview": "everyone interviewed", "mec": "the MEC examination subsample",
              "day1": "the day-1 dietary recall subsample", "day2": "the two-recall subsample"}
def samples() -> dict[str, str]:
    table = load_dictionary()
    return dict(zip(table["column"], table["sample"]))


def weight_for(columns: list[str]) -> tuple[str, str]:
    """(weight column, reason): the weight of the most restricted subsample among `columns`."""
    known = samples()
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ConfigError(f"no subsample documented for column(s) {unknown} (analysis/clean/dictionary.yaml `sample`)")
    level = max((known[c] for c in columns), key=ORDER.index, default="interview")
    deciding = sorted(c for c in columns if known[c] == level)
    return WEIGHT_OF[level], f"{NAMES[level]}: {', '.join(deciding)} measured in that subsample"


def checked_override(weight: str, used: list[str]) -> tuple[str, str]:
    """(weight, reason) for a weight asked for with --weight: refused when it is not a survey weight
    or belongs to a larger subsample than the variables were measured in (its people outside the
    subsample have no value, and the weight does not carry that subsample's nonresponse adjustment)."""
    if weight not in LEVEL_OF:
        raise ConfigError(f"--weight {weight}: not a survey weight; use one of {', '.join(WEIGHT_OF.values())} "
                          "(or leave --weight out: the weight is chosen from the variables)")
    needed, _ = weight_for(used)
    if ORDER.index(LEVEL_OF[weight]) < ORDER.index(LEVEL_OF[needed]):
        known = samples()
        deciding = ", ".join(sorted(c for c in dict.fromkeys(used) if known[c] == LEVEL_OF[needed]))
        raise ConfigError(f"--weight {weight}: the {NAMES[LEVEL_OF[weight]]} stands for {SUBSAMPLES[LEVEL_OF[weight]]}, "
                          f"but {deciding} was measured only in {SUBSAMPLES[LEVEL_OF[needed]]}, whose weight is "
                          f"{needed}; use --weight {needed} (or leave --weight out)")
    if weight == needed:
        return weight, "chosen with --weight; the weight the variables need"
    return weight, (f"chosen with --weight: a smaller subsample than the variables need ({needed}); valid, "
                    "with fewer participants")


@dataclass
class Weighting:
    """The weight of a question: per-row values, the weight column, why, and the cycles pooled."""

    values: pd.Series
    column: str
    reason: str
    cycles: list[str]
    notes: list[str] = field(default_factory=list)


def _dedupe(cycles) -> list[str]:
    return list(dict.fromkeys(str(c) for c in cycles))


def cycles_in_where(frame: pd.DataFrame, where: str, candidates: list[str]) -> list[str]:
    """The cycles a --where condition selects through `cycle`: those for which the condition, with every
    row's cycle set to it, holds for someone (so a small domain empty in one cycle by chance still counts)."""
    columns = query.columns_of(where)
    part = frame[[c for c in columns if c in frame]].copy()
    query.evaluate(where, part)  # refuses a level the column does not have, naming its levels
    chosen = []
    for cycle in candidates:
        part["cycle"] = pd.Series(cycle, index=part.index, dtype=frame["cycle"].dtype)
        if bool(query.evaluate(where, part, check_levels=False).any()):
            chosen.append(cycle)
    return chosen


def analysis_weight(frame: pd.DataFrame, used: list[str], weight: str | None = None, cycles=(),
                    where: str | None = None, by=()) -> Weighting:
    """The weight of a question on `used` (columns), re-pooled over the cycles it covers: those of
    `cycles` (all when empty), of them those `where` selects through `cycle`, of them those in which
    every variable used was measured. With `cycle` in `by`, each group is one cycle: its 2-year weight."""
    if weight is None:
        weight, reason = weight_for(used)
    else:
        weight, reason = checked_override(weight, used)
    if weight not in frame:
        raise query.unknown_column(weight, list(frame.columns))
    available = sorted(frame["cycle"].dropna().unique())
    asked = _dedupe(cycles)
    notes = []
    if len(asked) < len(list(cycles)):
        notes.append("a cycle listed more than once in --cycles counts once")
    unknown = sorted(set(asked) - set(available))
    if unknown:
        raise ConfigError(f"--cycles {unknown}: not in the data; it has {available}")
    chosen = asked or available
    if where and "cycle" in query.columns_of(where):
        chosen = cycles_in_where(frame, where, chosen)
        if not chosen:
            raise ConfigError(f"--where {where!r}: selects no cycle of {', '.join(asked or available)}")
    present = frame[weight] > 0
    for name in dict.fromkeys(used):
        present &= frame[name].notna()
    measured = set(frame.loc[present, "cycle"].unique())
    unmeasured = [c for c in chosen if c not in measured]
    chosen = [c for c in chosen if c in measured]
    if unmeasured and chosen:
        notes.append(f"no one has {', '.join(dict.fromkeys(used))} and a positive {weight} in "
                     f"{', '.join(unmeasured)}: pooled over the {len(chosen)} cycle(s) that have")
    base = frame[weight].fillna(0.0)
    n_all = frame["cycle"].nunique()
    if "cycle" in by:
        values = pd.Series(np.where(frame["cycle"].isin(chosen), base * n_all, 0.0), index=frame.index)
        notes.append("by cycle: each cycle's estimate uses its own 2-year weight")
        return Weighting(values, weight, reason, chosen, notes)
    if len(chosen) == n_all or not chosen:
        return Weighting(base, weight, reason, chosen or available, notes)
    values = pd.Series(np.where(frame["cycle"].isin(chosen), base * n_all / len(chosen), 0.0), index=frame.index)
    return Weighting(values, weight, reason + f", pooled over {len(chosen)} cycle(s): {', '.join(sorted(chosen))}",
                     sorted(chosen), notes)


def for_cycles(frame: pd.DataFrame, cycles: list[str], available_only: bool = False) -> pd.DataFrame:
    """The analytic frame of `cycles` alone, every pooled weight re-pooled over them (the clean
    stage divided each 2-year weight by the number of cycles it holds). Cycles are independent
    samples with their own strata, so these rows are the complete design of those cycles; this
    is a choice of survey, not a domain. A cycle not in the frame is refused, or with
    `available_only` (a pipeline stage on a mirror without some cycles) left out; none at all is refused."""
    present = list(dict.fromkeys(frame["cycle"].astype(str)))
    unknown = [c for c in cycles if c not in present]
    chosen = [c for c in _dedupe(cycles) if c in present]
    if (unknown and not available_only) or not chosen:
        raise ConfigError(f"cycle(s) {unknown} are not in the analytic table (it has {sorted(present)}); "
                          "add them to params.yaml fetch.cycles")
    out = frame[frame["cycle"].isin(chosen)].reset_index(drop=True)
    if len(chosen) == len(present):
        return out
    for column in WEIGHT_OF.values():
        if column in out:
            two_year = f"{column}_2yr"
            out[column] = out[two_year] / len(chosen) if two_year in out else out[column] * (len(present) / len(chosen))
    return out


def usual_model_frame(frame: pd.DataFrame, params: dict, cycles=(), column: str = "") -> pd.DataFrame:
    """The frame of a question on a usual-intake column: the usual-intake model was fitted on the
    main analyses' cycles (params analyze.cycles), so its replicates are of that design; the rows
    of those cycles with their weights. Cycles outside it are refused, naming the model's."""
    model_cycles = [c for c in params["analyze"]["cycles"] if c in set(frame["cycle"].astype(str))]
    outside = [c for c in _dedupe(cycles) if c not in model_cycles]
    if outside:
        raise ConfigError(f"--cycles {outside}: {column or 'a usual-intake column'} comes from the usual-intake model, "
                          f"fitted on {', '.join(model_cycles)} (params analyze.cycles); choose among those")
    return for_cycles(frame, model_cycles)


def with_cycles(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """`table` with a `cycles` column: for each row, the cycles its domain (a flag column of
    `frame`, named in the row's `domain`) reaches, e.g. "2007-2010, 2015-2018" for the CRP
    models. A table that states its cycles already, or names no domain, is returned as it is."""
    if "cycles" in table or "domain" not in table:
        return table
    spans = {}
    for domain in table["domain"].dropna().unique():
        if domain in frame:
            inside = frame[domain].astype("boolean").fillna(False).to_numpy(dtype=bool)
            spans[domain] = cycle_span(sorted(frame.loc[inside, "cycle"].astype(str).unique()))
    out = table.copy()
    out["cycles"] = out["domain"].map(spans)
    return out
