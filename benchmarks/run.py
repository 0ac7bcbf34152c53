"""Benchmarks (not part of the test suite).

`python benchmarks/run.py` (10–15 minutes) measures, on the synthetic mirror
(NHANES_MIRROR, default ../shared/nhanes), in a scratch clone of this repository's HEAD:
forced end-to-end `dvc repro` (median of --runs, after a cold run), each stage's time and
peak RSS (medians of --runs runs of the stage: a peak moves by tens of MB between runs), a
no-op rerun (median), the quick test run (`pytest -m "not slow"`, once), XPT read throughput
against pandas.read_sas, model fit times against R's svyglm on the same data in the same run,
and whether two forced reruns give identical bytes.

`python benchmarks/run.py --baseline REV` (about twice that) also builds REV in a separate
working tree (a clone checked out at REV) and times both trees in the same run, interleaved (baseline, HEAD, baseline,
HEAD, ...: a machine that slows down slows both), and reports HEAD / REV ratios for the
forced repro, the no-op repro, the quick tests, peak memory and every stage, with the number
of outputs that differ between the two (benchmarks/compare_outputs.py lists them).
Machines differ twofold in speed, so only the ratios are claims.

Writes benchmarks/results.json and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyreadstat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_outputs import compare  # noqa: E402

MIRROR = Path(os.environ.get("NHANES_MIRROR", REPO.parent / "shared" / "nhanes")).resolve()
STAGES = ["fetch", "clean", "usual", "analyze", "risk", "notebooks", "report"]
GOALS = {"full_repro_seconds": 20, "noop_repro_seconds": 1, "risk_seconds": 5, "pytest_quick_seconds": 120,
         "peak_rss_mb": 1024, "fit_ratio_ours_to_r": 0.4}
# issue 23: HEAD / baseline, measured in the same run
RATIO_GOALS = {"full_repro_seconds": 0.4, "noop_repro_seconds": 0.5, "pytest_quick_seconds": 0.5, "peak_rss_mb": 1.0}
ENV = {**os.environ, "NHANES_MIRROR": str(MIRROR), "DVC_NO_ANALYTICS": "1",
       "NHANES_CDC_MIRROR": os.environ.get("NHANES_CDC_MIRROR", str(MIRROR.parent / "nhanes-cdc"))}


class Tree:
    """One checkout of the project, run with its own package first on the path."""

    def __init__(self, name: str, root: Path, rev: str):
        self.name, self.root, self.rev = name, root, rev
        self.env = {**ENV, "PYTHONPATH": str(root)}

    def run(self, command: list[str]) -> float:
        seconds, code, output = self.attempt(command)
        if code:
            raise SystemExit(f"{self.name} ({self.rev}): {' '.join(command)} failed:\n{output}")
        return seconds

    def attempt(self, command: list[str]) -> tuple[float, int, str]:
        """(seconds, exit status, the output's last lines)."""
        start = time.perf_counter()
        done = subprocess.run(command, cwd=self.root, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        return time.perf_counter() - start, done.returncode, "\n".join(done.stdout.splitlines()[-15:])

    def probe(self, stage: str) -> dict:
        """One stage in a fresh process: wall seconds and peak RSS (the process and its workers)."""
        out = subprocess.run([sys.executable, str(REPO / "benchmarks/probe.py"), "--root", str(self.root), stage],
                             cwd=self.root, env=self.env, check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def checkout(root: Path, rev: str, name: str) -> Tree:
    """A separate working tree of the repository at `rev`: a clone (what CI sees). Not a `git
    worktree`: its .git is a file, which tests that clone the project do not expect."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "checkout", "-q", rev], check=True)
    full = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return Tree(name, root, full)


def digest(root: Path) -> dict[str, str]:
    files = sorted(p for folder in ("data_clean", "reports") for p in (root / folder).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def snapshot(root: Path, limit: int = 5_000_000) -> dict[str, bytes]:
    """The bytes of the small outputs (reports), to show what changed if a rerun differs."""
    return {str(p.relative_to(root)): p.read_bytes() for p in (root / "reports").rglob("*")
            if p.is_file() and p.stat().st_size < limit}


def keep_differences(tree: "Tree", differing: list[str], first: dict[str, bytes]) -> None:
    """Both versions of every output that differed between two forced runs, for diffing."""
    if not differing:
        return
    out = Path(tempfile.gettempdir()) / "benchmark-differences" / tree.name
    for name in differing:
        for label, content in (("first", first.get(name)), ("second", (tree.root / name).read_bytes())):
            if content is not None:
                target = out / label / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
    print(f"{tree.name}: {len(differing)} output(s) differ between two forced runs; both versions in {out}",
          file=sys.stderr)


def interleaved(trees: list[Tree], command: list[str], runs: int) -> dict[str, float]:
    """Median seconds of `command` per tree, the trees taking turns."""
    times = {t.name: [] for t in trees}
    for _ in range(runs):
        for t in trees:
            times[t.name].append(t.run(command))
    return {name: statistics.median(values) for name, values in times.items()}


def pipelines(trees: list[Tree], runs: int, tests: bool) -> dict[str, dict]:
    results = {t.name: {"rev": t.rev} for t in trees}
    for t in trees:  # cold: creates the caches and every output
        results[t.name]["first_repro_seconds"] = t.run(["dvc", "repro", "--force"])
    hashes_first = {t.name: digest(t.root) for t in trees}
    first_bytes = {t.name: snapshot(t.root) for t in trees}
    for name, seconds in interleaved(trees, ["dvc", "repro", "--force"], runs).items():
        results[name]["full_repro_seconds"] = seconds
    for t in trees:
        second = digest(t.root)
        first = hashes_first[t.name]
        differing = sorted(k for k in first if first[k] != second.get(k))
        keep_differences(t, differing, first_bytes[t.name])
        results[t.name].update({"deterministic": not differing and first.keys() == second.keys(),
                                "files_compared": len(first), "files_differing": differing})
    for name, seconds in interleaved(trees, ["dvc", "repro"], runs).items():
        results[name]["noop_repro_seconds"] = seconds
    stages = {t.name: {} for t in trees}
    for stage in STAGES:
        probes = {t.name: [] for t in trees}
        for _ in range(runs):  # a peak RSS moves by ±30 MB between runs of the same code
            for t in trees:
                probes[t.name].append(t.probe(stage))
        for name, runs_of_stage in probes.items():
            stages[name][stage] = {key: statistics.median(p[key] for p in runs_of_stage) for key in runs_of_stage[0]}
    for t in trees:
        results[t.name]["stages"] = stages[t.name]
        results[t.name]["peak_rss_mb"] = max(s["peak_rss_mb"] for s in stages[t.name].values())
    if tests:  # timed whatever the outcome; the outcome is reported beside the time
        for t in trees:
            seconds, code, output = t.attempt([sys.executable, "-m", "pytest", "-q", "-m", "not slow",
                                               "-p", "no:cacheprovider"])
            summary = output.splitlines()[-1] if output else ""
            results[t.name].update({"pytest_quick_seconds": seconds, "pytest_quick_exit": code,
                                    "pytest_quick_summary": summary})
            if code:
                print(f"{t.name} ({t.rev}): quick tests exit {code}:\n{output}", file=sys.stderr)
    return results


def ratios(current: dict, baseline: dict) -> dict[str, float]:
    out = {key: current[key] / baseline[key] for key in ("full_repro_seconds", "noop_repro_seconds", "peak_rss_mb",
                                                          "pytest_quick_seconds") if key in current and key in baseline}
    for stage in STAGES:
        out[f"stage_{stage}_seconds"] = current["stages"][stage]["seconds"] / baseline["stages"][stage]["seconds"]
    return out


def xpt_throughput() -> dict:
    files = sorted(MIRROR.glob("*/*.XPT"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    results = {}
    for name, reader in {"pyreadstat": lambda f: pyreadstat.read_xport(str(f), encoding="latin1"),
                         "pandas.read_sas": lambda f: pd.read_sas(f, format="xport", encoding="latin1")}.items():
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for f in files:
                reader(f)
            runs.append(time.perf_counter() - start)
        results[name] = size_mb / min(runs)
    return {"megabytes": size_mb, "files": len(files), "pyreadstat_mb_per_s": results["pyreadstat"],
            "pandas_read_sas_mb_per_s": results["pandas.read_sas"],
            "ratio_pyreadstat_to_pandas": results["pyreadstat"] / results["pandas.read_sas"]}


# (name, outcome, exposures, family, domain, R family, covariates): one model of each kind the
# pipeline fits, with the pipeline's covariates (None: the standard set)
FIT_MODELS = [("gaussian", "vitd_serum_nmol", ["vitd_supp_user", "mg_adequate", "vitd_supp_user:mg_adequate"],
               "gaussian", "in_main", "gaussian", None),
              ("logistic", "vitd_below_50", ["mg_adequate", "vitd_supp_user"], "binomial", "in_main", "quasibinomial",
               None),
              ("quasi-poisson", "aac24_score", ["dose10", "mg_adequate", "dose10:mg_adequate"], "poisson", "in_aac",
               "quasipoisson", "calcification")]


def fit_times(clone: Path, reps: int = 5) -> dict:
    """Median seconds per fit, ours (the survey layer, svy) and R's svyglm, same data, same run."""
    from analysis.clean import features
    from analysis.analyses import calcification, common
    from analysis.core.config import load_params
    from analysis.survey.design import SurveyData

    params = load_params(clone / "params.yaml")
    frame = features.add(pd.read_parquet(clone / "data_clean/analytic.parquet"), params)
    ctx = common.Context(frame, params)
    survey = SurveyData(frame)
    results = {}
    pipeline_covariates = {None: None, "calcification": calcification.covariates(ctx, usual=False)}
    for name, outcome, exposures, family, domain, r_family, covariates in FIT_MODELS:
        spec = ctx.spec(outcome, exposures, family, covariates=pipeline_covariates[covariates])
        survey.glm(spec, "wt_day1", domain)  # warm-up
        ours = []
        for _ in range(reps):
            start = time.perf_counter()
            survey.glm(spec, "wt_day1", domain)
            ours.append(time.perf_counter() - start)
        result = {"ours_seconds_per_fit": statistics.median(ours), "n_domain": int(frame[domain].sum())}
        if shutil.which("Rscript"):
            columns = ["sdmvstra", "sdmvpsu", "wt_day1", domain] + spec.columns()
            data = frame[columns].copy()
            for c in data.columns:
                if str(data[c].dtype) in ("bool", "boolean"):
                    data[c] = data[c].astype("Float64")
            path = clone / "bench_fit.csv"
            data.to_csv(path, index=False, na_rep="NA")
            formula = f"{outcome} ~ " + " + ".join(spec.terms)
            out = subprocess.run(["Rscript", str(REPO / "benchmarks/fit_r.R"), str(path), str(reps), formula, domain,
                                  r_family], capture_output=True, text=True, check=True)
            result["r_svyglm_seconds_per_fit"] = float(out.stdout.split()[0])
            result["fit_ratio_ours_to_r"] = result["ours_seconds_per_fit"] / result["r_svyglm_seconds_per_fit"]
        results[name] = result
    return results


def table(rows: list[tuple[str, float, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    for label, value, goal in rows:
        print(f"{label:<{width}}  {value:10.3f}  {goal}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks of the pipeline (see the module docstring).")
    parser.add_argument("--baseline", metavar="REV", help="also time REV (a commit) in its own clone, interleaved")
    parser.add_argument("--runs", type=int, default=3,
                        help="forced and no-op repros, and runs of each stage, per tree (median)")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the quick test run")
    args = parser.parse_args(argv)
    if not (MIRROR / "MANIFEST.tsv").exists():
        print(f"benchmark needs the mirror: {MIRROR} not found (set NHANES_MIRROR)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        trees = [checkout(Path(tmp) / "head", "HEAD", "head")]
        if args.baseline:
            trees.insert(0, checkout(Path(tmp) / "baseline", args.baseline, "baseline"))
        runs = pipelines(trees, args.runs, not args.skip_tests)
        fits = fit_times(trees[-1].root)
        if args.baseline:
            differences = compare(trees[0].root, trees[-1].root, 1e-9)
            runs["head"]["outputs_vs_baseline"] = {
                "files_differing": sorted(differences["file"].unique()),
                "numbers_differing": int(len(differences)),
                "max_size_in_se": float(differences["in_se"].max()) if differences["in_se"].notna().any() else 0.0}
    head = runs["head"]
    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "mirror": str(MIRROR),
               "pipeline": head, "xpt_read": xpt_throughput(), "model_fit": fits, "goals": GOALS}
    if args.baseline:
        results["baseline"] = runs["baseline"]
        results["ratios"] = ratios(head, runs["baseline"])
        results["ratio_goals"] = RATIO_GOALS
    (REPO / "benchmarks/results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    rows = [
        ("full dvc repro --force (s)", head["full_repro_seconds"], f"goal <= {GOALS['full_repro_seconds']}"),
        ("no-op dvc repro (s)", head["noop_repro_seconds"], f"goal <= {GOALS['noop_repro_seconds']}"),
        ("peak RSS of any stage (MB)", head["peak_rss_mb"], f"goal <= {GOALS['peak_rss_mb']}"),
        ("risk stage (s)", head["stages"]["risk"]["seconds"], f"goal <= {GOALS['risk_seconds']}"),
    ]
    if "pytest_quick_seconds" in head:
        rows.append(("pytest -m 'not slow' (s)", head["pytest_quick_seconds"], f"goal <= {GOALS['pytest_quick_seconds']}"))
    rows += [(f"fit time {name}, ours / R svyglm", fit.get("fit_ratio_ours_to_r", float("nan")),
              f"goal <= {GOALS['fit_ratio_ours_to_r']}") for name, fit in fits.items()]
    rows += [("XPT read, pyreadstat / pandas.read_sas (MB/s ratio)", results["xpt_read"]["ratio_pyreadstat_to_pandas"],
              "reported"), ("two forced reruns byte-identical", float(head["deterministic"]), "goal 1")]
    rows += [(f"stage {name} (s / peak MB)", s["seconds"], f"{s['peak_rss_mb']:.0f} MB") for name, s in head["stages"].items()]
    if args.baseline:
        base = runs["baseline"]
        rows += [(f"HEAD {head['rev']} / baseline {base['rev']}: {key}", value,
                  f"goal <= {RATIO_GOALS[key]}" if key in RATIO_GOALS else
                  f"{head['stages'][key[6:-8]]['seconds']:.1f} s vs {base['stages'][key[6:-8]]['seconds']:.1f} s")
                 for key, value in results["ratios"].items()]
        rows.append(("outputs differing from the baseline (numbers)", head["outputs_vs_baseline"]["numbers_differing"],
                     f"in {len(head['outputs_vs_baseline']['files_differing'])} files"))
    table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
