"""A seeded mutator of the example catalogs, and the checks every run of it must pass.

`mutate` damages one file of a copy of an example project the way hands and tools do:
a deleted or doubled line, a stray byte, a control character, a broken indentation, a
truncated file, a number with thousands of digits, a value YAML reads as something else,
a small alias bomb. `run_case` runs `reconciler validate` and `reconciler fmt --check FILES` on
it in this process, each bounded by a timer and a memory budget, and `problems_with`
says what is wrong with what they did: an exit other than 0 or 1, a traceback, an error
that names no `file:line:col`.

Deterministic: a case is its seed. `RECONCILER_FUZZ_CASES` runs more of them.
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from project_runner import CATALOGS, EXAMPLES
from reconciler.cli import main

SECONDS_PER_RUN = 20  # a sanity guard against hangs, far above what a run takes
MEMORY_PER_RUN = 300 * 2**20  # bytes allocated at the peak, far above what a run takes

PROBLEM = re.compile(r"^\S+:\d+:\d+: error: .+$")
SUMMARY = re.compile(r"^error: \d+ problems? found; nothing was sent$")
FMT_SUMMARY = re.compile(r"^error: \d+ file\(s\) (are not formatted; run `reconciler fmt`|"
                         r"cannot be read as YAML and were not formatted)$")
TEMPLATE_NOTE = re.compile(r"^left \S+ alone: templates are not formatted$")

# Things that land in catalog files by accident, or on purpose.
STRAY = [b"\x00", b"\x07", b"\x1b", b"\x7f", b"\xff", b"\xc3", b"\xe2\x80\xa8", b"\xc2\x85", b"\xef\xbb\xbf",
         b"\t", b"\r", b"\r\n", b"'", b'"', b"\\", b":", b": ", b"#", b" #", b"-", b"- ", b"?", b"? ", b"{", b"}",
         b"[", b"]", b",", b"&", b"*", b"!", b"!!", b"|", b">", b"%", b"@", b"`", b"---\n", b"...\n",
         b"{{", b"}}", b"{%", b"%}", b"{#", b"\xe9", "😀".encode()]
VALUES = [b"yes", b"no", b"~", b"null", b"2024-13-45", b"2024-01-02", b"0x1F", b"0o17", b"-5", b"1e999", b".inf",
          b".nan", b"[]", b"{}", b"''", b"1:30", b"10.005", b"-0.00", b"&x y", b"*nope", b"!!binary x",
          b"!!python/object:os.system x", b"<<: {a: 1}", b"1" * 5000, b"1" * 5000 + b".5", b"9" * 120,
          b'"' + b"1" * 5000 + b'"', b"1e400000000", b"Jurong #1 Point", b"[" * 300 + b"]" * 300]


KEYS = [b"~", b"null", b"1", b"1.50", b"yes", b"[a, b]", b"{a: 1}", b"? x", b"<<", b"*x", b"&x k", b"''", b'"a\\x00b"',
        b"p" * 2000, b"-", b"!!int 1", b"2024-01-02"]


def _alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    lines = [b"x0: &a0 [" + b", ".join([b"lol"] * width) + b"]"]
    for i in range(1, levels):
        lines.append(f"x{i}: &a{i} [".encode() + b", ".join([f"*a{i - 1}".encode()] * width) + b"]")
    return b"\n".join(lines) + b"\n"


def _edit_line(lines: list[bytes], rng: random.Random) -> None:
    i = rng.randrange(len(lines))
    line = lines[i]
    choice = rng.randrange(12)
    if choice == 0:
        del lines[i]
    elif choice == 1:
        lines.insert(i, line)  # a doubled line: a duplicate key, most of the time
    elif choice == 2:
        lines[i] = b" " * rng.randint(1, 3) + line
    elif choice == 3:
        lines[i] = line[rng.randint(1, 3):] if len(line) > 3 else line
    elif choice in (4, 5):
        at = rng.randint(0, len(line))
        lines[i] = line[:at] + rng.choice(STRAY) + line[at:]
    elif choice == 6 and line:
        at = rng.randrange(len(line))
        lines[i] = line[:at] + line[at + 1:]
    elif choice == 7:
        at = rng.randint(0, len(line))
        lines[i] = line[:at] + bytes([rng.randrange(256)]) + line[at:]
    elif choice == 8 and b": " in line:  # replace a key
        indent = len(line) - len(line.lstrip(b" -"))
        lines[i] = line[:indent] + rng.choice(KEYS) + line[line.index(b": "):]
    else:  # replace a value: after ': ', or a whole CSV cell
        if b": " in line:
            head = line[:line.index(b": ") + 2]
            lines[i] = head + rng.choice(VALUES)
        elif b"," in line:
            cells = line.split(b",")
            cells[rng.randrange(len(cells))] = rng.choice(VALUES)
            lines[i] = b",".join(cells)
        else:
            lines[i] = line + rng.choice(VALUES)


def mutate(root: Path, rng: random.Random) -> tuple[Path, str]:
    """Damage one file under `root`; return it and a description of what was done."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".j2", ".csv"))
    path = rng.choice(files)
    data = path.read_bytes()
    if rng.random() < 0.03:
        path.write_bytes(data + _alias_bomb())
        return path, f"{path.relative_to(root)}: alias bomb appended"
    if rng.random() < 0.05:
        path.write_bytes(data[:rng.randrange(len(data) + 1)])
        return path, f"{path.relative_to(root)}: truncated"
    lines = data.split(b"\n")
    edits = rng.randint(1, 3)
    for _ in range(edits):
        _edit_line(lines, rng)
    path.write_bytes(b"\n".join(lines))
    return path, f"{path.relative_to(root)}: {edits} edit(s)"


