"""The analyze stage: every claim's analysis on data_clean/analytic.parquet, its tables in
reports/tables/, one verdict per claim in reports/claims.csv, key numbers in reports/metrics.json.

A claim whose needed NHANES component is missing from every cycle at hand is reported as
"not testable with the files at hand", naming the files; nothing is estimated from zeros.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.core import atomic
from analysis.claims import registry as claims
from analysis.clean import features
from analysis.analyses import (bone, calcification, calibrated, common, deficiency, dose, evalues, imputation,
                               inflammation, interaction, mortality, prevalence, published, quantiles, ratio,
                               sensitivity, status, supplements, usual_intake)
from analysis.core.config import Paths
from analysis.core.errors import DataError
from analysis.data.raw import RawInventory

log = logging.getLogger(__name__)

# Every table the stage writes (dvc.yaml lists the same files), and the claim (or other
# analysis) producing it; what that analysis needs decides whether it can run.
TABLES = {
    "interaction_use": "C1", "interaction_dose": "C1", "deficiency_or": "C1", "dose_low_mg": "C2",
    "dose_to_sufficiency": "C3", "dose_curve": "C3", "dose_binned_means": "C3", "bone_or": "C4",
    "ca_mg_ratio": "C5", "prevalence": "C6", "mg_intake_distribution": "C6", "sensitivity": "C1",
    "supplement_models": "supplements", "vitd_status": "status",
    "interaction_usual": "C1", "usual_or": "C1", "usual_vs_day1": "C1",
    "calcification": "C9", "aac_by_dose": "C9", "inflammation": "C10", "crp_by_vitd": "C10",
    "e_values": "status", "multiple_imputation": "C1", "vitd_percentiles": "C1b",
    "published_checks": "published", "mortality": "C11", "mortality_survival": "C11",
}
OTHER_NEEDS = {"supplements": ("DEMO", "VID", "DS1TOT"), "status": ("DEMO", "VID"), "published": ("DEMO",)}
CLAIM_COLUMNS = ["claim_id", "claim", "words", "test", "estimate", "ci_low", "ci_high", "p_value", "rule",
                 "verdict", "reason", "e_values", "source_note", "data_provenance"]


@dataclass
class Availability:
    """Which needed components the files at hand lack entirely (absent in every cycle)."""

    inventory: RawInventory

    def has(self, component: str) -> bool:
        rows = self.inventory.manifest[self.inventory.manifest["component"] == component]
        return any(self.inventory.available(cycle, component) for cycle in rows["cycle"].unique())

    def missing_for(self, needs: tuple[str, ...]) -> list[str]:
        """The needed components (or "A|B" alternatives) absent in every cycle at hand."""
        return [need for need in needs if not any(self.has(c) for c in need.split("|"))]

    def missing_files(self, components: list[str]) -> list[str]:
        m = self.inventory.manifest
        names = [c for need in components for c in need.split("|")]
        rows = m[m["component"].isin(names) & ~m["status"].isin(["verified", "recorded"])]
        return sorted(f"{r.cycle}/{r.file}" for r in rows.itertuples())


def provenance(inventory: RawInventory) -> str:
    values = inventory.manifest.loc[inventory.manifest["provenance"].ne("")
                                    & inventory.manifest["status"].isin(["verified", "recorded"]), "provenance"]
    return "; ".join(sorted(values.unique()))


def run_analyses(ctx: common.Context, testable: set[str], paths: Paths,
                 availability: Availability) -> dict[str, common.Result]:
    """id -> Result for the testable claims and other analyses. The claims' primary tests
    use usual intake (usual_intake.py) where the usual stage could fit its model; the day-1
    versions are kept as "<id>_day1" (sensitivity). C1/C2 stand-ins: "C1_fallback"/"C2_fallback"."""
    runners = {
        "C1": interaction.run_c1, "C2": interaction.run_c2, "C3": dose.run_c3, "C4": bone.run,
        "C5": ratio.run,
    }
    results: dict[str, common.Result] = {}
    for cid, runner in runners.items():
        if cid in testable:
            log.info("analyze: %s (day-1 intake)", cid)
            results[f"{cid}_day1"] = runner(ctx)
    if "C1" in testable:
        results["C1_day1"].tables.update(deficiency.run(ctx))
        results["C1_day1"].tables.update(sensitivity.run(ctx))
    usual_available = "C1" in testable and usual_model_available(paths)
    if usual_available:
        log.info("analyze: claims on usual intake (regression calibration, both steps on every replicate)")
        models = usual_intake.models(ctx)
        models += calcification.calibrated_models(ctx) if "C9" in testable else []
        models += inflammation.calibrated_models(ctx) if "C10" in testable else []
        models += mortality.calibrated_models(ctx) if "C11" in testable else []
        statistics = [mortality.survival_statistic(ctx)] if "C11" in testable else []
        calibrated_tables = calibrated.run(ctx, models, paths.data_clean / "usual_model.json", statistics)
        results.update(usual_intake.results(ctx, calibrated_tables))
        log.info("analyze: C1b (25(OH)D percentiles by usual magnesium adequacy)")
        results["C1b"] = quantiles.run(ctx, paths.data_clean / "usual_model.json")
        log.info("analyze: multiple imputation of missing covariates")
        results["imputation"] = common.Result(tables={"multiple_imputation": imputation.run(
            ctx, paths.data_clean / "usual_model.json")})
    else:
        calibrated_tables = {}
    if "C9" in testable:
        log.info("analyze: C9 (aortic calcification)")
        results["C9"] = calcification.run(ctx, calibrated_tables)
    if "C10" in testable:
        log.info("analyze: C10 (C-reactive protein)")
        results["C10"] = inflammation.run(ctx, calibrated_tables)
    elif "C10_fallback" in testable:
        log.info("analyze: C10 stand-in (C-reactive protein; supplemental magnesium only)")
        results["C10_fallback"] = inflammation.run_supplements(ctx)
    if "C11" in testable:
        log.info("analyze: C11 (linked mortality, design-based Cox models)")
        results["C11"] = mortality.run(ctx, calibrated_tables)
        if usual_available:
            results["C11_day1"] = mortality.day1_result(results["C11"])
    for cid in runners:
        if cid not in results and f"{cid}_day1" in results:  # no usual-intake model: day 1 is all there is
            results[cid] = results[f"{cid}_day1"]
    if "C6" in testable:
        log.info("analyze: C6, C7 (prevalence)")
        results["C6_day1"], results["C7"] = prevalence.run(ctx)
        results["C6"] = usual_prevalence(paths, results["C6_day1"]) if usual_available else results["C6_day1"]
    if "supplements" in testable:
        log.info("analyze: supplement-only models")
        results["C1_fallback"], results["C2_fallback"] = supplements.run(ctx)
    if "status" in testable:
        log.info("analyze: vitamin D status and validation")
        results["status"] = common.Result(tables=status.run(ctx))
    if "published" in testable:
        log.info("analyze: published NHANES figures recomputed")
        present = {c for c in availability.inventory.manifest["component"].unique() if availability.has(c)}
        results["published"] = common.Result(tables={"published_checks": published.run(ctx, present)})
    return results


def usual_model_available(paths: Paths) -> bool:
    path = paths.data_clean / "usual_model.json"
    return path.exists() and bool(json.loads(path.read_text(encoding="utf-8")).get("available"))


def usual_prevalence(paths: Paths, day1: common.Result) -> common.Result:
    """C6 on usual intake: the usual stage's share of adults whose usual food magnesium is
    below the EAR, beside the (unchanged) share with 25(OH)D < 50 nmol/L."""
    table = pd.read_csv(paths.tables / "usual_intake.csv")
    usual = table[(table["term"] == "mg_food_usual_below_ear") & (table["group"] == "all")]
    return common.Result(tables=day1.tables,
                         evidence=[common.evidence_of(usual, "share with usual food Mg < EAR"), day1.evidence[1]],
                         test_label="share of adults with usual food magnesium < EAR; share with 25(OH)D < 50 nmol/L")


def claim_rows(registry: dict[str, claims.Claim], results: dict[str, common.Result], gaps: dict[str, list[str]],
               availability: Availability, params: dict, data_provenance: str) -> pd.DataFrame:
    rows = []
    for cid, claim in registry.items():
        rule = params["verdicts"][cid]
        row = {"claim_id": cid, "claim": claim.claim, "words": claim.words, "test": rule["test"],
               "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
               "rule": claims.describe(rule), "reason": "", "source_note": claim.source_note,
               "data_provenance": data_provenance}
        missing = "missing NHANES file(s): " + ", ".join(availability.missing_files(gaps.get(cid, [])))
        fallback = results.get(f"{cid}_fallback")
        if gaps.get(cid) and fallback is None:
            row["verdict"] = claims.NOT_TESTABLE_FILES
            row["reason"] = missing
        elif gaps.get(cid):
            evidence = fallback.evidence[0]
            row.update(test=fallback.test_label, estimate=evidence.estimate, ci_low=evidence.ci_low,
                       ci_high=evidence.ci_high, p_value=evidence.p_value)
            row["verdict"] = claims.decide(rule, fallback.evidence)
            row["reason"] = "; ".join(
                [f"{e.label}: {e.estimate:.3g} ({e.ci_low:.3g} to {e.ci_high:.3g})" for e in fallback.evidence[1:]]
                + [f"stand-in test: the claim's own test needs food intake; {missing}"])
        elif rule["rule"] == "not_testable":
            row["verdict"] = claims.NOT_TESTABLE
            row["reason"] = claim.hypothesis
        else:
            result = results.get(cid, common.Result())
            evidence = [e for e in result.evidence if e is not None]
            if evidence:
                first = evidence[0]
                row.update(estimate=first.estimate, ci_low=first.ci_low, ci_high=first.ci_high, p_value=first.p_value)
            if rule["rule"] in ("all_at_least", "all_of") and len(evidence) > 1:
                row["reason"] = "; ".join(f"{e.label}: {e.estimate:.3f} ({e.ci_low:.3f} to {e.ci_high:.3f})" for e in evidence)
            if rule["rule"] == "fact_check":
                row["reason"] = claim.hypothesis
            if rule["rule"] == "within_observed_doses" and len(evidence) > 1:
                row["reason"] = claims.dose_range_reason(evidence)
            row["verdict"] = claims.decide(rule, evidence) if evidence or rule["rule"] == "fact_check" else claims.INCONCLUSIVE
            if not evidence and rule["rule"] != "fact_check":
                row["reason"] = "the domain was too small to estimate"
            day1 = results.get(f"{cid}_day1")
            if day1 is not None and day1 is not result and day1.evidence and day1.evidence[0] is not None:
                e = day1.evidence[0]
                sensitivity_text = (f"sensitivity, one day's intake: {e.estimate:.3g} ({e.ci_low:.3g} to {e.ci_high:.3g}), "
                                    f"which the same rule calls {claims.decide(rule, day1.evidence)}")
                row["reason"] = "; ".join(t for t in (row["reason"], sensitivity_text) if t)
        rows.append(row)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def comparison(results: dict[str, common.Result]) -> pd.DataFrame:
    """Each claim's test on usual intake beside the same test on one day's intake (and on
    the two-day mean where it was run), so a reviewer sees how far the correction moved it."""
    rows = []
    for cid in ["C1", "C2", "C3", "C4", "C5", "C6"]:
        for basis, key in [("usual intake (primary)", cid), ("day-1 intake (sensitivity)", f"{cid}_day1")]:
            result = results.get(key)
            if result is None or not result.evidence or result.evidence[0] is None:
                continue
            if basis.startswith("day-1") and result is results.get(cid):
                continue
            e = result.evidence[0]
            rows.append({"claim_id": cid, "basis": basis, "test": result.test_label, "estimate": e.estimate,
                         "ci_low": e.ci_low, "ci_high": e.ci_high, "p_value": e.p_value, "label": e.label})
    sens = results.get("C1_day1")
    if sens is not None and "sensitivity" in sens.tables:
        two_day = sens.tables["sensitivity"]
        two_day = two_day[(two_day["analysis"] == "two_day_mean_mg") & two_day["term"].str.startswith("interaction")]
        for r in two_day.itertuples():
            rows.append({"claim_id": "C1", "basis": "two-day mean intake (sensitivity)", "test": r.term,
                         "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value,
                         "label": "interaction (nmol/L)"})
    return pd.DataFrame(rows, columns=["claim_id", "basis", "test", "estimate", "ci_low", "ci_high", "p_value", "label"])


def metrics(claim_table: pd.DataFrame, ctx: common.Context, data_provenance: str) -> dict:
    def number(value: float) -> float | None:
        return None if pd.isna(value) else float(f"{value:.6g}")

    return {
        "data_provenance": data_provenance,
        "n": {flag: int(ctx.frame[flag].sum()) for flag in ["in_adults", "in_main", "in_supp", "in_bone"]},
        "claims": {r.claim_id: {"verdict": r.verdict, "estimate": number(r.estimate), "ci_low": number(r.ci_low),
                                "ci_high": number(r.ci_high)} for r in claim_table.itertuples()},
    }


def run(params: dict, paths: Paths) -> pd.DataFrame:
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the clean stage first")
    frame = features.add(pd.read_parquet(paths.analytic), params)
    inventory = RawInventory.load(paths.data_raw)
    availability = Availability(inventory)
    registry = claims.registry()
    gaps = {cid: availability.missing_for(claim.needs) for cid, claim in registry.items()}
    gaps.update({name: availability.missing_for(needs) for name, needs in OTHER_NEEDS.items()})
    gaps.update({f"{cid}_fallback": availability.missing_for(claim.fallback_needs)
                 for cid, claim in registry.items() if claim.fallback_needs})
    testable = {cid for cid, lacking in gaps.items() if not lacking}
    usual_path = paths.data_clean / "usual_intake.parquet"
    if usual_path.exists():
        frame = frame.merge(pd.read_parquet(usual_path), on="seqn", how="left", validate="one_to_one")
    ctx = common.Context(frame, params)
    results = run_analyses(ctx, testable, paths, availability)
    if "C1_day1" in results:
        results["comparison"] = common.Result(tables={"usual_vs_day1": comparison(results)})

    tables: dict[str, pd.DataFrame] = {}
    for result in results.values():
        tables.update(result.tables)
    for name, cid in TABLES.items():
        if name not in tables:
            reason = ("missing NHANES file(s): " + ", ".join(availability.missing_files(gaps[cid]))) if gaps[cid] \
                else "domain too small to estimate"
            tables[name] = common.not_testable_table(name, reason)
    data_provenance = provenance(inventory)
    claim_table = claim_rows(registry, results, gaps, availability, params, data_provenance)
    tables["e_values"] = evalues.table(ctx, results, list(registry))
    claim_table["e_values"] = claim_table["claim_id"].map(evalues.summary(tables["e_values"]))

    for name in TABLES:
        atomic.write_csv(paths.tables / f"{name}.csv", tables[name])
    atomic.write_csv(paths.reports / "claims.csv", claim_table)
    atomic.write_text(paths.reports / "metrics.json",
                      json.dumps(metrics(claim_table, ctx, data_provenance), indent=2, sort_keys=True) + "\n")
    for r in claim_table.itertuples():
        log.info("%s: %s", r.claim_id, r.verdict)
    return claim_table
