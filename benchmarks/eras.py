"""How the pipeline's cost grows with cycles: the forced genuine run of HEAD (fetch 2001-2018, the
Deng replication and the eras) beside the forced run of a baseline commit (2007-2018), both timed
in this run, interleaved, on the genuine mirror. Wall time and peak memory (the largest process
of the run, forked workers included) of `dvc repro --force`, the median of `--runs` runs each;
the replicate counts from each run's usual-intake model files. Writes benchmarks/eras.json.

    python benchmarks/eras.py --baseline 6469e5c --runs 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("NHANES_CDC_MIRROR", REPO.parent / "shared" / "nhanes-cdc")).resolve()


def clone(rev: str, where: Path) -> Path:
    """A clone at `rev` beside the mirror's parent layout (../shared is found through the env)."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(where)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=where, check=True)
    return where


def timed_repro(root: Path, force: bool) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one `dvc repro` in `root`, with the package imported from `root`."""
    env = {**os.environ, "NHANES_MIRROR": str(MIRROR), "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(root)}
    command = ["/usr/bin/time", "-v", "dvc", "repro"] + (["--force"] if force else [])
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"dvc repro failed in {root}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return seconds, (int(peak.group(1)) / 1024 if peak else float("nan"))


def replicates(root: Path) -> dict[str, int]:
    """Replicates of each usual-intake model the run fitted (the main one and each era's)."""
    out = {}
    for path in [root / "data_clean/usual_model.json", *sorted((root / "data_clean/usual_eras").glob("*/usual_model.json"))]:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("available"):
            out[str(path.relative_to(root / "data_clean"))] = stored["replicates"]["n"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with (2007-2018)")
    parser.add_argument("--runs", type=int, default=2, help="forced runs of each tree (median reported)")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"baseline": clone(args.baseline, Path(scratch) / "baseline"), "head": clone(head, Path(scratch) / "head")}
        for name, root in trees.items():
            print(f"{name}: cold run (fetch from the mirror)", flush=True)
            timed_repro(root, force=False)
        results = {name: {"seconds": [], "peak_mib": []} for name in trees}
        for run in range(args.runs):  # interleaved, so that a busy machine slows both alike
            for name, root in trees.items():
                seconds, peak = timed_repro(root, force=True)
                results[name]["seconds"].append(round(seconds, 1))
                results[name]["peak_mib"].append(round(peak, 1))
                print(f"{name} forced run {run + 1}: {seconds:.1f} s, peak {peak:.0f} MiB", flush=True)
        for name, root in trees.items():
            results[name]["replicates"] = replicates(root)
    summary = {name: {**r, "median_seconds": statistics.median(r["seconds"]), "median_peak_mib": statistics.median(r["peak_mib"])}
               for name, r in results.items()}
    out = {"baseline": args.baseline, "head": head, "runs": args.runs, "machine_cores": os.cpu_count(), **summary,
           "time_ratio": round(summary["head"]["median_seconds"] / summary["baseline"]["median_seconds"], 3),
           "memory_ratio": round(summary["head"]["median_peak_mib"] / summary["baseline"]["median_peak_mib"], 3)}
    (REPO / "benchmarks" / "eras.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
