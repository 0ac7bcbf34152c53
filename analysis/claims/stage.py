"""The analyze stage: every claim's analysis on data_clean/analytic.parquet, its tables in
reports/tables/, one verdict per claim in reports/claims.csv, key numbers in reports/metrics/.

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
from analysis.analyses import calibrated, common, evalues, plan
from analysis.core.config import Paths
from analysis.core.errors import DataError
from analysis.analyses.evidence import Evidence
from analysis.data.raw import RawInventory
from analysis.survey import weights

log = logging.getLogger(__name__)

# Every table the stage writes (dvc.yaml lists the same files), and the claim (or other
# analysis) whose components it needs: the declared analyses' tables, and the stage's own two.
TABLES = {**plan.table_owners(), "usual_vs_day1": "C1", "e_values": "status"}
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
                 availability: Availability, analytic: pd.DataFrame | None = None) -> dict[str, common.Result]:
    """result key -> Result: every declared analysis (analysis/analyses/plan.py) whose needs are
    at hand, each on its own copy of the frame. The claims' primary tests use usual intake where
    the usual stage could fit its model; the day-1 versions are kept as "<id>_day1" (sensitivity),
    and stand in as the primary where there is no usual-intake model. `ctx` holds the main
    analyses' cycles; an analysis declared on other cycles gets those of `analytic` (every cycle)."""
    usual = usual_model_available(paths)
    runnable = [a for a in plan.ANALYSES if a.needs in testable and (usual or not a.usual)]
    calibrated_run = calibrated.Calibrated({}, {})
    if usual:
        calibrated_run = run_calibrated(ctx, runnable, paths)
        for name, column in calibrated_run.columns.items():
            ctx.frame[name] = column
    components = frozenset(c for c in availability.inventory.manifest["component"].unique() if availability.has(c))
    results: dict[str, common.Result] = {}
    for analysis in runnable:
        if analysis.unless is not None and analysis.unless in results:
            continue
        log.info("analyze: %s", analysis.description or ", ".join(analysis.produces))
        if analysis.cycles == "analyze":
            own = ctx.copy()
        else:
            if analytic is None:
                raise DataError(f"analysis {analysis.produces} runs on params {analysis.cycles}.cycles: pass the analytic table")
            own = common.Context(weights.for_cycles(analytic, list(ctx.params[analysis.cycles]["cycles"]), available_only=True), ctx.params)
        inputs = plan.Inputs(own, paths.data_clean / "usual_model.json", paths.tables / "usual_intake.csv",
                             calibrated_run.tables, {key: results[key] for key in analysis.uses}, components,
                             analytic)
        produced = as_results(analysis, analysis.run(inputs))
        for result in produced.values():  # each table says the cycles of its rows
            result.tables = {name: weights.with_cycles(table, own.frame) for name, table in result.tables.items()}
        results.update(produced)
        for column in analysis.exports:
            ctx.frame[column] = own.frame[column]
    for cid in claims.registry():
        if cid not in results and f"{cid}_day1" in results:  # no usual-intake model: day 1 is all there is
            results[cid] = results[f"{cid}_day1"]
    return results


def run_calibrated(ctx: common.Context, runnable: list[plan.Analysis], paths: Paths) -> calibrated.Calibrated:
    """Every runnable analysis's two-step estimates in one replicate loop (each replicate refits
    the usual-intake model once for all of them), on a copy of the frame."""
    own = ctx.copy()
    models = [m for a in runnable if a.calibrated_models for m in a.calibrated_models(own)]
    statistics = [s for a in runnable if a.calibrated_statistics for s in a.calibrated_statistics(own)]
    if not models and not statistics:
        return calibrated.Calibrated({}, {})
    log.info("analyze: the two-step estimates (regression calibration, both steps on every replicate)")
    return calibrated.run(own, models, paths.data_clean / "usual_model.json", statistics)


def as_results(analysis: plan.Analysis, returned) -> dict[str, common.Result]:
    """An analysis's return value as {result key: Result}, checked against its declaration."""
    if isinstance(returned, common.Result):
        returned = (returned,)
    found = dict(returned) if isinstance(returned, dict) else dict(zip(analysis.produces, returned))
    unexpected = set(found) - set(analysis.produces)
    if unexpected:
        raise DataError(f"analysis {analysis.produces}: returned undeclared results {sorted(unexpected)}")
    return found


def usual_model_available(paths: Paths) -> bool:
    path = paths.data_clean / "usual_model.json"
    return path.exists() and bool(json.loads(path.read_text(encoding="utf-8")).get("available"))


