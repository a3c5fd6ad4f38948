"""Fixtures for the validation tests: a throw-away project in tmp_path, `reconciler
validate` run through the real CLI, and checks on what it printed.

Every failing project must be rejected with exit 1, each problem printed on stderr as
`file:line:col: error: message`, a last line counting the problems, and nothing sent
anywhere (no emulator data, no state rows).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import main

DEMO_CONFIG = """\
backends:
  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001}
"""

SUMMARY_RE = re.compile(r"^error: (\d+) problems? found; nothing was sent$")
PROBLEM_RE = re.compile(r"^(?P<loc>[^:\s]+:\d+:\d+): (?:error|warning): (?P<message>.*)$")


def at(file: str, text: str, line: int, token: str | None = None, col: int | None = None) -> str:
    """`file:line:col` of `token` on 1-based `line` of `text`, matched as a whole token.

    Expected locations are derived from the YAML each test writes, so the numbers in a
    test are the ones a user would read in their editor.
    """
    lines = text.split("\n")
    content = lines[line - 1]
    if col is None:
        assert token is not None
        match = re.search(rf"(?<![\w-]){re.escape(token)}(?![\w-])", content)
        assert match, f"{token!r} not on line {line} of {file}: {content!r}"
        col = match.start() + 1
    return f"{file}:{line}:{col}"


@dataclass
class Outcome:
    root: Path
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    @property
    def report(self) -> str:
        return f"exit {self.exit_code}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    @property
    def problem_lines(self) -> list[str]:
        lines = self.stderr.splitlines()
        return lines[:-1] if lines and SUMMARY_RE.match(lines[-1]) else lines

    def assert_nothing_sent(self) -> None:
        work = self.root / ".reconciler"
        assert not (work / "emulators").exists(), "validate started an emulator / sent something"
        db = work / "state.db"
        if db.exists():
            with sqlite3.connect(db) as conn:
                tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
                for table in tables:
                    (rows,) = conn.execute(f'select count(*) from "{table}"').fetchone()
                    assert rows == 0, f"validate wrote {rows} rows to state table {table}"

    def assert_rejected(self, location: str, *phrases: str, count: int | None = 1) -> str:
        """Exit 1, a well-formed report, the problem at `location` naming `phrases`.

        `count` is how many problems the report must hold (None: any number).
        Returns the matching problem line.
        """
        assert self.exception is None or isinstance(self.exception, SystemExit), (
            f"crashed: {self.exception!r}\n{self.report}"
        )
        assert self.exit_code == 1, self.report
        lines = self.stderr.splitlines()
        assert lines, self.report
        summary = SUMMARY_RE.match(lines[-1])
        assert summary, f"last stderr line is not the problem count\n{self.report}"
        problems = lines[:-1]
        assert int(summary.group(1)) == len(problems), self.report
        for line in problems:
            assert PROBLEM_RE.match(line), f"not `file:line:col: error|warning: message`: {line!r}\n{self.report}"
        if count is not None:
            assert len(problems) == count, self.report
        here = [line for line in problems if line.startswith(f"{location}: error: ")]
        assert here, f"no problem at {location}\n{self.report}"
        matching = [line for line in here if all(p in line for p in phrases)]
        assert matching, f"no problem at {location} mentions {phrases}\n{self.report}"
        self.assert_nothing_sent()
        return matching[0]


@dataclass
class TmpProject:
    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def validate(self) -> Outcome:
        result = CliRunner().invoke(main, ["-C", str(self.root), "validate"])
        return Outcome(self.root, result.exit_code, result.stdout, result.stderr, result.exception)


@pytest.fixture
def project(tmp_path: Path) -> TmpProject:
    """An empty project with the one emulated D-Store backend `demo`."""
    root = tmp_path / "proj"
    root.mkdir()
    proj = TmpProject(root)
    proj.write("reconciler.yaml", DEMO_CONFIG)
    return proj


@pytest.fixture
def validate_catalog(project: TmpProject):
    """Write `catalog.yaml` and run `reconciler validate`."""

    def run(catalog: str) -> Outcome:
        project.write("catalog.yaml", catalog)
        return project.validate()

    return run


@pytest.fixture(name="at")
def at_fixture():
    """The `at(file, text, line, token)` helper, for expected locations."""
    return at
