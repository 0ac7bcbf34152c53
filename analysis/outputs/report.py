"""The report stage: figures from the tables, then the report as static pages that open from
disk (figures embedded): a front page a reviewer reads first (reports/index.html: the data used,
the claim table, the main figure, links), the findings claim by claim, the replications, the
methods and the data (PAGES).

Everything shown is read from files the earlier stages wrote (tables, claims, manifest,
params), so each number on the page can be traced to a CSV and from there to its model.
"""

from __future__ import annotations

import base64
import html
import re
import logging
import subprocess
from importlib import metadata, resources
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from analysis.core import atomic
from analysis.outputs import figures
from analysis.claims import findings
from analysis.core import parallel
from analysis.core.config import Paths, load_yaml
from analysis.core.errors import DataError
from analysis.claims.registry import NOT_TESTABLE_FILES
from analysis.data.catalog import load_catalog
from analysis.core.cycles import cycle_span
from analysis.data.fetch import ABSENT_IN_CYCLE, RECORDED, VERIFIED, read_manifest

log = logging.getLogger(__name__)

FIGURES = {
    "dose_response": "25(OH)D against supplemental vitamin D by magnesium adequacy",
    "forest_supplement_effect": "Supplement-25(OH)D difference by magnesium group: usual intake (primary) and "
                                "day-1 sensitivity analyses",
    "mg_usual_distribution": "Magnesium intake against the EAR: one day, two-day mean and usual intake",
    "vitd_percentiles": "25(OH)D percentiles by usual magnesium adequacy: the cited trial's question (C1b)",
    "calcification_by_dose": "Severe aortic calcification by vitamin D dose band within magnesium groups (C9)",
    "crp_by_vitd": "C-reactive protein against serum 25(OH)D (C10)",
    "mortality_hazard_ratios": "Hazard ratios of cardiovascular and all-cause death (C11)",
    "mortality_survival": "Weighted survival by joint magnesium and 25(OH)D adequacy (C11)",
    "prevalence_by_mg_quartile": "Low 25(OH)D by magnesium intake quartile",
    "mg_intake_distribution": "Magnesium intake against the EAR",
    "bone_or": "Osteoporosis odds ratios by joint intake adequacy",
    "trends_by_cycle": "Trends by survey cycle",
    "supplement_models": "Supplement association by magnesium supplement use (supplemental magnesium only)",
    "exclusion_flow": "Exclusion flow",
    "deng_replication": "Deng et al. 2013 replicated: intake quartiles and vitamin D status, NHANES 2001-2006",
    "adequacy": "Which nutrients people fall short of: usual intake below the EAR",
}
# What each figure plots, for whom and with which weight (its caption and its image's alt text).
CAPTIONS = {
    "adequacy": "Share of everyone aged 1 and over (left) and of each DRI life-stage group (right) whose usual intake "
                "is below the Estimated Average Requirement; iron by the probability approach. Usual intake by the NCI "
                "amount-only model, foods alone and foods + the person's 30-day supplement average (shrink then add); "
                "one day's recall beside as sensitivity; 95% CIs from jackknife replicates refitting the model; "
                "cells NCHS would suppress are blank. Day-1 dietary weight (WTDRD1), "
                "reports/tables/adequacy.csv.",
    "dose_response": "Mean serum 25(OH)D by supplemental vitamin D band (points, design-based means) and as fitted for "
                     "the reference adult (lines: linear and spline models), by magnesium adequacy on day-1 intake. "
                     "Adults 20+ of the main domain (in_main); day-1 dietary weight (WTDRD1).",
    "forest_supplement_effect": "Difference in mean 25(OH)D, vitamin D supplement users minus non-users, within adults "
                                "whose magnesium is adequate and not: usual intake (regression calibration, jackknife "
                                "SEs rerunning both steps) above the day-1 sensitivity analyses; adjusted for the "
                                "covariates listed in the tables. Adults 20+ (in_main); day-1 dietary weight (two-day "
                                "weight for the two-day row; the unweighted row as labelled).",
    "mg_usual_distribution": "Magnesium intake of adults 20+: percentiles 5-95 (thin) and 25-75 (thick), median (dot) "
                             "and the share below the EAR, from one day's recall, the two-day mean and the usual-intake "
                             "model; food alone and food + supplements. Day-1 dietary weight (two-day weight for the "
                             "two-day mean).",
    "vitd_percentiles": "Difference in 25(OH)D percentiles between adults whose usual magnesium is adequate and not: all "
                        "adults, and within vitamin D supplement users and non-users. All adults differ more because "
                        "adults with adequate magnesium more often take vitamin D supplements. Adults 20+ (in_main); "
                        "day-1 dietary weight times the probability of each group; bootstrap CIs refitting the "
                        "usual-intake model.",
    "calcification_by_dose": "Share with severe abdominal aortic calcification (AAC-24 > 6) by supplemental vitamin D "
                             "band within magnesium groups. Adults 40+ scanned in 2013-2014 (in_aac); day-1 dietary "
                             "weight of that cycle.",
    "crp_by_vitd": "Geometric mean C-reactive protein by 25(OH)D band (points) and standardized over the covariates "
                   "(line). Adults 20+ with CRP (2007-2010, 2015-2018; in_crp); MEC weight re-pooled over those "
                   "cycles.",
    "mortality_hazard_ratios": "Hazard ratios of cardiovascular and all-cause death (design-based Cox models, adjusted "
                               "for the covariates in mortality.csv), with the verdict rule's margin. Linked adults "
                               "20+ (in_mort; in_mort_diet for intake); MEC weight for 25(OH)D alone, day-1 dietary "
                               "weight with intake.",
    "mortality_survival": "Crude survival (weighted, not adjusted for covariates) by joint magnesium and 25(OH)D "
                          "adequacy, all causes and free of cardiovascular death, with jackknife CIs. Linked adults "
                          "20+ with intake (in_mort_diet); day-1 dietary weight.",
    "prevalence_by_mg_quartile": "Share of adults with 25(OH)D below 30, 50 and 75 nmol/L by quartile of total "
                                 "magnesium intake (day 1). Adults 20+ (in_main); day-1 dietary weight.",
    "mg_intake_distribution": "Distribution of magnesium intake relative to the EAR (day 1), food alone and food + "
                              "supplements. Adults 20+ with a reliable recall; day-1 dietary weight.",
    "bone_or": "Odds ratios of osteoporosis (femoral-neck DXA, or told by a doctor) for magnesium and vitamin D intake "
               "both or one adequate vs neither, with the article's claimed odds ratio. Women 50+ (in_bone); day-1 "
               "dietary weight.",
    "trends_by_cycle": "Share with 25(OH)D below 30 and 50 nmol/L (everyone aged 1+, MEC weight) and with magnesium "
                       "intake below the EAR (adults 20+, day-1 dietary weight), by survey cycle.",
    "supplement_models": "Difference in 25(OH)D for vitamin D supplement use and per 10 µg/day, without and with a "
                         "magnesium supplement (supplemental magnesium only, no food intake). Adults 20+ with a "
                         "reliable recall (in_supp); day-1 dietary weight.",
    "exclusion_flow": "Participants remaining after each exclusion, for each analysis domain (counts, unweighted); "
                      "the same numbers as reports/tables/flow.csv.",
    "risk_surface": "Predicted share with 25(OH)D < 50 nmol/L if everyone had each combination of magnesium intake "
                    "and supplemental vitamin D, standardized over the population's own covariates (survey-weighted "
                    "logistic model); grey cells hold fewer than params risk.surface_min_n participants, where the "
                    "model extrapolates. Adults 20+ (in_main); day-1 dietary weight.",
    "deng_replication": "Odds ratios of 25(OH)D deficiency (< 30 nmol/L) and insufficiency (30 to < 50), each against "
                        ">= 50 nmol/L, for the highest vs lowest quartile of total magnesium intake (day-1 foods + "
                        "30-day supplement average) and of supplemental vitamin D, fully adjusted; ours on the "
                        "radioimmunoassay values the paper had and on CDC's LC-MS/MS-equivalent re-release, beside the "
                        "published odds ratios. Adults 20+ of NHANES 2001-2006 (in_deng); day-1 dietary weight "
                        "re-pooled over the three cycles.",
    "calibration": "Observed against predicted share with 25(OH)D < 50 nmol/L on PSU-grouped folds, for each risk "
                   "model; weighted.",
}
# Drawn by the risk stage; embedded here.
RISK_FIGURES = {
    "risk_surface": "Predicted prevalence of 25(OH)D < 50 nmol/L over magnesium intake x supplemental vitamin D",
    "calibration": "Calibration of the risk models on PSU-grouped folds",
}
PACKAGES = ["svy", "pandas", "numpy", "polars", "pyreadstat", "statsmodels", "scipy", "matplotlib", "seaborn",
            "pandera", "dvc"]


