"""How long a misspelt argument takes to be answered, HEAD against a baseline commit.

`python benchmarks/answer_latency.py --project DIR --baseline REV [--runs 5]`: DIR is a project
whose pipeline has run (data_clean/ and data_raw/ present). Each case is a command that ends in an
argument error; both trees answer it on the same project, interleaved (baseline, HEAD, ...), and
the median wall time of --runs is reported with the HEAD / baseline ratio. Machines differ twofold
in speed, so only the ratios are claims. Writes benchmarks/latency.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "unknown column": ["estimate", "mean", "vitd_srum_nmol"],
    "unknown column in --where": ["estimate", "mean", "vitd_serum_nmol", "--where", "agee >= 20"],
    "unknown --by column": ["estimate", "mean", "vitd_serum_nmol", "--by", "sexx"],
    "unknown model term": ["model", "vitd_serum_nmol ~ agee"],
}


def answer_time(tree: Path, project: Path, argv: list[str]) -> float:
    """Seconds until `python -m analysis` run from `tree` (its own package) exits on `argv`."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "analysis", "--root", str(project), *argv], cwd=tree,
                         capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 2:
        raise SystemExit(f"{tree}: {' '.join(argv)} exited {run.returncode}, not 2: {run.stderr[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        subprocess.run(["git", "clone", "-q", str(REPO), str(baseline)], check=True)
        subprocess.run(["git", "checkout", "-q", args.baseline], cwd=baseline, check=True)
        rows = []
        for name, argv in CASES.items():
            times = {"baseline": [], "head": []}
            for _ in range(args.runs):
                times["baseline"].append(answer_time(baseline, args.project.resolve(), argv))
                times["head"].append(answer_time(REPO, args.project.resolve(), argv))
            base, head = statistics.median(times["baseline"]), statistics.median(times["head"])
            rows.append({"case": name, "argv": argv, "baseline_s": round(base, 3), "head_s": round(head, 3),
                         "ratio": round(head / base, 3)})
            print(f"{name:28s} baseline {base:6.2f} s   HEAD {head:6.2f} s   ratio {head / base:.2f}")
    head_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    (REPO / "benchmarks" / "latency.json").write_text(json.dumps(
        {"baseline": args.baseline, "head": head_rev, "runs": args.runs, "cases": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
