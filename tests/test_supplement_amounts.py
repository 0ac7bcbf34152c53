"""Supplement amounts per person and day from the 30-day product file and CDC's supplement
database: each rule on constructed data, then CDC's own per-product amounts (DSQIDS) and
per-person totals (DSQTOT) recomputed from the genuine files (issue 36's oracle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.clean import supplement_amounts as sa
from analysis.core.errors import DataError
from tests.conftest import CDC_MIRROR

NUTRIENTS = sa.load_nutrients(["magnesium", "vitamin_d", "calcium"])


def database() -> tuple[pd.DataFrame, pd.DataFrame]:
    dspi = pd.DataFrame({"DSDSUPID": ["1000000100", "1000000200", "1000000300", "1000000400"],
                         "DSDPID": [1.0, 2.0, 3.0, 4.0], "DSDSERVQ": [2.0, 1.0, 1.0, 1.0]})
    dsii = pd.DataFrame([
        (1, 231, "MAGNESIUM", 200.0, 1), (1, 364, "VITAMIN D", 800.0, 2), (1, 63, "CALCIUM", 500.0, 1),  # per 2 tablets
        (2, 544, "MAGNESIUM HYDROXIDE", 300.0, 1),             # magnesium hydroxide only (an antacid)
        (3, 231, "MAGNESIUM", 100.0, 1), (3, 544, "MAGNESIUM HYDROXIDE", 400.0, 1),  # elemental beside compound
        (3, 364, "VITAMIN D", 10.0, 4), (3, 1220, "CALCIUM POLYCARBOPHIL", 600.0, 1),  # calcium in another form only
        (4, 231, "MAGNESIUM", 5.0, 21),                        # an unknown unit code
    ], columns=["DSDPID", "DSDIID", "DSDINGR", "DSDQTY", "DSDUNIT"]).astype({"DSDPID": float, "DSDIID": float})
    return dspi, dsii


def products(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["SEQN", "DSDSUPID", "DSD103", "DSD122Q", "DSDANTA", "DSD122U"][:len(rows[0])])
    return frame if "DSD122U" in frame else frame.assign(DSD122U=1.0)  # tablets, unless a test says otherwise


def test_the_formula_units_and_compounds():
    dspi, dsii = database()
    out = sa.product_amounts(products([(1, "1000000100", 30.0, 1.0, 0), (1, "1000000200", 15.0, 2.0, 2),
                                       (2, "1000000300", 10.0, 1.0, 0), (3, "1000000400", 30.0, 1.0, 0)]),
                             dspi, dsii, NUTRIENTS)
    assert out["status"].tolist() == ["ok"] * 4
    # amount per serving / serving size x quantity per day: 200 mg per 2 tablets, 1 tablet a day
    assert out["magnesium_per_day_taken"].iloc[0] == pytest.approx(100.0)
    assert out["vitamin_d_per_day_taken"].iloc[0] == pytest.approx(800 / 40 / 2)  # 40 IU = 1 ug
    assert out["calcium_per_day_taken"].iloc[0] == pytest.approx(250.0)
    # an antacid listing only magnesium hydroxide: the elemental share, counted, and kept
    assert out["magnesium_per_day_taken"].iloc[1] == pytest.approx(2 * 300 * 0.41)
    assert bool(out["magnesium_compound_only"].iloc[1]) and bool(out["antacid"].iloc[1])
    # elemental magnesium listed beside the compound: the elemental row only, never both
    assert out["magnesium_per_day_taken"].iloc[2] == pytest.approx(100.0)
    assert not out["magnesium_compound_only"].iloc[2]
    assert out["vitamin_d_per_day_taken"].iloc[2] == pytest.approx(10.0)  # already in mcg
    # calcium only as a compound without a share here: no amount, and said
    assert np.isnan(out["calcium_per_day_taken"].iloc[2]) and bool(out["calcium_form_unknown"].iloc[2])
    assert not out["calcium_form_unknown"].iloc[0] and not out["magnesium_form_unknown"].iloc[1]
    # an unknown unit code gives no amount, and says so
    assert np.isnan(out["magnesium_per_day_taken"].iloc[3]) and bool(out["magnesium_unit_unknown"].iloc[3])
    totals = sa.person_totals(out, NUTRIENTS).set_index("SEQN")
    assert totals.loc[1, "magnesium"] == pytest.approx(100 * 30 / 30 + 246 * 15 / 30)
    assert totals.loc[2, "magnesium"] == pytest.approx(100 * 10 / 30)
    assert np.isnan(totals.loc[3, "magnesium"])  # no product gives an amount: missing, as in DSQTOT
    assert np.isnan(totals.loc[2, "calcium"])  # no product with calcium


def test_products_without_an_amount_say_why_and_are_counted():
    dspi, dsii = database()
    out = sa.product_amounts(products([
        (1, "6666000000", 30.0, 1.0, 0, 1.0),       # no information
        (1, "1000009900", 30.0, 1.0, 0, 1.0),       # not in the database
        (2, "1000000100", 9999.0, 1.0, 0, 1.0),     # days: don't know
        (2, "1000000100", np.nan, 1.0, 0, 1.0),     # days missing
        (3, "1000000100", 30.0, 999999.0, 0, 1.0),  # quantity: don't know
        (3, "1000000100", 20.0, 1.0, 0, 1.0),
        (4, "1000000100", 30.0, 1.0, 0, 99.0),      # a quantity in a dosage form nobody knows
    ]), dspi, dsii, NUTRIENTS)
    assert out["status"].tolist() == ["no_product_information", "not_in_database", "days_unknown", "days_unknown",
                                      "quantity_unknown", "ok", "serving_unit_unknown"]
    assert np.isnan(out["magnesium_per_day_taken"].iloc[6])  # no amount, as CDC's DSQIDS
    assert out["magnesium_per_day_taken"].iloc[:2].isna().all() and out["magnesium_per_day_taken"].iloc[4:5].isna().all()
    # a product taken on unknown days still has its amount per day taken (CDC's DSQIDS gives it) ...
    assert out["magnesium_per_day_taken"].iloc[2] == pytest.approx(100.0)
    totals = sa.person_totals(out, NUTRIENTS).set_index("SEQN")
    assert np.isnan(totals.loc[1, "magnesium"])
    assert np.isnan(totals.loc[2, "magnesium"])  # ... but none in the 30-day total, as CDC's DSQTOT
    assert totals.loc[3, "magnesium"] == pytest.approx(100 * 20 / 30)
    counts = sa.rule_counts(out, NUTRIENTS, "2005-2006").set_index("rule")["n"]
    assert counts[["no_product_information", "not_in_database", "days_unknown", "quantity_unknown",
                   "serving_unit_unknown"]].tolist() == [1, 1, 2, 1, 1]
    assert counts.sum() == 6 and set(sa.rule_counts(out, NUTRIENTS, "x")["description"].str.len() > 0) == {True}


def test_a_product_listed_twice_in_the_database_is_refused():
    dspi, dsii = database()
    twice = pd.concat([dspi, dspi.iloc[[0]].assign(DSDPID=9.0)], ignore_index=True)
    with pytest.raises(DataError, match=r"1000000100.*more than once"):
        sa.product_amounts(products([(1, "1000000100", 30.0, 1.0, 0)]), twice, dsii, NUTRIENTS)


def test_an_unknown_nutrient_is_refused_naming_the_file():
    with pytest.raises(DataError, match="supplement_ingredients.yaml: no nutrient"):
        sa.load_nutrients(["magnesium", "vitamin_z"])


# ---------------------------------------------------------------- CDC's own amounts as the oracle

def read(path, columns):
    import pyreadstat

    frame, _ = pyreadstat.read_xport(str(path), usecols=columns)
    return frame


CHECKS = [("magnesium", "DSQIMAGN", "DSQTMAGN"), ("vitamin_d", "DSQIVD", "DSQTVD"), ("calcium", "DSQICALC", "DSQTCALC")]
# (cycle, suffix, product key, least share of products equal to CDC's, of persons' totals)
CYCLES = [("2007-2008", "E", "DSDSUPID", 0.98, 0.98), ("2017-2018", "J", "DSDPID", 0.998, 0.997)]


def equal(ours: pd.Series, cdc: pd.Series) -> np.ndarray:
    """Equal to CDC's value as CDC rounds it (4 significant digits or 0.05), both missing alike."""
    return np.isclose(ours.fillna(-1), cdc.fillna(-1), rtol=0.005, atol=0.05)


