"""Which weight an estimate needs: the one of the smallest NHANES subsample that measured every
variable it uses (interview < MEC examination < day-1 dietary recall < both recalls), each
divided by the number of cycles pooled (the clean stage does that). The subsample of every
column is data: the `sample` field of analysis/dictionary.yaml. The analyses follow the same
rule (tests check it); `estimate` applies it to any question."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.dictionary import load_dictionary
from analysis.errors import ConfigError

ORDER = ["interview", "mec", "day1", "day2"]
WEIGHT_OF = {"interview": "wt_int", "mec": "wt_mec", "day1": "wt_day1", "day2": "wt_day2"}
NAMES = {"interview": "interview weight (WTINT2YR)", "mec": "MEC exam weight (WTMEC2YR)",
         "day1": "day-1 dietary weight (WTDRD1)", "day2": "two-day dietary weight (WTDR2D)"}
# Columns derived at analysis time (analysis/analyses/features.py) that a user may name, with the
# subsample of the variables they are made from.
DERIVED = {"age_group": "interview", "vitd_below_30": "mec", "vitd_below_50": "mec", "vitd_below_75": "mec",
           "vitd_30_to_49": "mec", "vitd_log": "mec", "vitd_serum_per25": "mec", "crp_log": "mec",
           "crp_elevated": "mec", "aac_severe": "mec", "aac_any": "mec", "dose10": "day1", "mg_total_100": "day1",
           "mg_inadequate": "day1", "high_ca_mg_ratio": "day1", "vitd_adequate_intake": "day1"}


def samples() -> dict[str, str]:
    table = load_dictionary()
    return {**dict(zip(table["column"], table["sample"])), **DERIVED}


def weight_for(columns: list[str]) -> tuple[str, str]:
    """(weight column, reason): the weight of the most restricted subsample among `columns`."""
    known = samples()
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ConfigError(f"no subsample documented for column(s) {unknown} (analysis/dictionary.yaml `sample`)")
    level = max((known[c] for c in columns), key=ORDER.index, default="interview")
    deciding = sorted(c for c in columns if known[c] == level)
    return WEIGHT_OF[level], f"{NAMES[level]}: {', '.join(deciding)} measured in that subsample"


def analysis_weight(frame: pd.DataFrame, used: list[str], weight: str | None = None,
                    cycles: list[str] | tuple = ()) -> tuple[pd.Series, str, str]:
    """(weights, weight column, reason) for a question on `used`: the subsample's weight (or the
    one asked for), re-pooled over `cycles` when only some of the cycles at hand are wanted (the
    clean stage divided it by all of them)."""
    from analysis import query

    if weight is None:
        weight, reason = weight_for(used)
    else:
        reason = "chosen with --weight"
    if weight not in frame:
        raise query.unknown_column(weight, list(frame.columns))
    if not cycles:
        return frame[weight].fillna(0.0), weight, reason
    unknown = sorted(set(cycles) - set(frame["cycle"].unique()))
    if unknown:
        raise ConfigError(f"--cycles {unknown}: not in the data; it has {sorted(frame['cycle'].unique())}")
    pooled = np.where(frame["cycle"].isin(cycles), frame[weight] * frame["cycle"].nunique() / len(cycles), 0.0)
    return pd.Series(pooled, index=frame.index), weight, reason + f", re-pooled over {len(cycles)} cycle(s)"