def read_table(paths: Paths, name: str) -> pd.DataFrame:
    path = paths.tables / f"{name}.csv"
    if not path.exists():
        raise DataError(f"{path}: not found; run the analyze stage first")
    return pd.read_csv(path)


def is_testable(table: pd.DataFrame) -> bool:
    return not (len(table) == 1 and "term" in table and table["term"].iloc[0] == "not testable")


def draw_figures(paths: Paths, params: dict) -> dict[str, str]:
    """Draw each figure whose tables hold estimates; return {figure: reason} for those skipped."""
    t = {name: read_table(paths, name) for name in ["dose_binned_means", "dose_curve", "sensitivity", "prevalence",
                                                    "mg_intake_distribution", "bone_or", "flow", "vitd_status",
                                                    "supplement_models", "usual_intake", "interaction_usual",
                                                    "aac_by_dose", "crp_by_vitd", "vitd_percentiles", "mortality",
                                                    "mortality_survival", "deng_replication"]}
    t["adequacy"] = adequacy_table(paths)
    ears = [band[2] for bands in params["clean"]["mg_ear_mg"].values() for band in bands if band[0] >= 19]
    makers = {
        "dose_response": (["dose_binned_means", "dose_curve"], lambda: figures.dose_response(t["dose_binned_means"], t["dose_curve"])),
        "forest_supplement_effect": (["sensitivity"], lambda: figures.forest(
            t["sensitivity"], t["interaction_usual"] if is_testable(t["interaction_usual"]) else None)),
        "mg_usual_distribution": (["usual_intake"], lambda: figures.usual_distribution(
            t["usual_intake"], (min(ears), max(ears)))),
        "vitd_percentiles": (["vitd_percentiles"], lambda: figures.vitd_percentiles(t["vitd_percentiles"])),
        "calcification_by_dose": (["aac_by_dose"], lambda: figures.calcification(t["aac_by_dose"])),
        "crp_by_vitd": (["crp_by_vitd"], lambda: figures.crp_by_vitd(t["crp_by_vitd"])),
        "mortality_hazard_ratios": (["mortality"], lambda: figures.mortality_hazard_ratios(
            t["mortality"], params["verdicts"]["C11"]["margin"])),
        "mortality_survival": (["mortality_survival"], lambda: figures.mortality_survival(t["mortality_survival"])),
        "prevalence_by_mg_quartile": (["prevalence"], lambda: figures.prevalence_by_quartile(t["prevalence"])),
        "mg_intake_distribution": (["mg_intake_distribution"], lambda: figures.mg_distribution(t["mg_intake_distribution"])),
        "bone_or": (["bone_or"], lambda: figures.bone(t["bone_or"], params["verdicts"]["C4"]["margin"])),
        "trends_by_cycle": (["vitd_status"], lambda: figures.trends(
            t["vitd_status"], t["prevalence"] if is_testable(t["prevalence"]) else None)),
        "supplement_models": (["supplement_models"], lambda: figures.supplement_models(t["supplement_models"])),
        "exclusion_flow": (["flow"], lambda: figures.flow(t["flow"])),
        "deng_replication": (["deng_replication"], lambda: figures.deng_replication(t["deng_replication"])),
        "adequacy": (["adequacy"], lambda: figures.adequacy(t["adequacy"])),
    }
    paths.figures.mkdir(parents=True, exist_ok=True)

    def draw(name: str) -> str | None:
        """Draw and save one figure (or its placeholder); the reason it was skipped, if it was."""
        sources, make = makers[name]
        target = paths.figures / f"{name}.png"
        if all(is_testable(t[s]) for s in sources):
            figures.save(make(), target)
            return None
        reason = "; ".join(t[s]["note"].iloc[0] for s in sources if not is_testable(t[s]))
        figures.save(figures.placeholder(FIGURES[name], reason), target)
        return reason

    # rendering is most of the stage: the figures are drawn side by side in forked workers (Agg, no threads)
    reasons = parallel.map_ordered(draw, list(makers), "report: figures", unit="figure")
    return {name: reason for name, reason in zip(makers, reasons) if reason is not None}


