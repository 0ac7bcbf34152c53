"""Benchmarks (not part of the test suite): `python benchmarks/run.py` (about ten minutes).

Measures, on the synthetic mirror (NHANES_MIRROR, default ../shared/nhanes), in a scratch
clone of this repository: forced end-to-end `dvc repro` (median of 3, after a cold run),
each stage's time and peak RSS, a no-op rerun (median of 3), the quick test run
(`pytest -m "not slow"`, once), XPT read throughput against pandas.read_sas, model fit times
against R's svyglm on the same data in the same run (gaussian, logistic, quasi-Poisson), and
whether two forced reruns give identical bytes. Writes benchmarks/results.json and prints a
table with the goals.
"""

from __future__ import annotations

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
MIRROR = Path(os.environ.get("NHANES_MIRROR", REPO.parent / "shared" / "nhanes")).resolve()
STAGES = ["fetch", "clean", "usual", "analyze", "risk", "notebooks", "report"]
GOALS = {"full_repro_seconds": 20, "noop_repro_seconds": 1, "risk_seconds": 5, "pytest_quick_seconds": 120,
         "peak_rss_mb": 1024, "fit_ratio_ours_to_r": 0.4}
ENV = {**os.environ, "NHANES_MIRROR": str(MIRROR), "DVC_NO_ANALYTICS": "1",
       "NHANES_CDC_MIRROR": os.environ.get("NHANES_CDC_MIRROR", str(MIRROR.parent / "nhanes-cdc"))}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def digest(root: Path) -> dict[str, str]:
    files = sorted(p for folder in ("data_clean", "reports") for p in (root / folder).rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def pipeline(work: Path) -> dict:
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    first = timed(["dvc", "repro", "--force"], clone)  # cold: creates caches
    hashes_first = digest(clone)
    full = statistics.median(timed(["dvc", "repro", "--force"], clone) for _ in range(3))
    hashes_second = digest(clone)
    noop = statistics.median(timed(["dvc", "repro"], clone) for _ in range(3))
    stages = {}
    for stage in STAGES:
        out = subprocess.run([sys.executable, str(REPO / "benchmarks/probe.py"), "--root", str(clone), stage],
                             cwd=clone, env=ENV, check=True, capture_output=True, text=True)
        stages[stage] = json.loads(out.stdout.strip().splitlines()[-1])
    differing = sorted(k for k in hashes_first if hashes_first[k] != hashes_second.get(k))
    quick_tests = timed([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider"], clone)
    return {"first_repro_seconds": first, "full_repro_seconds": full, "noop_repro_seconds": noop, "stages": stages,
            "pytest_quick_seconds": quick_tests,
            "peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values()),
            "deterministic": not differing and hashes_first.keys() == hashes_second.keys(),
            "files_compared": len(hashes_first), "files_differing": differing, "clone": clone}


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
    from analysis.analyses import calcification, common, features
    from analysis.config import load_params
    from analysis.survey import SurveyData

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


def main() -> int:
    if not (MIRROR / "MANIFEST.tsv").exists():
        print(f"benchmark needs the mirror: {MIRROR} not found (set NHANES_MIRROR)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        run = pipeline(Path(tmp))
        clone = run.pop("clone")
        fits = fit_times(clone)
    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "mirror": str(MIRROR),
               "pipeline": run, "xpt_read": xpt_throughput(), "model_fit": fits, "goals": GOALS}
    (REPO / "benchmarks/results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    rows = [
        ("full dvc repro --force (s)", run["full_repro_seconds"], f"<= {GOALS['full_repro_seconds']}"),
        ("no-op dvc repro (s)", run["noop_repro_seconds"], f"<= {GOALS['noop_repro_seconds']}"),
        ("peak RSS of any stage (MB)", run["peak_rss_mb"], f"<= {GOALS['peak_rss_mb']}"),
        ("risk stage (s)", run["stages"]["risk"]["seconds"], f"<= {GOALS['risk_seconds']}"),
        ("pytest -m 'not slow' (s)", run["pytest_quick_seconds"], f"<= {GOALS['pytest_quick_seconds']}"),
    ] + [
        (f"fit time {name}, ours / R svyglm", fit.get("fit_ratio_ours_to_r", float("nan")),
         f"<= {GOALS['fit_ratio_ours_to_r']}") for name, fit in fits.items()
    ] + [
        ("XPT read, pyreadstat / pandas.read_sas (MB/s ratio)", results["xpt_read"]["ratio_pyreadstat_to_pandas"], "none (reported)"),
        ("two forced reruns byte-identical", float(run["deterministic"]), "1"),
    ]
    rows += [(f"stage {name} (s / peak MB)", s["seconds"], f"{s['peak_rss_mb']:.0f} MB") for name, s in run["stages"].items()]
    width = max(len(r[0]) for r in rows)
    for label, value, goal in rows:
        print(f"{label:<{width}}  {value:10.3f}  goal {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
