"""Run one pipeline stage in this process and print its wall time and peak RSS as JSON."""

import json
import resource
import sys
import time

from analysis.cli import main

start = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
print(json.dumps({"exit": code, "seconds": elapsed, "peak_rss_mb": peak_mb}))
sys.exit(code)
