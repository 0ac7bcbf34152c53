"""Real data's quirks, each with a written rule and a count: reports/tables/data_rules.csv.

Genuine NHANES files hold what a simulation lacks: recalls CDC marks not reliable, a day 2
without a usable day 1, days with no magnesium at all, supplement users whose products lack a
nutrient, values below an assay's detection limit, scans that are not valid, questionnaire
codes for "refused" and "don't know", and zeros SAS stored as 5.4e-79. Each case has one rule
here (what the pipeline does with it) and is counted per cycle, for everyone and for the
examined adults (in_adults) the analyses start from, so nothing changes or disappears silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from analysis.data.nutrients import load_registry
from analysis.data.raw import ReadCounts

COLUMNS = ["rule", "variables", "what_the_pipeline_does", "n", "n_examined_adults", "by_cycle"]

# (affected count per participant) = condition(raw frame, analytic frame)
Condition = Callable[[pd.DataFrame, pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class Rule:
    name: str
    variables: str
    action: str
    condition: Condition


def _recall_not_reliable(day: int) -> Condition:
    status = f"DR{day}DRSTZ"
    return lambda r, a: r[status].notna() & (r[status] != 1)


def _zero_on_reliable_day(day1: str, day2: str) -> Condition:
    """Person-days with a reliable recall and 0 of the nutrient (0, 1 or 2 per person); none where
    the variable was not read (an optional registry nutrient the files lack)."""
    def count(r: pd.DataFrame, a: pd.DataFrame) -> pd.Series:
        zero = [(r[reliable] == 1) & (r[amount] == 0) for reliable, amount in (("DR1DRSTZ", day1), ("DR2DRSTZ", day2))
                if amount in r]
        return sum((z.astype(int) for z in zero), pd.Series(0, index=r.index))
    return count


def _user_without_nutrient(count: str, nutrient: str) -> Condition:
    return lambda r, a: (r[count] > 0) & r[nutrient].isna()


def _supplement_interview_missing(r: pd.DataFrame, a: pd.DataFrame) -> pd.Series:
    """Only in cycles with 24-hour supplement recalls (none before 2007-2008)."""
    recalled = r.groupby("cycle")["DS1DSCNT"].transform(lambda s: s.notna().any()).astype(bool)
    return (r["DR1DRSTZ"] == 1) & r["DS1DSCNT"].isna() & recalled


RULES: list[Rule] = [
    Rule("recall_day1_not_reliable", "DR1DRSTZ (DR1TOT)",
         "Day-1 nutrient totals are used only where DR1DRSTZ = 1 (2 not reliable, 4 breast-fed infant, "
         "5 not done leave them missing; CDC gives such people no day-1 weight); those adults leave every "
         "intake analysis at flow step has_recall_day1.", _recall_not_reliable(1)),
    Rule("recall_day2_not_reliable", "DR2DRSTZ (DR2TOT)",
         "Day-2 totals are used only where DR2DRSTZ = 1; a person with a reliable day 1 only enters the "
         "usual-intake model with one recall and has no two-day mean.", _recall_not_reliable(2)),
    Rule("recall_day2_without_day1", "DR1DRSTZ, DR2DRSTZ",
         "A reliable day 2 without a reliable day 1 is not used: the usual-intake model and the two-day "
         "mean need day 1 (CDC's day-1 and two-day weights are 0 for these people).",
         lambda r, a: (r["DR2DRSTZ"] == 1) & (r["DR1DRSTZ"] != 1)),
    Rule("zero_magnesium_recall_day", "DR1TMAGN, DR2TMAGN",
         "A reliable recall day with 0 mg magnesium is a real zero and kept in one-day analyses; the "
         "usual-intake model's Box-Cox needs positive amounts, so it sets a zero to half the smallest "
         "positive amount of that nutrient (NCI). Counted in person-days.",
         _zero_on_reliable_day("DR1TMAGN", "DR2TMAGN")),
    Rule("zero_calcium_recall_day", "DR1TCALC, DR2TCALC", "As for magnesium (person-days).",
         _zero_on_reliable_day("DR1TCALC", "DR2TCALC")),
    Rule("zero_vitamin_d_recall_day", "DR1TVD, DR2TVD", "As for magnesium (person-days).",
         _zero_on_reliable_day("DR1TVD", "DR2TVD")),
    Rule("zero_energy_recall_day", "DR1TKCAL, DR2TKCAL", "As for magnesium (person-days).",
         _zero_on_reliable_day("DR1TKCAL", "DR2TKCAL")),
    Rule("zero_magnesium_some_calcium", "mg_total_mg, ca_total_mg",
         "Day-1 total magnesium 0 with calcium > 0: the Ca:Mg ratio is infinite, so it counts as a high "
         "ratio (the comparison is calcium > 2.8 x magnesium); ca_mg_ratio itself is left missing.",
         lambda r, a: (a["mg_total_mg"] == 0) & (a["ca_total_mg"] > 0)),
    Rule("zero_ca_and_mg", "mg_total_mg, ca_total_mg",
         "Day-1 total calcium and magnesium both 0: no ratio (0/0), so the person leaves the day-1 C5 "
         "models (domain in_main_ratio) and stays in every other analysis.",
         lambda r, a: (a["mg_total_mg"] == 0) & (a["ca_total_mg"] == 0)),
    *[Rule(f"supplement_user_without_{label}_{instrument}", f"{count}, {nutrient} ({instrument})",
           f"A reported supplement user ({count} > 0) whose {instrument} {label} is blank took no product "
           f"containing it: CDC leaves the total blank then, and the pipeline sets it to 0.",
           _user_without_nutrient(count, nutrient))
      for instrument, count, prefix in [("DS1TOT", "DS1DSCNT", "DS1T"), ("DS2TOT", "DS2DSCNT", "DS2T"),
                                        ("DSQTOT", "DSDCOUNT", "DSQT")]
      for label, suffix in [("magnesium", "MAGN"), ("vitamin_d", "VD"), ("calcium", "CALC")]
      for nutrient in [prefix + suffix]],
    Rule("supplement_interview_missing", "DS1DSCNT (DS1TOT)",
         "A reliable day-1 food recall without the day-1 supplement questions: supplement amounts stay "
         "missing (not 0), and the person leaves the intake analyses at flow step has_intake.",
         _supplement_interview_missing),
    Rule("pregnancy_not_ascertained", "RIDEXPRG (DEMO)",
         "RIDEXPRG = 3 (cannot ascertain): counted as not pregnant; only RIDEXPRG = 1 is excluded.",
         lambda r, a: r["RIDEXPRG"] == 3),
    Rule("vitd_below_detection", "LBDVIDLC (VID)",
         "25(OH)D below the detection limit (LBDVIDLC = 1): kept at CDC's fill value (limit / sqrt 2).",
         lambda r, a: r["LBDVIDLC"] == 1),
    Rule("crp_below_detection", "LBXCRP (CRP), LBXHSCRP, LBDHRPLC (HSCRP)",
         "CRP below the detection limit (hs-CRP: LBDHRPLC = 1; standard CRP: below 0.02 mg/dL): kept at "
         "CDC's fill value (limit / sqrt 2) and flagged crp_below_detection; log CRP uses that value and "
         "'CRP > 3 mg/L' is unaffected.", lambda r, a: a["crp_below_detection"].fillna(False).astype(bool)),
    Rule("femur_scan_not_complete", "DXAFMRST (DXXFEM)",
         "Femur BMD only from complete scans (DXAFMRST = 1); partial (2), invalid (3), not done (4) and "
         "exempt (5) scans leave it missing (flow step has_femur_dxa).",
         lambda r, a: r["DXAFMRST"].notna() & (r["DXAFMRST"] != 1)),
    Rule("aac_score_not_valid", "DXXAACTV (DXXAAC)",
         "An aortic calcification score counts only where DXXAACTV = 0 (a valid total score); other "
         "codes leave it missing (flow step has_aac_score).",
         lambda r, a: r["DXXAACTV"].notna() & (r["DXXAACTV"] != 0)),
    Rule("mortality_not_linked", "ELIGSTAT (MORT)",
         "Only ELIGSTAT = 1 is linked to the National Death Index; 2 (under 18: NCHS does not release their "
         "linkage) and 3 (too little identifying data) have no mortality follow-up and leave the mortality "
         "models at flow step mort_linked.", lambda r, a: r["ELIGSTAT"].isin([2, 3])),
    Rule("mortality_alive_censored", "MORTSTAT (MORT)",
         "Linked and alive on 31 December 2019 (MORTSTAT = 0): censored at the end of follow-up.",
         lambda r, a: (r["ELIGSTAT"] == 1) & (r["MORTSTAT"] == 0)),
    Rule("mortality_other_cause_censored", "MORTSTAT, UCOD_LEADING (MORT)",
         "A death of a cause outside params clean.mortality.cvd_causes is censored at death in the "
         "cardiovascular models (cause-specific hazard) and an event in the all-cause models.",
         lambda r, a: a["died"].fillna(False).astype(bool) & a["died_cvd"].eq(False).fillna(False).astype(bool)),
    Rule("mortality_death_without_cause", "MORTSTAT, UCOD_LEADING (MORT)",
         "A death whose underlying cause is blank: whether it was cardiovascular is unknown, so the person "
         "leaves the mortality models at flow step has_followup (not counted as either).",
         lambda r, a: (r["MORTSTAT"] == 1) & r["UCOD_LEADING"].isna() & (r["ELIGSTAT"] == 1)),
    Rule("mortality_cerebrovascular_death", "UCOD_LEADING = 005 (MORT)",
         "A cerebrovascular death (005) counts as cardiovascular. NCHS's 2015-2018 public files code no 005 "
         "(only 001, 002, 010), so those cycles' strokes are not counted; died_heart (001 only) means the "
         "same in every cycle and is the sensitivity analysis.",
         lambda r, a: (r["MORTSTAT"] == 1) & (r["UCOD_LEADING"] == 5)),
    Rule("mortality_cause_coarsened", "UCOD_LEADING = 010 (MORT), 2015-2018",
         "Deaths coded 010 (all other causes) in the 2015-2018 files, where NCHS merged every cause but "
         "heart disease and cancer into 010: some are cerebrovascular and counted as non-cardiovascular.",
         lambda r, a: (r["MORTSTAT"] == 1) & (r["UCOD_LEADING"] == 10) & r["cycle"].isin(["2015-2016", "2017-2018"])),
    Rule("mortality_followup_zero", "PERMTH_EXM (MORT)",
         "0 months from the exam (died or censored in the exam month): kept at 0, in the risk set at time 0 "
         "as R's coxph keeps it.", lambda r, a: a["followup_exam_months"] == 0),
    Rule("mortality_linked_not_examined", "PERMTH_EXM (MORT)",
         "Linked but not examined: no months from the exam (PERMTH_EXM '.'); they leave at flow step examined.",
         lambda r, a: (r["ELIGSTAT"] == 1) & r["PERMTH_EXM"].isna()),
    Rule("bmi_extreme", "BMXBMI (BMX)",
         "A BMI below 10 or above 100 kg/m2 (CDC's published values: a 4-year-old of 135.2 cm and 14.6 kg in "
         "2001-2002, a man of 371 kg in 2005-2006) is kept as published; the range check allows 5-150.",
         lambda r, a: (r["BMXBMI"] < 10) | (r["BMXBMI"] > 100)),
    Rule("vitd_supplement_above_cap", "DS1TVD (DS1TOT)",
         "Supplemental vitamin D above params clean.vitd_supp_cap_ug (250 ug/day) is kept in vitd_supp_ug "
         "and capped in the dose models (vitd_supp_ug_capped).",
         lambda r, a: a["vitd_supp_ug"] > a["vitd_supp_ug_capped"]),
]
# Zero recall days of every other nutrient of the registry (the adequacy analyses model them all).
RULES += [Rule(f"zero_{n.name}_recall_day", f"DR1T{n.code}, DR2T{n.code}",
               "As for magnesium (person-days). The adequacy analyses fit the amount-only model, which sets a zero "
               "to half the smallest positive amount, where at most params adequacy.two_part_above_zero_share of "
               "day-1 recalls are zero, and the two-part (episodic) model, which keeps zeros, above it.",
               _zero_on_reliable_day(f"DR1T{n.code}", f"DR2T{n.code}"))
          for n in load_registry().nutrients.values() if n.name not in ("magnesium", "calcium", "vitamin_d")]

READ_RULES = {
    "sas_underflow_zero": "SAS stores some zeros as 5.397605e-79; pyreadstat already reads that value as 0, "
                          "and any other value of magnitude below params clean.sas_zero_epsilon is set to 0 "
                          "and counted here.",
    "special_code_missing": "A questionnaire code for refused (7) or don't know (9), as the catalog's "
                            "missing_codes lists for each variable, is read as missing.",
}


def _by_cycle(counts: pd.Series, cycles: pd.Series) -> str:
    per_cycle = counts.groupby(cycles).sum()
    return "; ".join(f"{cycle}: {int(n)}" for cycle, n in per_cycle.items() if n)


def table(raw: pd.DataFrame, analytic: pd.DataFrame, read_counts: ReadCounts,
          product_counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per rule: its variables, what the pipeline does, and how many it touched.
    `raw` and `analytic` share one index (analytic is derived from raw, row for row);
    `product_counts` (cycle, rule, n, description): the 30-day supplement totals' rules,
    counted in products reported (analysis/clean/thirty_day_totals.py)."""
    rows = []
    adults = analytic["in_adults"].fillna(False).astype(bool)
    cycles = analytic["cycle"]
    for rule in RULES:
        hits = pd.Series(rule.condition(raw, analytic), index=analytic.index).fillna(0).astype(int)
        rows.append({"rule": rule.name, "variables": rule.variables, "what_the_pipeline_does": rule.action,
                     "n": int(hits.sum()), "n_examined_adults": int(hits[adults].sum()),
                     "by_cycle": _by_cycle(hits, cycles)})
    read = read_counts.table()
    for name, action in READ_RULES.items():
        part = read[(read["rule"] == name) & (read["n"] > 0)]
        for variable, rows_of in (part.groupby("variable") if len(part) else [(None, part)]):
            rows.append({"rule": name, "variables": variable or "any numeric variable", "what_the_pipeline_does": action,
                         "n": int(rows_of["n"].sum()), "n_examined_adults": pd.NA,
                         "by_cycle": "; ".join(f"{c}: {int(n)}" for c, n in zip(rows_of["cycle"], rows_of["n"]))})
    if product_counts is not None and len(product_counts):
        for rule, part in product_counts.groupby("rule", sort=False):
            unit = "participants" if rule == "person_with_product_without_amount" else "products reported"
            rows.append({"rule": f"supplement_30d_{rule}", "variables": "DSQ2, DSPI, DSII (2001-2006)",
                         "what_the_pipeline_does": f"{part['description'].iloc[0][0].upper()}{part['description'].iloc[0][1:]} "
                                                   f"(counted in {unit}).",
                         "n": int(part["n"].sum()), "n_examined_adults": pd.NA,
                         "by_cycle": "; ".join(f"{c}: {int(n)}" for c, n in zip(part["cycle"], part["n"]) if n)})
    return pd.DataFrame(rows, columns=COLUMNS)