@pytest.fixture(scope="module")
def oracle():
    cdc_mirror = CDC_MIRROR
    if not (cdc_mirror / "1999-2000" / "DSPI.XPT").exists():
        pytest.skip(f"genuine CDC mirror with the supplement database not found at {cdc_mirror} "
                    "(set NHANES_CDC_MIRROR to run these tests)")
    database = cdc_mirror / "1999-2000"
    dspi = read(database / "DSPI.XPT", ["DSDPID", "DSDSUPID", "DSDSERVQ"])
    dsii = read(database / "DSII.XPT", ["DSDPID", "DSDIID", "DSDINGR", "DSDQTY", "DSDUNIT"])
    out = {}
    for cycle, suffix, key, _, _ in CYCLES:
        ids = read(cdc_mirror / cycle / f"DSQIDS_{suffix}.XPT",
                   ["SEQN", key, "DSDANTA", "DSD103", "DSD122Q", "DSD122U"] + [c[1] for c in CHECKS])
        totals = read(cdc_mirror / cycle / f"DSQTOT_{suffix}.XPT", ["SEQN"] + [c[2] for c in CHECKS])
        amounts = sa.product_amounts(ids, dspi, dsii, NUTRIENTS, key=key)
        out[cycle] = (ids, totals, amounts, dsii)
    return out


