"""The top functions of a py-spy profile, by cumulative and by self time.

    py-spy record --format speedscope -o plan.json -- python tests/bench/measure.py -C DIR plan
    python tests/bench/profile_top.py plan.json [--top 15]

`./scripts/bench --profile DIR` records its plan and apply steps this way and prints the
tables. Functions are grouped by name and file (not line); a function counts once per
sample however often it is on that stack, so cumulative shares do not exceed 100%. The
cumulative table leaves out the plumbing every sample passes through (click's dispatch,
the event loop's run loop, the script's module level), which would fill its top rows.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

# Frames on (nearly) every stack that say nothing about where the time goes.
PLUMBING_FILES = ("click/",)
PLUMBING = {"<module>", "run", "Runner.run", "BaseEventLoop.run_until_complete", "BaseEventLoop.run_forever",
            "BaseEventLoop._run_once", "Handle._run", "handles_errors.<locals>.wrapper", "main"}


def top(path: Path, count: int = 15) -> dict:
    data = json.loads(path.read_text())
    frames = [(f["name"], _short(f.get("file", ""))) for f in data["shared"]["frames"]]
    total_weight, samples, own, cumulative = 0.0, 0, Counter(), Counter()
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"]):
            if not stack:
                continue
            total_weight += weight
            samples += 1
            own[frames[stack[-1]]] += weight
            for frame in {frames[i] for i in stack}:
                if frame[0] not in PLUMBING and not frame[1].startswith(PLUMBING_FILES):
                    cumulative[frame] += weight

    def rows(counter: Counter) -> list[dict]:
        return [{"function": name, "file": file, "share": weight / total_weight}
                for (name, file), weight in counter.most_common(count)]

    return {"samples": samples, "seconds": total_weight, "cumulative": rows(cumulative), "self": rows(own)}


ROOT = str(Path(__file__).resolve().parents[2]) + "/"


def _short(file: str) -> str:
    """A path from the package on: site-packages/x/y.py -> x/y.py, <repository>/a/b.py -> a/b.py."""
    for marker in ("site-packages/", ROOT):
        if marker in file:
            return file.split(marker, 1)[1]
    return file.rsplit("/lib/", 1)[-1]


def print_top(title: str, result: dict) -> None:
    print(f"\n{title} ({result['samples']} samples, {result['seconds']:.1f} s sampled)")
    for kind in ("cumulative", "self"):
        print(f"  by {kind} time:")
        for row in result[kind]:
            print(f"    {row['share']:6.1%}  {row['function']}  ({row['file']})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    options = parser.parse_args()
    print_top(str(options.profile), top(options.profile, options.top))
