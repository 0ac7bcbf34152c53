"""The whole adequacy table (issue 37's benchmark): every registry nutrient, every DRI life stage,
food and total, with the one-day rows and jackknife SEs that refit the model on every replicate,
on the genuine mirror's 2007-2018 (the project's data_clean/ must hold a clean run on it).
Wall time and peak memory (largest process, forked workers included) of
`python -m analysis adequacy-stage`, the median of `--runs` runs. Writes benchmarks/adequacy.json.

    python benchmarks/adequacy.py --runs 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_run() -> tuple[float, float]:
    """(seconds, peak MiB of the largest child process) of one stage run."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "analysis", "adequacy-stage"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    mirror_file = REPO / "data_raw" / "MIRROR"
    mirror = Path(mirror_file.read_text().strip()).name if mirror_file.exists() else "?"
    runs = [one_run() for _ in range(args.runs)]
    table = __import__("pandas").read_csv(REPO / "reports" / "tables" / "adequacy.csv")
    result = {"what": "python -m analysis adequacy-stage: every registry nutrient x DRI life stage x food/total, "
                      "one-day rows, jackknife SEs refitting the model on every replicate",
              "mirror": mirror, "runs": args.runs, "seconds": [round(s, 1) for s, _ in runs],
              "median_seconds": round(statistics.median(s for s, _ in runs), 1),
              "peak_mib": round(max(m for _, m in runs)), "goal_seconds": 180,
              "nutrients": int(table["nutrient"].nunique()), "rows": len(table),
              "machine": "2 cores, 24 GiB (this workplace)"}
    (REPO / "benchmarks" / "adequacy.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
