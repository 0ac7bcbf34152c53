"""Every registry nutrient's intakes per person (data_clean/nutrient_intakes.parquet), for the
adequacy analyses: day-1 and day-2 amounts from foods (only from a reliable recall) and usual
daily intake from supplements (the 30-day questionnaire's average where answered, else the mean
of the 24-hour supplement recalls; 0 for non-users), the rules of the magnesium columns of
analytic.parquet applied to any nutrient.

A nutrient a cycle's files do not carry (CDC did not publish it, or the mirror lacks it) is
missing for that cycle, never 0: a supplement variable absent from every person of a cycle means
the file has no such variable, not that nobody took it.
"""

from __future__ import annotations

import pandas as pd

from analysis.clean.derive import supplement_amount, usual_supplement
from analysis.data.nutrients import Registry

FILE = "nutrient_intakes.parquet"
# (the count of supplements taken, the totals file): 30-day questionnaire, 24-hour recalls day 1, day 2
SUPPLEMENT_FILES = (("DSDCOUNT", "DSQTOT"), ("DS1DSCNT", "DS1TOT"), ("DS2DSCNT", "DS2TOT"))


def _published(values: pd.Series, cycle: pd.Series) -> pd.Series:
    """`values` where its cycle has any value at all (else the cycle's file lacks the variable)."""
    return values.where(_cycle_has(values, cycle))


def build(raw: pd.DataFrame, registry: Registry) -> pd.DataFrame:
    """One row per participant of `raw` (the harmonized, merged files): seqn, cycle and
    <nutrient>_day1, <nutrient>_day2, <nutrient>_supplement for every nutrient."""
    out = pd.DataFrame({"seqn": raw["SEQN"].astype("int64"), "cycle": raw["cycle"].astype("string")})
    day1_reliable = raw["DR1DRSTZ"] == 1
    day2_reliable = raw["DR2DRSTZ"] == 1
    cycle = raw["cycle"]
    columns = {}
    for n in registry.nutrients.values():
        v = n.variables()
        columns[n.day1_column] = _published(raw[v["DR1TOT"]], cycle).where(day1_reliable)
        columns[n.day2_column] = _published(raw[v["DR2TOT"]], cycle).where(day2_reliable)
        if n.supplement:
            thirty_day, day1, day2 = (supplement_amount(raw[count], raw[v[file]])
                                      .where(_cycle_has(raw[v[file]], cycle))
                                      for count, file in SUPPLEMENT_FILES)
            columns[n.supplement_column] = usual_supplement(thirty_day, day1, day2)
        else:
            columns[n.supplement_column] = pd.Series(float("nan"), index=raw.index)
    return pd.concat([out, pd.DataFrame(columns, index=raw.index)], axis=1)


def _cycle_has(values: pd.Series, cycle: pd.Series) -> pd.Series:
    """True for the rows of cycles where the variable has any value (the file carries it)."""
    return values.notna().groupby(cycle).transform("any")