def embed(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# Columns holding counts of people, events or steps, and degrees of freedom: shown as integers.
COUNT_COLUMNS = {"n", "n_remaining", "n_excluded", "n_examined_adults", "events", "df", "step", "imputations",
                 "folds", "bytes", "rows", "cols", "n_weighted", "linked_adults", "deaths", "cardiovascular_deaths",
                 "person_years"}


def fmt(value, digits: int = 3) -> str:
    if pd.isna(value):
        return ""
    if isinstance(value, (int,)) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:,.{digits}f}"
    return html.escape(str(value))


def fmt_p(value) -> str:
    """A p-value as journals print it: "< 0.001" below 0.001, else three decimals."""
    if value == "" or pd.isna(value):
        return ""
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def fmt_cell(column: str, value, digits: int = 3) -> str:
    """A table cell formatted as what it is: counts and df as integers, p-values as p-values."""
    if value == "" or pd.isna(value):
        return ""
    if column in COUNT_COLUMNS and isinstance(value, (int, float)):
        return f"{round(float(value)):,}"
    if column == "p_value":
        return html.escape(fmt_p(value))
    return fmt(value, digits)


def table_html(frame: pd.DataFrame, columns: list[str], digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt_cell(c, r[c], digits)}</td>" for c in columns) + "</tr>"
                   for r in frame[columns].to_dict("records"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


RESULT_COLUMNS = ["model", "term", "estimate", "ci_low", "ci_high", "p_value", "df", "n", "scale"]
OPTIONAL_COLUMNS = ["analysis", "claim_id", "basis", "group_by", "group"]


def quantities(*names: str):
    """Select the rows whose structured key `quantity` is one of `names`."""
    return lambda t: t["quantity"].isin(names)


def exposures(t: pd.DataFrame) -> pd.Series:
    """Every row but the covariates' coefficients and the intercept."""
    return t["quantity"].ne("adjustment")


def key_results(paths: Paths) -> list[tuple[str, str, str]]:
    """(title, source file, html table) for the rows a reader needs first."""
    picks = [
        ("Usual intake, primary: supplement use and dose x usual magnesium adequacy (C1, C2, C3)", "interaction_usual",
         quantities("effect", "interaction", "slope", "dose", "dose_difference")),
        ("Usual intake, primary: odds ratios (C4, C5, deficiency)", "usual_or", exposures),
        ("Usual intake against one day's intake, claim by claim", "usual_vs_day1", lambda t: pd.Series(True, index=t.index)),
        ("Usual magnesium intake distribution (C6): share below the EAR and percentiles", "usual_intake",
         lambda t: t["group"].eq("all") | t["term"].str.endswith("below_ear")),
        ("Day-1 sensitivity: supplement use x magnesium adequacy (C1)", "interaction_use",
         quantities("effect", "interaction", "wald")),
        ("Day-1 sensitivity: supplemental dose x magnesium adequacy (C1)", "interaction_dose",
         quantities("effect", "interaction", "wald")),
        ("Day-1 sensitivity: dose slope among magnesium-inadequate adults (C2)", "dose_low_mg", quantities("slope")),
        ("Day-1 sensitivity: dose to reach sufficiency for the reference adult (C3)", "dose_to_sufficiency",
         quantities("dose", "dose_difference", "wald")),
        ("Day-1 sensitivity: odds of low 25(OH)D by magnesium adequacy and quartile", "deficiency_or",
         quantities("coefficient", "trend")),
        ("Day-1 sensitivity: osteoporosis, women 50+ (C4)", "bone_or", quantities("effect")),
        ("Day-1 sensitivity: calcium : magnesium ratio (C5)", "ca_mg_ratio", quantities("effect", "interaction", "wald")),
        ("Sensitivity of the main interaction", "sensitivity", lambda t: pd.Series(True, index=t.index)),
        ("25(OH)D percentiles by usual magnesium adequacy (C1b, bootstrap CIs)", "vitd_percentiles",
         lambda t: t["term"].isin(["difference", "low_minus_high"])),
        ("Aortic calcification, adults 40+, 2013-2014 (C9): per 10 µg/day supplemental vitamin D by magnesium "
         "adequacy (design df small: one cycle)", "calcification",
         quantities("effect", "interaction")),
        ("C-reactive protein (C10): geometric-mean ratios (log CRP) and odds ratios (CRP > 3 mg/L)", "inflammation",
         quantities("coefficient")),
        ("Mortality (C11): hazard ratios of cardiovascular and all-cause death (design-based Cox models, Breslow ties; "
         "the proportional-hazards checks are the ':late' rows)", "mortality",
         exposures),
        ("Supplement-only models: vitamin D supplements x magnesium supplements (C1, C2 stand-ins)", "supplement_models",
         quantities("effect", "interaction", "slope", "wald")),
        ("Vitamin D status, everyone aged 1+ (MEC weight)", "vitd_status", lambda t: t["group_by"].isin(["all", "cycle"])),
    ]
    out = []
    for title, name, select in picks:
        t = read_table(paths, name)
        if not is_testable(t):
            out.append((title, name, f"<p class='gap'>{html.escape(t['note'].iloc[0])}</p>"))
            continue
        columns = [c for c in OPTIONAL_COLUMNS if c in t] + [c for c in RESULT_COLUMNS if c in t]
        columns += [c for c in ("variance", "monte_carlo") if c in t]
        out.append((title, name, table_html(t[select(t)], columns)))
    prevalence = read_table(paths, "prevalence")
    if is_testable(prevalence):
        overall = prevalence[prevalence["group_by"] == "all"]
        out.append(("Prevalence and intake advice, all adults (C6, C7)", "prevalence",
                    table_html(overall, ["model", "estimate", "ci_low", "ci_high", "n", "domain", "weight"])))
    return out


def deng_comparisons(table: pd.DataFrame) -> list[str]:
    """One plain sentence per published odds ratio: does its direction hold, and does our CI
    (radioimmunoassay, the paper's assay) hold the published value?"""
    out = []
    top = table[(table["contrast"] == "Q4 vs Q1") & (table["group"] == "all") & table["published_or"].notna()]
    for r in top[top["assay"] == "ria"].itertuples():
        lcms = top[(top["assay"] == "lcms") & (top["exposure"] == r.exposure) & (top["outcome"] == r.outcome)]
        same_direction = (r.estimate < 1) == (r.published_or < 1)
        inside = r.ci_low <= r.published_or <= r.ci_high
        significant = r.ci_high < 1 or r.ci_low > 1
        trend = table[(table["quantity"] == "trend") & (table["group"] == "all") & (table["assay"] == "ria")
                      & (table["exposure"] == r.exposure) & (table["outcome"] == r.outcome)]
        words = (f"{r.exposure.replace('_', ' ').capitalize().replace(' d', ' D')}, {r.outcome}: published OR {r.published_or:g} "
                 f"({r.published_ci_low:g}-{r.published_ci_high:g}); ours {fmt(r.estimate)} ({fmt(r.ci_low)}-{fmt(r.ci_high)})"
                 + (f", LC-MS/MS-equivalent {fmt(lcms['estimate'].iloc[0])} ({fmt(lcms['ci_low'].iloc[0])}-"
                    f"{fmt(lcms['ci_high'].iloc[0])})" if len(lcms) else "")
                 + (f"; P for trend {fmt_p(trend['p_value'].iloc[0])} (published < 0.001)" if len(trend) else "") + ". ")
        if not same_direction:
            words += "The published direction does not hold."
        elif inside:
            words += "Same direction, and the published size lies inside our CI."
        elif significant:
            words += ("Same direction, but " + ("weaker" if abs(np.log(r.estimate)) < abs(np.log(r.published_or)) else "stronger")
                      + " than published: the published OR lies outside our CI.")
        else:
            words += "Same direction, but our CI includes 1 and excludes the published size: the published association is not reproduced."
        out.append(words)
    interaction = table[(table["quantity"] == "interaction") & (table["assay"] == "ria")]
    for r in interaction.itertuples():
        out.append(f"Magnesium x vitamin D intake interaction, {r.outcome}: ours P = {fmt_p(r.p_value)} "
                   f"(published P < 0.001).")
    return out


def deng_section(paths: Paths) -> dict:
    """The Deng et al. 2013 replication: its table (main rows, then the stratified ones) and
    the comparison with the published figures in words."""
    table = read_table(paths, "deng_replication")
    if not is_testable(table):
        return {"available": False, "reason": str(table["note"].iloc[0])}
    columns = ["assay", "outcome", "exposure", "contrast", "estimate", "ci_low", "ci_high", "p_value", "n",
               "published_or", "published_ci_low", "published_ci_high", "published_p"]
    main = table[table["group"] == "all"]
    strata = table[(table["group"] != "all") & (table["contrast"] == "Q4 vs Q1")]
    usual = table[table["exposure"] == "magnesium per 100 mg/day"]
    return {"available": True, "sentences": deng_comparisons(table), "main": table_html(main, columns),
            "usual": table_html(usual, ["assay", "outcome", "group", "estimate", "ci_low", "ci_high", "p_value", "n",
                                        "variance"]) if len(usual) else "",
            "strata": table_html(strata, ["assay", "outcome", "group", "estimate", "ci_low", "ci_high", "p_value", "n",
                                          "note"]),
            "covariates": str(main["covariates"].iloc[0]), "note": str(table["note"].iloc[0])}


def eras_section(paths: Paths, params: dict) -> dict:
    """C1 and C11 in each era with one definition, pooled, and their difference; linked
    mortality by cycle; the verdict rule that joins them to the claims."""
    table = read_table(paths, "eras")
    follow_up = read_table(paths, "mortality_follow_up")
    if not len(table):
        return {"available": False, "reason": "no era has a usual-intake model with the files at hand"}
    table["cycles"] = [cycle_span(c.split(", ")) for c in table["cycles"]]
    return {"available": True, "rule": params["eras"]["verdict_rule"].replace("_", " "),
            "table": table_html(table, ["claim_id", "outcome", "era", "cycles", "estimate", "ci_low", "ci_high", "p_value",
                                        "df", "n", "events", "note"]),
            "follow_up": table_html(follow_up, ["cycle", "linked_adults", "deaths", "cardiovascular_deaths",
                                                "person_years", "max_follow_up_years"], digits=1)}


def adequacy_table(paths: Paths) -> pd.DataFrame:
    """reports/tables/adequacy.csv, or a 'not testable' row saying why there is none (the adequacy
    stage has not run, or no nutrient has an EAR in the files at hand)."""
    path = paths.tables / "adequacy.csv"
    if not path.exists():
        reason = f"{path.relative_to(paths.root)} not found: run the adequacy stage (`dvc repro adequacy`)"
    else:
        table = pd.read_csv(path)
        if (table["measure"] == "below_ear").any():
            return table
        reason = "no nutrient with an EAR could be estimated with the files at hand"
    return pd.DataFrame([{"term": "not testable", "note": reason}])


SUMMARY_COLUMNS = {"nutrient": "nutrient", "share": "share of everyone aged 1+", "food": "usual, foods",
                   "total": "usual, foods + supplements", "day1": "one day, foods + supplements",
                   "above_ul": "above the UL (usual)", "n": "n"}


def adequacy_summary(shares: pd.DataFrame) -> pd.DataFrame:
    """One row per nutrient and share (below the EAR, above the AI or CDRR), everyone aged 1+:
    percentages with CIs from foods, foods + supplements and one day's recall, and the share above
    the UL beside: what a reader compares first."""
    def pct(rows: pd.DataFrame) -> str:
        if not len(rows):
            return "—"
        r = rows.iloc[0]
        return f"{100 * r.estimate:.1f}% ({100 * r.ci_low:.1f}–{100 * r.ci_high:.1f})"

    everyone = shares[shares["group"] == "all"]
    names = {"below_ear": "below the EAR", "above_ai": "above the AI", "above_cdrr": "above the CDRR"}
    rows = []
    for nutrient in dict.fromkeys(everyone["nutrient"]):
        mine = everyone[everyone["nutrient"] == nutrient]
        ul = mine[(mine["measure"] == "above_ul") & (mine["basis"] == "usual")]
        ul = ul[ul["source"] == "total"] if (ul["source"] == "total").any() else ul
        for measure, label in names.items():
            m = mine[mine["measure"] == measure]
            if not len(m):
                continue
            pick = lambda source, basis: m[(m["source"] == source) & (m["basis"] == basis)]  # noqa: E731
            rows.append({"nutrient": nutrient.replace("_", " "), "share": label, "food": pct(pick("food", "usual")),
                         "total": pct(pick("total", "usual")), "day1": pct(pick("total", "day1")),
                         "above_ul": pct(ul), "n": f"{int(m['n'].iloc[0]):,}"})
    return pd.DataFrame(rows).rename(columns=SUMMARY_COLUMNS)


def adequacy_section(paths: Paths, figure: dict | None) -> dict:
    """Which nutrients how many people fall short of (reports/tables/adequacy.csv): the figure,
    the overall shares in a table, and the full table by life stage collapsed."""
    table = adequacy_table(paths)
    if not is_testable(table):
        return {"available": False, "reason": str(table["note"].iloc[0]), "figure": figure}
    shares = table[table["measure"].isin(["below_ear", "above_ai", "above_ul", "above_cdrr"])].copy()
    overall = shares[(shares["group"] == "all") & (shares["basis"] == "usual")]
    skipped = table[table["measure"] == "not_estimated"]
    by_stage = shares[(shares["group_by"] == "life_stage") & (shares["basis"] == "usual")]
    published_path = paths.tables / "adequacy_published.csv"
    published = pd.read_csv(published_path) if published_path.exists() else pd.DataFrame()
    if len(published) and "agrees" in published:
        published["agrees"] = published["agrees"].map({True: "yes", False: "NO"})
    return {"available": True, "figure": figure, "overall": table_html(adequacy_summary(shares), list(SUMMARY_COLUMNS.values())),
            "published": table_html(published, ["group", "intake", "measure", "estimate", "ci_low", "ci_high",
                                                "published", "difference", "tolerance", "agrees", "note"], digits=3)
            if "estimate" in published else "",
            "published_not_run": [f"{r.source}: {r.note}" for r in published.itertuples()]
            if len(published) and "estimate" not in published else [],
            "by_stage": table_html(by_stage, ["nutrient", "source", "group", "measure", "estimate", "ci_low", "ci_high",
                                              "n", "reliability"], digits=3),
            "not_estimated": [f"{r.nutrient} ({r.source}): {r.note}" for r in skipped.itertuples()],
            "cycles": str(overall["cycles"].iloc[0]) if len(overall) else "",
            "variance": str(overall["variance"].iloc[0]) if len(overall) else ""}


def risk_section(paths: Paths) -> dict[str, str]:
    models = read_table(paths, "risk_models")
    scenarios = read_table(paths, "scenarios")
    return {
        "models": table_html(models, ["outcome", "model", "predictors", "weighted_auc", "weighted_brier",
                                      "observed_prevalence", "n", "folds", "fold_grouping"], digits=4),
        "scenarios": table_html(scenarios, [c for c in ["outcome", "term", "estimate", "ci_low", "ci_high", "n", "note"]
                                            if c in scenarios], digits=4),
    }


def strobe() -> list[dict]:
    """The STROBE checklist (analysis/outputs/strobe.yaml), each item with its links."""
    items = load_yaml(resources.files("analysis.outputs").joinpath("strobe.yaml").read_text(encoding="utf-8"))
    return [{**item, "where": list(item.get("where") or []), "note": item.get("note", "")} for item in items]


def database_components() -> list[str]:
    """Components that are CDC databases (no participants): their folder is not a survey cycle."""
    return [name for name, c in load_catalog().components.items() if c.rows == "database"]


def used_lines(fetched: pd.DataFrame) -> list[str]:
    """What the run used as short lines, one per span of cycles: "2007-2010: CRP", widest first."""
    spans: dict[str, list[str]] = {}
    for component, group in fetched.groupby("component", sort=True):
        spans.setdefault(cycle_span(list(group["cycle"])), []).append(component)
    order = sorted(spans, key=lambda s: (-sum(int(b) - int(a) + 1 for a, b in (r.split("-") for r in s.split(", "))), s))
    return [f"{span}: {', '.join(spans[span])}" for span in order]


def banner(manifest: pd.DataFrame, claims: pd.DataFrame) -> dict:
    """What this run used, in short lines: the files' provenance, the cycles of every component
    used, what the source lacked (a file CDC publishes that the mirror or download did not give;
    a component CDC never published for a cycle is not a gap) and the claims that lacked it."""
    fetched = manifest[manifest["status"].isin([VERIFIED, RECORDED])]
    provenances = sorted(fetched["provenance"].unique())
    synthetic = any("synthetic" in p.lower() for p in provenances)
    missing = manifest[~manifest["status"].isin([VERIFIED, RECORDED, ABSENT_IN_CYCLE])]
    lacking = claims.loc[claims["verdict"] == NOT_TESTABLE_FILES, "claim_id"].tolist() if len(claims) else []
    return {
        "synthetic": synthetic,
        "provenances": provenances,
        "cycles": cycle_span(sorted(fetched.loc[~fetched["component"].isin(database_components()), "cycle"].unique())),
        "used": used_lines(fetched),
        "missing": [f"{component} {cycle_span(list(group['cycle']))} ({status})"
                    for (component, status), group in missing.groupby(["component", "status"], sort=True)],
        "not_testable": lacking,
        "n_files": len(fetched),
    }


# The report's pages (file, navigation label): a front page a reviewer reads first, then the details.
PAGES = [("index.html", "Front page"), ("findings.html", "Findings, claim by claim"),
         ("replication.html", "Replications"), ("methods.html", "Methods and limits"), ("data.html", "Data and provenance")]
# Each claim's figures and key tables on the findings page (a table serving several claims sits with the first).
CLAIM_FIGURES = {"C1": ["forest_supplement_effect", "prevalence_by_mg_quartile", "supplement_models"],
                 "C1b": ["vitd_percentiles"], "C2": ["dose_response"], "C4": ["bone_or"],
                 "C6": ["mg_usual_distribution", "mg_intake_distribution", "trends_by_cycle"],
                 "C9": ["calcification_by_dose"], "C10": ["crp_by_vitd"],
                 "C11": ["mortality_hazard_ratios", "mortality_survival"]}
CLAIM_OF_TABLE = {"interaction_usual": "C1", "usual_or": "C4", "usual_intake": "C6", "interaction_use": "C1",
                  "interaction_dose": "C1", "dose_low_mg": "C2", "dose_to_sufficiency": "C3", "deficiency_or": "C1",
                  "bone_or": "C4", "ca_mg_ratio": "C5", "sensitivity": "C1", "vitd_percentiles": "C1b",
                  "calcification": "C9", "inflammation": "C10", "mortality": "C11", "supplement_models": "C1",
                  "vitd_status": "C6", "prevalence": "C6"}
MAIN_FIGURE = "forest_supplement_effect"


def link_pages(pages: dict[str, str]) -> dict[str, str]:
    """Point every in-page link ("#section") at the page that holds the section, so a section can
    move between pages without breaking a link (the STROBE checklist links to all of them)."""
    ids = {name: set(re.findall(r'id="([^"]+)"', text)) for name, text in pages.items()}
    owner: dict[str, str] = {}
    for name, found in ids.items():
        for anchor in sorted(found):
            owner.setdefault(anchor, name)

    def fix(name: str, text: str) -> str:
        def target(match: re.Match) -> str:
            anchor = match.group(1)
            if anchor in ids[name] or anchor not in owner:
                return match.group(0)
            return f'href="{owner[anchor]}#{anchor}"'
        return re.sub(r'href="#([^"]+)"', target, text)

    return {name: fix(name, text) for name, text in pages.items()}


def claim_sections(claims: pd.DataFrame, paragraphs: list[dict], figures: dict[str, dict],
                   results: list[tuple[str, str, str]]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """The findings page: per claim its finding, figures and tables; and the tables of no one claim."""
    finding = {p["claim_id"]: p["text"] for p in paragraphs}
    by_claim: dict[str, list] = {}
    other = []
    for title, source, table in results:
        claim = CLAIM_OF_TABLE.get(source)
        (by_claim.setdefault(claim, []) if claim else other).append((title, source, table))
    sections = []
    for row in claims.astype(object).where(claims.notna(), "").to_dict("records"):
        cid = row["claim_id"]
        sections.append({**row, "finding": finding.get(cid, ""),
                         "figures": [figures[n] for n in CLAIM_FIGURES.get(cid, []) if n in figures],
                         "tables": by_claim.get(cid, [])})
    return sections, other


def run(params: dict, paths: Paths) -> None:
    manifest = read_manifest(paths.raw_manifest)
    if manifest.empty:
        raise DataError(f"{paths.raw_manifest}: not found or empty; run the fetch stage first")
    skipped = draw_figures(paths, params)
    claims = pd.read_csv(paths.reports / "claims.csv")
    flow = read_table(paths, "flow")
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: resources.files("analysis.outputs").joinpath("templates", name).read_text("utf-8")),
        autoescape=True, undefined=jinja2.StrictUndefined,
    )
    figures = {n: {"name": n, "title": t, "caption": CAPTIONS[n], "src": embed(paths.figures / f"{n}.png"),
                   "skipped": skipped.get(n, "")}
               for n, t in {**FIGURES, **RISK_FIGURES}.items()}
    paragraphs = findings.paragraphs(claims, {"interaction_usual": read_table(paths, "interaction_usual"),
                                              "mortality": read_table(paths, "mortality")},
                                     params["analyze"]["mortality"]["ph_split_months"])
    sections, other_tables = claim_sections(claims, paragraphs, figures, key_results(paths))
    main_flow = flow[flow["flow"] == "main"]
    multiple_imputation = read_table(paths, "multiple_imputation")
    context = dict(
        pages=PAGES,
        banner=banner(manifest, claims),
        claims=claims.astype(object).where(claims.notna(), "").to_dict("records"),
        fmt=fmt, fmt_p=fmt_p,
        main_figure=figures.get(MAIN_FIGURE) if not skipped.get(MAIN_FIGURE) else None,
        n_main=f"{int(main_flow['n_remaining'].iloc[-1]):,}" if len(main_flow) else "0",
        sections=sections, other_tables=other_tables,
        risk_figures=[figures[n] for n in RISK_FIGURES],
        deng_figure=figures.get("deng_replication") if not skipped.get("deng_replication") else None,
        deng_placeholder=figures.get("deng_replication") if skipped.get("deng_replication") else None,
        flow_figure=figures["exclusion_flow"],
        risk=risk_section(paths),
        deng=deng_section(paths),
        eras=eras_section(paths, params),
        adequacy=adequacy_section(paths, figures.get("adequacy")),
        published_html=table_html(read_table(paths, "published_checks"),
                                  ["source", "figure", "estimate", "ci_low", "ci_high", "n", "published", "published_se",
                                   "difference", "tolerance", "agrees", "note"], digits=4),
        flow_html=table_html(flow, ["flow", "step", "criterion", "n_remaining", "n_excluded", "reason"]),
        data_rules_html=table_html(read_table(paths, "data_rules"),
                                   ["rule", "variables", "what_the_pipeline_does", "n", "n_examined_adults", "by_cycle"]),
        params=params,
        cycles=[c for c in params["analyze"]["cycles"] if c in set(manifest["cycle"])],
        manifest_html=table_html(manifest.fillna(""), ["cycle", "file", "status", "bytes", "rows", "sha256", "provenance", "retrieved_at"]),
        versions=versions(),
        params_yaml=yaml.safe_dump(params, sort_keys=False, allow_unicode=True),
        commit=git_commit(paths.root),
        strobe=strobe(),
        notebooks=[{"name": path.stem.replace("_", " "), "href": f"notebooks/{path.name}"}
                   for path in sorted((paths.reports / "notebooks").glob("*.html"))],
        imputation_html=(table_html(multiple_imputation, ["model", "term", "analysis", "estimate", "ci_low", "ci_high",
                                                          "df", "missing_information", "n"], digits=3)
                         if is_testable(multiple_imputation) else
                         f"<p class='gap'>{html.escape(str(multiple_imputation['note'].iloc[0]))}</p>"),
        evalues_html=table_html(read_table(paths, "e_values").dropna(subset=["e_value"]),
                                ["claim_id", "association", "estimate", "ci_low", "ci_high", "conversion", "e_value",
                                 "e_value_ci", "sentence"]),
    )
    pages = {name: environment.get_template(name).render(**context, here=name, page_title=label)
             for name, label in PAGES}
    for name, text in link_pages(pages).items():
        atomic.write_text(paths.reports / name, text)
    log.info("report: %s and %d more pages (%d figures)", paths.reports / "index.html", len(PAGES) - 1,
             len(FIGURES) + len(RISK_FIGURES))
