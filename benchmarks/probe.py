"""Run one pipeline stage in this process and print its wall time and peak RSS as JSON."""

import json
import resource
import sys
import time

from analysis.commands.cli import main

start = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
# Linux: KiB. Workers (forked replicate loops, imputation chains) count too: the largest one's
# peak, which includes the pages it shares with the parent (a fork copies only what it writes).
own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"exit": code, "seconds": elapsed, "peak_rss_mb": max(own_mb, workers_mb), "own_peak_rss_mb": own_mb,
                  "workers_peak_rss_mb": workers_mb}))
sys.exit(code)
