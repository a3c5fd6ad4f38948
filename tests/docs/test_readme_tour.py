"""The README's tour, run line by line as a newcomer would, prints what the README says.

Each ```console block of the "A tour" section is one bash session: `$ ` lines are
commands, the lines after them what they print (stdout and stderr together). In the
expected text `<plan-id>` stands for a plan id and a line `...` for any lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from project_runner import REPO

MARK = "@@@ tour step @@@"
PLAN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def tour_blocks() -> list[list[tuple[str, list[str]]]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A tour\n", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        steps: list[tuple[str, list[str]]] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        blocks.append(steps)
    return blocks


def matches(expected: list[str], actual: list[str]) -> bool:
    """`expected` against `actual`, where a line `...` stands for any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


def test_the_readme_tour_prints_what_it_says(tmp_path):
    blocks = tour_blocks()
    assert len(blocks) == 2 and sum(len(b) for b in blocks) >= 10
    script = ["set -u"]
    for steps in blocks:
        for command, _ in steps:
            script.append(f"echo '{MARK}'")
            if command == ". .venv/bin/activate":  # the venv these tests run in, wherever it is
                command = f'export PATH="{Path(sys.executable).parent}:$PATH"'
            script.append(f"{{ {command}\n}} 2>&1")
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("RECONCILER_STATE", None)
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    outputs = run.stdout.split(MARK + "\n")[1:]
    steps = [step for steps in blocks for step in steps]
    assert len(outputs) == len(steps), run.stdout + run.stderr
    for (command, expected), output in zip(steps, outputs):
        actual = PLAN_ID.sub("<plan-id>", output).splitlines()
        assert matches(expected, actual), (f"README tour: `{command}` printed\n" + "\n".join(actual)
                                           + "\n\nbut the README says\n" + "\n".join(expected))
    # The tour worked on a copy: the repository's example is untouched.
    assert not (REPO / "catalogs" / "dstore-examples" / "plan.json").exists()
    assert not (REPO / "catalogs" / "dstore-examples" / "comment.md").exists()
