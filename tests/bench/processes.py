"""Running each measurement in a fresh process of its own, with its peak memory.

Wall and CPU seconds are taken from outside: interpreter start, imports and the exit
included (what a user waits for; a process that built millions of objects spends
seconds freeing them at exit). CPU seconds are the child's user and system time, which
other work on a shared machine disturbs far less than wall time. The peak is the child's
own high-water mark (see measure.py).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _last_json(text: str, key: str) -> dict:
    """The last line of `text` that is a JSON object with `key` (py-spy adds lines of its own)."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            data = json.loads(line)
            if key in data:
                return data
    raise RuntimeError(f"no result line in the output:\n{text[-2000:]}")


def child_cpu() -> float:
    """User and system seconds of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    # As a user's installation runs: with bytecode caches. Without them (some CI images
    # set PYTHONDONTWRITEBYTECODE) every process compiles the package again, about 0.3 s.
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, **(extra or {})}


def measure(project: Path, *args: str, env: dict[str, str] | None = None, profile: Path | None = None) -> dict:
    """One CLI run: wall and CPU seconds, peak bytes, exit code. With `profile`, under
    py-spy (a speedscope file there; its CPU time is then counted too)."""
    command = [sys.executable, str(HERE / "measure.py"), "-C", str(project), *args]
    if profile is not None:
        command = ["py-spy", "record", "--nonblocking", "--format", "speedscope", "--rate", "100", "-o", str(profile), "--", *command]
    started, cpu = time.perf_counter(), child_cpu()
    result = subprocess.run(command, capture_output=True, text=True, env=_environment(env))
    seconds, cpu = time.perf_counter() - started, child_cpu() - cpu
    data = _last_json(result.stderr, "peak_bytes")
    data["seconds"] = seconds
    data["cpu_seconds"] = cpu
    data["stdout"] = result.stdout
    data["stderr"] = result.stderr
    return data


def median_of(runs: int, project: Path, *args: str, expect: tuple[int, ...] = (0,),
              env: dict[str, str] | None = None) -> dict:
    samples = []
    for _ in range(runs):
        sample = measure(project, *args, env=env)
        if sample["exit"] not in expect:
            raise RuntimeError(f"{' '.join(args)} exited {sample['exit']} (expected {expect}):\n"
                               f"{sample['stderr'][-3000:]}")
        samples.append(sample)
    return summary(samples)


def summary(samples: list[dict]) -> dict:
    seconds = [s["seconds"] for s in samples]
    return {"seconds": statistics.median(seconds), "min_seconds": min(seconds), "max_seconds": max(seconds),
            "cpu_seconds": statistics.median(s["cpu_seconds"] for s in samples),
            "peak_mib": max(s["peak_bytes"] for s in samples) / 2**20, "runs": len(samples)}


def python_json(*args: str, env: dict[str, str] | None = None) -> dict:
    """Run `python ARGS` and read the JSON object it prints last."""
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                            env=_environment(env))
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def timed_snippet(runs: int, code: str) -> dict:
    """Median seconds of `code` after its imports (up to the START line), each run in a
    fresh process, with that process's peak memory."""
    imports, body = code.split("START\n")
    script = ("import json, sys, time\nfrom pathlib import Path\n" + imports
              + "sys.path.insert(0, " + repr(str(HERE)) + ")\nfrom measure import cpu_seconds, peak_bytes\n"
              + "started, cpu = time.perf_counter(), cpu_seconds()\n" + body
              + "print(json.dumps({'seconds': time.perf_counter() - started, 'cpu_seconds': cpu_seconds() - cpu,"
              + " 'peak_bytes': peak_bytes()}))\n")
    return summary([python_json("-c", script) for _ in range(runs)])