@pytest.mark.parametrize("cycle,suffix,key,product_share,person_share", CYCLES)
def test_cdc_per_product_amounts_and_per_person_totals_are_reproduced(oracle, cycle, suffix, key, product_share,
                                                                      person_share):
    ids, totals, amounts, _ = oracle[cycle]
    persons = sa.person_totals(amounts, NUTRIENTS).merge(totals, on="SEQN", how="outer")
    for nutrient, product_column, total_column in CHECKS:
        ours, cdc = amounts[f"{nutrient}_per_day_taken"], ids[product_column]
        inside = ours.notna() | cdc.notna()
        assert inside.sum() > 1000
        assert equal(ours[inside], cdc[inside]).mean() >= product_share, (cycle, nutrient)
        inside = persons[nutrient].notna() | persons[total_column].notna()
        assert equal(persons.loc[inside, nutrient], persons.loc[inside, total_column]).mean() >= person_share, \
            (cycle, nutrient)


def test_the_2007_2008_differences_are_cdc_rounding_the_servings_ratio(oracle):
    """In the 2007-2008 release CDC rounded quantity / serving size to two decimals (1/3 -> 0.33,
    1/6 -> 0.17): recomputed that way, the remaining magnesium differences vanish."""
    ids, _, amounts, _ = oracle["2007-2008"]
    ours, cdc = amounts["magnesium_per_day_taken"], ids["DSQIMAGN"]
    differ = ~equal(ours, cdc) & ours.notna() & cdc.notna()
    ratio = amounts["DSD122Q"] / amounts["DSDSERVQ"]
    rounded = ours / ratio * np.floor(ratio * 100 + 0.5) / 100
    explained = equal(rounded[differ], cdc[differ])
    assert differ.sum() >= 20 and explained.mean() >= 0.95


def test_the_compound_shares_are_the_ones_cdc_applies(oracle):
    """Each magnesium compound's share (supplement_ingredients.yaml) is the ratio of CDC's amount
    to the listed compound amount, for every product listing the compound and no elemental row."""
    shares = NUTRIENTS[0].ingredients
    seen = 0
    for cycle, _, key, _, _ in CYCLES:
        ids, _, amounts, dsii = oracle[cycle]
        compound_only = amounts["magnesium_compound_only"] & ids["DSQIMAGN"].notna()
        for iid in (544, 556, 2054):
            listed = dsii[dsii["DSDIID"] == iid].set_index("DSDPID")["DSDQTY"]
            rows = compound_only & amounts["DSDPID"].isin(listed.index)
            implied = ids.loc[rows, "DSQIMAGN"] / (amounts.loc[rows, "DSDPID"].map(listed) * amounts.loc[rows, "DSD122Q"]
                                                   / amounts.loc[rows, "DSDSERVQ"])
            assert np.allclose(implied, shares[iid], rtol=0.01), (cycle, iid)
            seen += int(rows.sum())
    assert seen >= 50


# The other nutrients of supplement_ingredients.yaml (their 2001-2006 totals fill DSQTOT's
# variables for the adequacy analyses): (nutrient, CDC's code, least share of products and of
# persons equal to CDC's in both cycles).
MORE = [("zinc", "ZINC", 0.998), ("iron", "IRON", 0.997), ("vitamin_c", "VC", 0.985), ("thiamin", "VB1", 0.997),
        ("riboflavin", "VB2", 0.998), ("niacin", "NIAC", 0.99), ("vitamin_b6", "VB6", 0.997),
        ("vitamin_b12", "VB12", 0.994), ("copper", "COPP", 0.999), ("selenium", "SELE", 0.985),
        ("potassium", "POTA", 0.987), ("phosphorus", "PHOS", 0.978), ("vitamin_k", "VK", 0.973)]


@pytest.mark.parametrize("cycle,suffix,key", [c[:3] for c in CYCLES])
def test_the_other_nutrients_amounts_equal_cdcs(oracle, cycle, suffix, key):
    cdc_mirror = CDC_MIRROR
    nutrients = sa.load_nutrients([m[0] for m in MORE])
    ids = read(cdc_mirror / cycle / f"DSQIDS_{suffix}.XPT",
               ["SEQN", key, "DSDANTA", "DSD103", "DSD122Q", "DSD122U"] + [f"DSQI{m[1]}" for m in MORE])
    totals = read(cdc_mirror / cycle / f"DSQTOT_{suffix}.XPT", ["SEQN"] + [f"DSQT{m[1]}" for m in MORE])
    _, _, _, dsii = oracle[cycle]
    dspi = read(cdc_mirror / "1999-2000" / "DSPI.XPT", ["DSDPID", "DSDSUPID", "DSDSERVQ"])
    amounts = sa.product_amounts(ids, dspi, dsii, nutrients, key=key)
    persons = sa.person_totals(amounts, nutrients).merge(totals, on="SEQN", how="outer")
    for nutrient, code, least in MORE:
        ours, cdc = amounts[f"{nutrient}_per_day_taken"], ids[f"DSQI{code}"]
        inside = ours.notna() | cdc.notna()
        assert inside.sum() > 500, (cycle, nutrient)
        assert equal(ours[inside], cdc[inside]).mean() >= least, (cycle, nutrient)
        inside = persons[nutrient].notna() | persons[f"DSQT{code}"].notna()
        assert equal(persons.loc[inside, nutrient], persons.loc[inside, f"DSQT{code}"]).mean() >= least, (cycle, nutrient)
