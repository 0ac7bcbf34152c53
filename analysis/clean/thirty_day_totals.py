"""CDC's 30-day supplement totals (DSQTOT's DSQT<code> of every nutrient of
supplement_ingredients.yaml: magnesium, vitamin D, calcium and 13 more) for the cycles CDC
published none for (2001-2006), computed from file 2 and the supplement database, so every
later step reads one set of variables whichever cycle a participant is from."""

from __future__ import annotations

import pandas as pd

from analysis.clean import supplement_amounts
from analysis.core.errors import DataError
from analysis.data.nutrients import load_registry

# supplement_ingredients.yaml nutrient -> the DSQTOT variable it stands in for (the registry's code)
TOTAL_OF = {n.name: f"DSQT{load_registry().get(n.name).code}" for n in supplement_amounts.load_nutrients()}
PERSON_RULE = ("person_with_product_without_amount",
               "a participant with at least one product that gives no amount of a nutrient: the total counts "
               "the products that give one (as CDC's DSQTOT does); counted per person")


def compute(products: dict[str, pd.DataFrame], dspi: pd.DataFrame | None,
            dsii: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(totals: cycle, SEQN and the DSQTOT variables, one row per person with a product;
    counts: cycle, rule, n, description) from file 2 by cycle and the database."""
    nutrients = supplement_amounts.load_nutrients(list(TOTAL_OF))
    if products and (dspi is None or dsii is None):
        raise DataError("30-day supplement file 2 (DSQ2) is in data_raw/ but the supplement database "
                        "(1999-2000/DSPI.XPT, DSII.XPT) is not: add DSPI and DSII to params.yaml fetch.components")
    totals, counts = [], []
    for cycle, rows in sorted(products.items()):
        amounts = supplement_amounts.product_amounts(rows, dspi, dsii, nutrients)
        per_person = supplement_amounts.person_totals(amounts, nutrients).rename(columns=TOTAL_OF)
        per_person.insert(0, "cycle", cycle)
        totals.append(per_person)
        rule_counts = supplement_amounts.rule_counts(amounts, nutrients, cycle)
        missing = amounts["status"] != "ok"
        for nutrient in nutrients:
            missing |= amounts[f"{nutrient.name}_unit_unknown"] | amounts[f"{nutrient.name}_form_unknown"]
        person = pd.DataFrame([{"cycle": cycle, "rule": PERSON_RULE[0],
                                "n": int(amounts.loc[missing, "SEQN"].nunique()), "description": PERSON_RULE[1]}])
        counts += [rule_counts, person]
    columns = ["cycle", "SEQN", *TOTAL_OF.values()]
    return (pd.concat(totals, ignore_index=True) if totals else pd.DataFrame(columns=columns),
            pd.concat(counts, ignore_index=True) if counts else pd.DataFrame(columns=["cycle", "rule", "n", "description"]))


def fill(raw: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """The raw frame with the computed totals in DSQTOT's variables, for the cycles they were
    computed for; a cycle where CDC published DSQTOT keeps CDC's (both present is refused)."""
    if not len(totals):
        return raw
    out = raw.copy()
    for variable in TOTAL_OF.values():  # a variable no file of the mirror carries starts missing
        if variable not in out:
            out[variable] = float("nan")
    computed = set(totals["cycle"])
    published = out["cycle"].isin(computed) & out[list(TOTAL_OF.values())].notna().any(axis=1)
    if published.any():
        raise DataError(f"cycle(s) {sorted(set(out.loc[published, 'cycle']))}: both CDC's DSQTOT and 30-day file 2 "
                        "are in data_raw/; keep one (params.yaml fetch.components)")
    keyed = out[["cycle", "SEQN"]].merge(totals, on=["cycle", "SEQN"], how="left", validate="one_to_one")
    for variable in TOTAL_OF.values():
        out[variable] = out[variable].combine_first(pd.Series(keyed[variable].to_numpy(), index=out.index))
    return out