# The outcome of each claim replicated across eras (analysis/analyses/eras.py).
ERA_OUTCOME = {"C1": "vitd_serum_nmol", "C11": "died_cvd"}


def replication(cid: str, rule: dict, verdict: str, table: pd.DataFrame, params: dict) -> tuple[str, str]:
    """(verdict, sentence): the claim's rule applied to its 2001-2006 replication, and the verdict
    after params eras.verdict_rule; the pooled estimate and the difference between eras beside."""
    rows = table[(table["claim_id"] == cid) & (table["outcome"] == ERA_OUTCOME[cid])].set_index("era")
    first = next(iter(params["eras"]["cycles"]))
    if first not in rows.index:
        return verdict, ""
    e = rows.loc[first]
    era_verdict = claims.decide(rule, [Evidence(float(e["estimate"]), float(e["ci_low"]), float(e["ci_high"]))])
    final = claims.with_era(params["eras"]["verdict_rule"], verdict, era_verdict)
    text = (f"replication in {first} (one definition for both eras: 30-day supplement use, no food vitamin D): "
            f"{e['estimate']:.3g} ({e['ci_low']:.3g} to {e['ci_high']:.3g}), which the same rule calls {era_verdict}")
    if "pooled" in rows.index and "difference" in rows.index:
        pooled, difference = rows.loc["pooled"], rows.loc["difference"]
        text += (f"; pooled {pooled['cycles'].split(', ')[0][:4]}-{pooled['cycles'].split(', ')[-1][-4:]}: "
                 f"{pooled['estimate']:.3g} ({pooled['ci_low']:.3g} to {pooled['ci_high']:.3g}); the eras differ with "
                 f"p = {difference['p_value']:.2g}")
    if final != verdict:
        text += f"; the eras disagree ({verdict} against {era_verdict}), so the verdict is {final} (params eras.verdict_rule)"
    return final, text


def claim_rows(registry: dict[str, claims.Claim], results: dict[str, common.Result], gaps: dict[str, list[str]],
               availability: Availability, params: dict, data_provenance: str) -> pd.DataFrame:
    rows = []
    for cid, claim in registry.items():
        rule = params["verdicts"][cid]
        row = {"claim_id": cid, "claim": claim.claim, "words": claim.words, "test": rule["test"],
               "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
               "rule": claims.describe(rule), "reason": "", "source_note": claim.source_note,
               "data_provenance": data_provenance}
        missing = ("missing NHANES file(s): " + ", ".join(availability.missing_files(gaps[cid]))) if gaps.get(cid) else ""
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
            if evidence and claims.has_estimate(rule, evidence):
                first = evidence[0]
                row.update(estimate=first.estimate, ci_low=first.ci_low, ci_high=first.ci_high, p_value=first.p_value)
            if rule["rule"] in ("all_at_least", "all_of") and len(evidence) > 1:
                row["reason"] = "; ".join(f"{e.label}: {e.estimate:.3f} ({e.ci_low:.3f} to {e.ci_high:.3f})" for e in evidence)
            if rule["rule"] == "fact_check":
                row["reason"] = claim.hypothesis
            if rule["rule"] == "within_observed_doses" and len(evidence) > 1:
                row["reason"] = claims.dose_range_reason(evidence)
                if not claims.has_estimate(rule, evidence):
                    row["reason"] = "no estimate: a group's dose lies outside the observed doses; " + row["reason"]
            row["verdict"] = claims.decide(rule, evidence) if evidence or rule["rule"] == "fact_check" else claims.INCONCLUSIVE
            if not evidence and rule["rule"] != "fact_check":
                row["reason"] = "the domain was too small to estimate"
            if cid in ERA_OUTCOME and "eras" in results and evidence:
                row["verdict"], era_text = replication(cid, rule, row["verdict"], results["eras"].tables["eras"], params)
                row["reason"] = "; ".join(t for t in (row["reason"], era_text) if t)
            day1 = results.get(f"{cid}_day1")
            if day1 is not None and day1 is not result and day1.evidence and day1.evidence[0] is not None:
                e = day1.evidence[0]
                if claims.has_estimate(rule, day1.evidence):
                    sensitivity_text = (f"sensitivity, one day's intake: {e.estimate:.3g} ({e.ci_low:.3g} to "
                                        f"{e.ci_high:.3g}), which the same rule calls {claims.decide(rule, day1.evidence)}")
                else:
                    sensitivity_text = ("sensitivity, one day's intake: no estimate either ("
                                        + claims.dose_range_reason(day1.evidence) + ")")
                row["reason"] = "; ".join(t for t in (row["reason"], sensitivity_text) if t)
        rows.append(row)
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def comparison(results: dict[str, common.Result], params: dict) -> pd.DataFrame:
    """Each claim's test on usual intake beside the same test on one day's intake (and on
    the two-day mean where it was run), so a reviewer sees how far the correction moved it.
    Where the claim's rule finds no estimate, the row shows none and `label` says why."""
    rows = []
    for cid in ["C1", "C2", "C3", "C4", "C5", "C6"]:
        for basis, key in [("usual intake (primary)", cid), ("day-1 intake (sensitivity)", f"{cid}_day1")]:
            result = results.get(key)
            if result is None or not result.evidence or result.evidence[0] is None:
                continue
            if basis.startswith("day-1") and result is results.get(cid):
                continue
            e = result.evidence[0]
            row = {"claim_id": cid, "basis": basis, "test": result.test_label, "estimate": e.estimate,
                   "ci_low": e.ci_low, "ci_high": e.ci_high, "p_value": e.p_value, "label": e.label}
            rule = params["verdicts"][cid]
            if not claims.has_estimate(rule, result.evidence):
                row.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan,
                           label="no estimate: " + claims.dose_range_reason(result.evidence))
            rows.append(row)
    sens = results.get("C1_day1")
    if sens is not None and "sensitivity" in sens.tables:
        two_day = sens.tables["sensitivity"]
        two_day = two_day[(two_day["analysis"] == "two_day_mean_mg") & (two_day["quantity"] == "interaction")]
        for r in two_day.itertuples():
            rows.append({"claim_id": "C1", "basis": "two-day mean intake (sensitivity)", "test": r.term,
                         "estimate": r.estimate, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value,
                         "label": "interaction (nmol/L)"})
    return pd.DataFrame(rows, columns=["claim_id", "basis", "test", "estimate", "ci_low", "ci_high", "p_value", "label"])


