"""The providers' conformance tables name, for every statement of a backend's document,
the test that checks it. A renamed or deleted test would leave a row pointing at
nothing while the table still reads "no row is open"; these checks keep each row honest."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TABLES = sorted((ROOT / "docs" / "providers").glob("*-conformance.md"))
ROW = re.compile(r"^\| *([A-Z]+-\d+[a-z]?) *\|")
TEST_REF = re.compile(r"(tests/[\w/]+\.py)::([A-Za-z_]\w*)")


def _rows(table: Path) -> list[tuple[str, str, int]]:
    """(row id, row text, line number) of each numbered row."""
    rows = []
    for number, line in enumerate(table.read_text(encoding="utf-8").splitlines(), start=1):
        if found := ROW.match(line):
            rows.append((found.group(1), line, number))
    return rows


@cache
def _test_names(path: Path) -> frozenset[str]:
    """The module-level test functions and test classes of a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)  # a reference names the class; its methods follow `::`
    return frozenset(names)


def test_there_are_four_tables_with_rows():
    assert {t.name for t in TABLES} == {f"{p}-conformance.md" for p in ("dstore", "tipsi", "mipos", "virtpos")}
    for table in TABLES:
        assert len(_rows(table)) >= 50, f"{table.name} lost its rows"


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.stem)
def test_every_row_names_a_test_that_exists(table: Path):
    missing, without_test, seen = [], [], set()
    for row_id, line, number in _rows(table):
        assert row_id not in seen, f"{table.name}:{number}: row {row_id} appears twice"
        seen.add(row_id)
        refs = TEST_REF.findall(line)
        if not refs:
            without_test.append(f"{table.name}:{number} ({row_id})")
        for file, name in refs:
            path = ROOT / file
            if not path.is_file() or name not in _test_names(path):
                missing.append(f"{table.name}:{number} ({row_id}) names {file}::{name}")
    assert not missing, "rows naming a test that does not exist:\n" + "\n".join(missing)
    assert not without_test, "rows without a test:\n" + "\n".join(without_test)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.stem)
def test_no_row_is_left_open(table: Path):
    open_rows = [f"{table.name}:{n} ({row_id})" for row_id, line, n in _rows(table)
                 if re.search(r"\*open\*", line, re.IGNORECASE)]
    assert not open_rows, "open rows:\n" + "\n".join(open_rows)
