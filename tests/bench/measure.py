"""Run one reconciler command in this process and print its peak memory.

Used by run.py so that each measurement has a process of its own. run.py times the
whole process from outside, wall and CPU (interpreter start, imports and exit included:
what a user waits for). The peak is the process's own high-water mark (VmHWM): ru_maxrss would also count
memory the parent held when it forked, and the parent holds the emulator's chain.
"""

from __future__ import annotations

import json
import resource
import sys


def cpu_seconds() -> float:
    """User and system CPU time of this process (all its threads) so far, for timings
    inside a process (run.py's snippets)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_bytes() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


if __name__ == "__main__":
    from reconciler.cli import main

    try:
        main(sys.argv[1:], standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    print(json.dumps({"peak_bytes": peak_bytes(), "exit": code}), file=sys.stderr)
