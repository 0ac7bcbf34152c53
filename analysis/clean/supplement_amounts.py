"""Supplement amounts per person and day from CDC's 30-day product file and its supplement
database, for the cycles CDC published no per-person totals for (1999-2006).

CDC's formula (the genuine mirror's README; DSQTOT documentation): a product's amount per day
taken is its amount per serving (DSII `DSDQTY`, in `DSDUNIT`) / serving size (DSPI `DSDSERVQ`)
x quantity taken per day (file 2 `DSD122Q`); a person's daily amount averages over the past 30
days: sum over products of amount per day taken x days taken (`DSD103`) / 30. Applied to the
2007-2008 and 2017-2018 product files, the same code reproduces CDC's own per-product amounts
(DSQIDS `DSQIMAGN`, `DSQIVD`, `DSQICALC`) and per-person totals (DSQTOT), which is its test.

Every product that cannot give an amount says why (`status`, counted by `rule_counts`), and
gives none: nothing is guessed. Antacids reported in the supplement section are kept and
counted, as CDC's totals keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

from analysis.core.config import load_yaml
from analysis.core.errors import DataError

NO_INFORMATION_PREFIXES = ("6666", "7777", "9999")  # no information, refused, don't know (not in DSPI)
MAX_DAYS = 30  # DSD103 is days of the past 30; 7777 refused, 9999 don't know
QUANTITY_CODES = 999999.0  # DSD122Q: don't know
UNIT_CODES = (77.0, 99.0)  # DSD122U (dosage form of the quantity): refused, don't know
ANTACID = 2  # DSDANTA: the product was reported as an antacid
FLAGS = ("unit_unknown", "compound_only", "form_unknown")  # per nutrient, per product

RULES = {
    "no_product_information": "product ID 6666..., 7777... or 9999... (no information, refused, don't know): "
                              "not in the database, no amount",
    "not_in_database": "product ID absent from the supplement database (DSPI): no amount",
    "serving_unknown": "serving size (DSPI DSDSERVQ) missing or 0: no amount",
    "quantity_unknown": "quantity taken per day (DSD122Q) missing or don't know: no amount",
    "serving_unit_unknown": "the dosage form of the quantity (DSD122U) refused, don't know or missing: no amount, as "
                            "CDC's DSQIDS gives none (CDC edited every known quantity to the label's serving unit "
                            "before release, its DSQ documentation says, so DSD122Q / DSDSERVQ is servings)",
    "days_unknown": "days taken (DSD103) missing, refused or don't know: no amount in the person's total "
                    "(as CDC's DSQTOT)",
    "antacid": "reported as an antacid (DSDANTA 2): kept, as CDC's totals keep antacids",
    "unit_unknown": "a nutrient listed in a unit code other than mg, IU or mcg: no amount of that nutrient",
    "compound_only": "magnesium listed only as a compound (e.g. hydroxide): elemental share applied",
    "form_unknown": "the nutrient listed only in a form without an elemental share here (another compound, "
                    "a blend): no amount of it",
}


@dataclass(frozen=True)
class Nutrient:
    name: str
    unit: str
    ingredients: dict[int, float]  # DSDIID -> share of the listed amount that is the nutrient
    units: dict[int, float]  # DSDUNIT -> factor to `unit`
    word: str  # in an ingredient's name (DSDINGR): another form of the nutrient

    @property
    def elemental(self) -> set[int]:
        return {iid for iid, share in self.ingredients.items() if share == 1.0}


def load_nutrients(names: list[str] | None = None) -> list[Nutrient]:
    """The nutrients of analysis/clean/supplement_ingredients.yaml (all, or `names` in order)."""
    text = resources.files("analysis.clean").joinpath("supplement_ingredients.yaml").read_text(encoding="utf-8")
    spec = load_yaml(text)
    unknown = [n for n in (names or []) if n not in spec]
    if unknown:
        raise DataError(f"analysis/clean/supplement_ingredients.yaml: no nutrient(s) {unknown}; it has {sorted(spec)}")
    return [Nutrient(n, spec[n]["unit"], {int(k): float(v) for k, v in spec[n]["ingredients"].items()},
                     {int(k): float(v) for k, v in spec[n]["units"].items()}, spec[n]["name"])
            for n in (names or list(spec))]


def per_serving(ingredients: pd.DataFrame, nutrients: list[Nutrient]) -> pd.DataFrame:
    """Per product (DSDPID): each nutrient's amount per serving in its unit, with flags
    `<nutrient>_compound_only`, `<nutrient>_unit_unknown` and `<nutrient>_form_unknown`.
    `ingredients`: DSII rows (DSDPID, DSDIID, DSDINGR, DSDQTY, DSDUNIT)."""
    out = pd.DataFrame({"DSDPID": np.unique(ingredients["DSDPID"].to_numpy())}).set_index("DSDPID")
    iid = ingredients["DSDIID"].round().astype("Int64")
    for nutrient in nutrients:
        rows = ingredients[iid.isin(list(nutrient.ingredients)).fillna(False).to_numpy()].copy()
        rows["share"] = rows["DSDIID"].round().astype(int).map(nutrient.ingredients)
        rows["factor"] = rows["DSDUNIT"].map(nutrient.units)
        rows["elemental"] = rows["DSDIID"].round().astype(int).isin(nutrient.elemental)
        has_elemental = rows.groupby("DSDPID")["elemental"].transform("any")
        used = rows[rows["elemental"] | ~has_elemental]  # compounds only where no elemental row
        used = used.assign(amount=used["DSDQTY"] * used["share"] * used["factor"])
        grouped = used.groupby("DSDPID")
        out[nutrient.name] = grouped["amount"].sum(min_count=1)
        out[f"{nutrient.name}_unit_unknown"] = grouped["factor"].apply(lambda f: bool(f.isna().any()))
        out[f"{nutrient.name}_compound_only"] = grouped["elemental"].apply(lambda e: not bool(e.any()))
        unknown = out[f"{nutrient.name}_unit_unknown"].fillna(False).astype(bool)
        out.loc[unknown, nutrient.name] = np.nan  # part of the amount in an unknown unit: no amount
        other_form = ingredients["DSDINGR"].astype(str).str.upper().str.contains(nutrient.word, regex=False)
        other_form &= ~iid.isin(list(nutrient.ingredients)).fillna(False)
        form_only = set(ingredients.loc[other_form.to_numpy(), "DSDPID"]) - set(rows["DSDPID"])
        out[f"{nutrient.name}_form_unknown"] = out.index.isin(list(form_only))
    for column in out.columns:
        if column.endswith(("_unit_unknown", "_compound_only", "_form_unknown")):
            out[column] = out[column].fillna(False).astype(bool)
    return out


def product_amounts(products: pd.DataFrame, database: pd.DataFrame, ingredients: pd.DataFrame,
                    nutrients: list[Nutrient], key: str = "DSDSUPID") -> pd.DataFrame:
    """One row per reported product: `status` ("ok" or the rule that stops it), days taken, and
    each nutrient's amount per day taken. `products`: file-2 rows (SEQN, `key`, DSD103, DSD122Q,
    DSD122U, DSDANTA); `database`: DSPI (`key`, DSDPID, DSDSERVQ); `key`: DSDSUPID (the old product ID,
    1999-2016 files) or DSDPID (2017-2018)."""
    catalog = database.loc[database[key].astype(str).str.strip() != "", list(dict.fromkeys([key, "DSDPID", "DSDSERVQ"]))]
    if catalog[key].duplicated().any():
        duplicated = sorted(catalog.loc[catalog[key].duplicated(), key].astype(str))[:5]
        raise DataError(f"supplement database (DSPI): product ID(s) {duplicated} listed more than once; "
                        "which revision applies is undecided")
    out = products[["SEQN", key, "DSD103", "DSD122Q", "DSD122U", "DSDANTA"]].merge(catalog, on=key, how="left",
                                                                                   validate="many_to_one")
    serving = per_serving(ingredients, nutrients)
    out = out.join(serving, on="DSDPID")
    ids = out[key].astype(str).str.strip()
    quantity_known = out["DSD122Q"].notna() & (out["DSD122Q"] < QUANTITY_CODES)
    unit_known = out["DSD122U"].notna() & ~out["DSD122U"].isin(UNIT_CODES)
    status = pd.Series("ok", index=out.index)
    checks = [("days_unknown", ~(out["DSD103"] <= MAX_DAYS)),
              ("serving_unit_unknown", ~unit_known),
              ("quantity_unknown", ~quantity_known),
              ("serving_unknown", ~(out["DSDSERVQ"] > 0)),
              ("not_in_database", out["DSDPID"].isna()),
              ("no_product_information", ids.str.startswith(NO_INFORMATION_PREFIXES))]
    for rule, failing in checks:  # the last check that fails names the first reason: most basic last
        status[failing.to_numpy()] = rule
    out["status"] = status
    out["days"] = out["DSD103"].where(out["DSD103"] <= MAX_DAYS)
    ratio = (out["DSD122Q"] / out["DSDSERVQ"]).where(quantity_known & unit_known & (out["DSDSERVQ"] > 0))
    out["antacid"] = out["DSDANTA"].eq(ANTACID)
    for nutrient in nutrients:
        in_product = out[nutrient.name]
        amount = (in_product * ratio).where(out["DSDPID"].notna())
        out[f"{nutrient.name}_per_day_taken"] = amount
        for flag in FLAGS:
            out[f"{nutrient.name}_{flag}"] = out[f"{nutrient.name}_{flag}"].fillna(False).astype(bool)
    return out.drop(columns=[n.name for n in nutrients])


def person_totals(amounts: pd.DataFrame, nutrients: list[Nutrient]) -> pd.DataFrame:
    """Per person (SEQN): each nutrient's average daily amount over the past 30 days, as CDC's
    DSQTOT: sum of amount per day taken x days taken / 30 over the products with both known;
    missing where no product gives an amount (as DSQTOT leaves it blank)."""
    parts = {n.name: amounts[f"{n.name}_per_day_taken"] * amounts["days"] / MAX_DAYS for n in nutrients}
    frame = pd.DataFrame({"SEQN": amounts["SEQN"], **parts})
    return frame.groupby("SEQN").sum(min_count=1).reset_index()


def rule_counts(amounts: pd.DataFrame, nutrients: list[Nutrient], cycle: str) -> pd.DataFrame:
    """How many products each rule touched in `cycle` (the flow of the supplement amounts)."""
    rows = [{"cycle": cycle, "rule": rule, "n": int((amounts["status"] == rule).sum()), "description": RULES[rule]}
            for rule in ["no_product_information", "not_in_database", "serving_unknown", "quantity_unknown",
                         "serving_unit_unknown", "days_unknown"]]
    rows.append({"cycle": cycle, "rule": "antacid", "n": int(amounts["antacid"].sum()), "description": RULES["antacid"]})
    for nutrient in nutrients:
        for flag in FLAGS:
            rows.append({"cycle": cycle, "rule": f"{nutrient.name}_{flag}",
                         "n": int(amounts[f"{nutrient.name}_{flag}"].sum()), "description": RULES[flag]})
    return pd.DataFrame(rows)
