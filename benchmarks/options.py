"""What each speed option that changes numbers would buy (not part of the test suite).

Issue 23 asks for the forced pipeline in 0.4 x the time of 53839dc with every number unchanged
(to 1e-9). What is left after the exact speed work is arithmetic per replicate and per
imputation; the remaining levers change numbers or the variance method, so they are the
owner's decision. This script measures each of them on the synthetic mirror, so that decision
can be made on numbers:

    python benchmarks/options.py [--runs N]       (about 9 minutes; 25 with --runs 3)

It clones HEAD into a scratch directory, runs the pipeline there once (the control), copies
that tree once per option, applies the option's edits (exact text replacements, each required
to match once), times the two stages the options touch (usual and analyze: wall seconds and
peak RSS, median of --runs, the trees taking turns) and compares every output with the
control's (benchmarks/compare_outputs.py): how many cells differ, the largest change of an
estimate, SE or CI bound in SEs, and whether any verdict changes. Writes
benchmarks/options.json and prints a table.

"half the replicates" keeps every other jackknife replicate: its SEs are not valid. It is a
timing experiment for a method with about half as many replicates (Fay's BRR or a paired
jackknife, which need a rule for strata with one or three PSUs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_outputs import compare  # noqa: E402
from run import Tree, checkout  # noqa: E402

INDIVIDUAL = "analysis/usual/individual.py"
HALF_REPLICATES = ("analysis/survey/design.py",
                   """    factors = built.data.select(columns).to_numpy()
    return Replicates(factors, np.asarray(info.coefficients(), dtype=float), float(info.df), method)""",
                   """    factors = built.data.select(columns).to_numpy()
    coefficients = np.asarray(info.coefficients(), dtype=float)
    if method == "jackknife":  # benchmarks/options.py: every other replicate, for timing only
        factors, coefficients = factors[:, ::2], coefficients[::2]
    return Replicates(factors, coefficients, float(info.df), method)""")
FEWER_IMPUTATIONS = ("params.yaml", "  m: 20\n", "  m: 10\n")
# (name, what it changes, edits: (file, old text, new text))
OPTIONS = [
    ("Gauss-Legendre 32 -> 16 nodes", "truncated integrals (joint and Ca:Mg-with-adequacy probabilities)",
     [(INDIVIDUAL, "leggauss(32)", "leggauss(16)")]),
    ("Gauss-Hermite 20 -> 10 nodes", "the Ca:Mg ratio probability's normal expectation",
     [(INDIVIDUAL, "hermegauss(20)", "hermegauss(10)")]),
    ("Gauss-Hermite 40 -> 20 nodes", "expected usual intakes and the usual-intake curves",
     [(INDIVIDUAL, "hermegauss(40)", "hermegauss(20)")]),
    ("curve table 8001 -> 2001 points", "the usual-intake curve and its inverse",
     [(INDIVIDUAL, "_TABLE_POINTS = 8001", "_TABLE_POINTS = 2001")]),
    ("m = 20 -> 10 imputations", "multiple imputation (params imputation.m)", [FEWER_IMPUTATIONS]),
    ("half the replicates (timing only)", "every two-step estimate's replicate loops; SEs not valid",
     [HALF_REPLICATES]),
]
OPTIONS.append(("all but the replicates", "every option above but half the replicates",
                [e for _, _, edits in OPTIONS for e in edits if e is not HALF_REPLICATES]))
OPTIONS.append(("all of the above", "every option at once",
                [e for _, _, edits in OPTIONS[:-1] for e in edits]))
STAGES = ["usual", "analyze"]
ESTIMATE_COLUMNS = ["estimate", "std_error", "ci_low", "ci_high"]


def apply(root: Path, edits: list[tuple[str, str, str]]) -> None:
    for file, old, new in edits:
        path = root / file
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise SystemExit(f"{path}: expected exactly one {old!r} (the code changed: update benchmarks/options.py)")
        path.write_text(text.replace(old, new), encoding="utf-8")


def differences(control: Path, option: Path) -> dict:
    found = compare(control, option, 1e-9)
    in_se = pd.to_numeric(found["in_se"], errors="coerce").abs()
    relative = pd.to_numeric(found["relative"], errors="coerce")
    estimates = found["column"].isin(ESTIMATE_COLUMNS)
    old = pd.read_csv(control / "reports" / "claims.csv")
    new = pd.read_csv(option / "reports" / "claims.csv")
    return {"cells_differing": int(len(found)), "files_differing": sorted(found["file"].unique()),
            "max_relative": float(relative.max()) if len(found) else 0.0,
            "max_estimate_change_in_se": float(in_se[estimates].max()) if estimates.any() else 0.0,
            "verdicts_changed": int((old["verdict"] != new["verdict"]).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each stage per tree (median)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="options-"))
    control = checkout(scratch / "control", "HEAD", "control")
    print(f"control {control.rev}: cold run on {control.env['NHANES_MIRROR']}", file=sys.stderr)
    control.run(["dvc", "repro"])
    trees = [control]
    changes = {control.name: "nothing (HEAD)"}
    comparable = {}  # with half the replicates the SEs are not valid: outputs not compared
    for i, (name, what, edits) in enumerate(OPTIONS):
        root = scratch / f"option{i}"
        shutil.copytree(control.root, root, symlinks=True)
        apply(root, edits)
        trees.append(Tree(name, root, control.rev))
        changes[name], comparable[name] = what, HALF_REPLICATES not in edits
    times = {t.name: {s: [] for s in STAGES} for t in trees}
    for run in range(args.runs):
        for t in trees:
            for stage in STAGES:
                times[t.name][stage].append(t.probe(stage))
            print(f"run {run + 1}: {t.name} done", file=sys.stderr)
    results = []
    for t in trees:
        row = {"option": t.name, "changes": changes[t.name]}
        for stage in STAGES:
            row[f"{stage}_seconds"] = statistics.median(p["seconds"] for p in times[t.name][stage])
            row[f"{stage}_peak_rss_mb"] = statistics.median(p["peak_rss_mb"] for p in times[t.name][stage])
        row["seconds"] = sum(row[f"{s}_seconds"] for s in STAGES)
        if t is not control:
            row.update(differences(control.root, t.root) if comparable[t.name] else
                       {"outputs": "not compared: with half the replicates the SEs are not valid"})
        results.append(row)
    base = results[0]["seconds"]
    for row in results:
        row["ratio_to_head"] = row["seconds"] / base
    out = {"rev": control.rev, "runs": args.runs, "mirror": control.env["NHANES_MIRROR"], "cpus": os.cpu_count(),
           "options": results}
    (REPO / "benchmarks" / "options.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    table = pd.DataFrame(results)[["option", "usual_seconds", "analyze_seconds", "ratio_to_head", "cells_differing",
                                   "max_estimate_change_in_se", "verdicts_changed"]]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