class TooSlow(BaseException):
    """Raised by the timer inside a run that takes too long (never caught as an Exception)."""


@contextmanager
def time_limit(seconds: float):
    def expired(signum, frame):
        raise TooSlow(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Run:
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    seconds: float
    peak_bytes: int


def run_cli(root: Path, *args: str) -> Run:
    """`reconciler -C root ARGS` in this process, timed and with its allocations traced."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start = time.perf_counter()
    try:
        with time_limit(SECONDS_PER_RUN):
            result = CliRunner().invoke(main, ["-C", str(root), *args])
        exception = result.exception
    except TooSlow as exc:  # CliRunner lets BaseExceptions through
        return Run(args, -1, "", "", exc, time.perf_counter() - start, tracemalloc.get_traced_memory()[1])
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        if not tracing:
            tracemalloc.stop()
    return Run(args, result.exit_code, result.stdout, result.stderr, exception, time.perf_counter() - start, peak)


def problems_with(run: Run) -> list[str]:
    """What a user would call a bug in this run; empty when it behaved."""
    out = []
    if isinstance(run.exception, TooSlow):
        return [f"{' '.join(run.args)}: {run.exception}"]
    if run.exception is not None and not isinstance(run.exception, SystemExit):
        out.append(f"crashed: {type(run.exception).__name__}: {run.exception}")
    if run.exit_code not in (0, 1):
        out.append(f"exit code {run.exit_code}")
    if "Traceback" in run.stdout + run.stderr:
        out.append("a traceback was printed")
    if run.peak_bytes > MEMORY_PER_RUN:
        out.append(f"allocated {run.peak_bytes / 2**20:.0f} MB")
    allowed = [PROBLEM, SUMMARY, FMT_SUMMARY, TEMPLATE_NOTE]
    for line in run.stderr.splitlines():
        if not any(pattern.match(line) for pattern in allowed):
            out.append(f"not `file:line:col: error: ...`: {line!r}")
    if run.exit_code == 1 and not run.stderr.strip():
        out.append("exit 1 without a message")
    return out


def run_case(seed: int, workdir: Path) -> tuple[str, list[Run]]:
    """Mutate a copy of one example (chosen by `seed`) and run validate and fmt --check."""
    rng = random.Random(seed)
    example = EXAMPLES[seed % len(EXAMPLES)]
    root = workdir / f"{example}-{seed}"
    shutil.copytree(CATALOGS / example, root, ignore=shutil.ignore_patterns(".reconciler"))
    path, what = mutate(root, rng)
    what = f"seed {seed}, {example}, {what}"
    # fmt as the pre-commit hook runs it, on the file that changed (templates too), or
    # on the project's catalog when that was a data file or reconciler.yaml.
    staged = [str(path)] if path.name.endswith((".yaml", ".yml", ".j2")) and path.name != "reconciler.yaml" else []
    runs = [run_cli(root, "validate"), run_cli(root, "fmt", "--check", *staged)]
    shutil.rmtree(root, ignore_errors=True)
    return what, runs