def metrics(claim_table: pd.DataFrame, ctx: common.Context) -> dict[str, dict]:
    """reports/metrics/: one small file per claim (its verdict and key estimate) and one of the
    sample sizes, so that `dvc metrics show` prints one readable row per file."""
    def number(value: float) -> float | None:
        return None if pd.isna(value) else float(f"{value:.6g}")

    out = {f"{r.claim_id}.json": {"verdict": r.verdict, "estimate": number(r.estimate), "ci_low": number(r.ci_low),
                                  "ci_high": number(r.ci_high)} for r in claim_table.itertuples()}
    out["sample.json"] = {f"n_{flag.removeprefix('in_')}": int(ctx.frame[flag].sum())
                          for flag in ["in_adults", "in_main", "in_supp", "in_bone"]}
    return out


def run(params: dict, paths: Paths) -> pd.DataFrame:
    if not paths.analytic.exists():
        raise DataError(f"{paths.analytic}: not found; run the clean stage first")
    analytic = pd.read_parquet(paths.analytic)
    frame = weights.for_cycles(analytic, list(params["analyze"]["cycles"]), available_only=True)
    inventory = RawInventory.load(paths.data_raw)
    availability = Availability(inventory)
    registry = claims.registry()
    gaps = {cid: availability.missing_for(claim.needs) for cid, claim in registry.items()}
    gaps.update({name: availability.missing_for(needs) for name, needs in plan.OTHER_NEEDS.items()})
    gaps.update({f"{cid}_fallback": availability.missing_for(claim.fallback_needs)
                 for cid, claim in registry.items() if claim.fallback_needs})
    testable = {cid for cid, lacking in gaps.items() if not lacking}
    usual_path = paths.data_clean / "usual_intake.parquet"
    if usual_path.exists():
        frame = frame.merge(pd.read_parquet(usual_path), on="seqn", how="left", validate="one_to_one")
    ctx = common.Context(frame, params)
    results = run_analyses(ctx, testable, paths, availability, analytic)
    if "C1_day1" in results:
        results["comparison"] = common.Result(tables={"usual_vs_day1": comparison(results, params)})

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
    for name, values in metrics(claim_table, ctx).items():
        atomic.write_text(paths.reports / "metrics" / name, json.dumps(values, indent=2) + "\n")
    for r in claim_table.itertuples():
        log.info("%s: %s", r.claim_id, r.verdict)
    return claim_table
