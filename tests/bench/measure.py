"""Run one reconciler command in this process and print its wall time and peak memory.

Used by run.py so that each measurement has a process of its own (peak RSS is per
process) while still going through the real CLI.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from reconciler.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    start = time.perf_counter()
    try:
        main(args, standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "exit": code}), file=sys.stderr)
