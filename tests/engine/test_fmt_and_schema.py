"""`reconciler fmt` and `reconciler schema`."""

from __future__ import annotations

import json

import pytest

from project_runner import CATALOGS, ProjectRunner
from reconciler.fmt import canonical_text

MESSY = """\
# the stores first, by habit
stores:
  s1:
    menu: m   # the only menu
    name: One
menus:
  m:
    products:
      p1:
        price: "1.00"  # cheap on purpose
        name: thing
    currency: SGD
"""

CANONICAL = """\
# the stores first, by habit
menus:
  m:
    currency: SGD
    products:
      p1:
        name: thing
        price: "1.00"  # cheap on purpose
stores:
  s1:
    name: One
    menu: m   # the only menu
"""


def test_canonical_order_keeps_comments_and_values():
    assert canonical_text(MESSY) == CANONICAL
    assert canonical_text(CANONICAL) == CANONICAL


def test_fmt_check_reports_and_fmt_rewrites(tmp_path):
    project = ProjectRunner(tmp_path / "p")
    project.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: b}\n')
    project.write("catalog.yaml", MESSY.replace("    menu: m   # the only menu\n", "    menu: m   # the only menu\n    backends: {demo: {store_id: s1}}\n"))
    check = project.run("fmt", "--check")
    assert check.exit_code == 1
    assert "would reformat" in check.output and "1 file(s) are not formatted" in check.output
    assert project.run("fmt").exit_code == 0
    assert project.run("fmt", "--check").exit_code == 0
    assert project.run("validate").exit_code == 0
    assert "# cheap on purpose" in (project.root / "catalog.yaml").read_text()


@pytest.mark.parametrize("example", sorted(p.name for p in CATALOGS.iterdir() if (p / "reconciler.yaml").exists()))
def test_examples_are_formatted(example):
    result = ProjectRunner(CATALOGS / example).run("fmt", "--check")
    assert result.exit_code == 0, result.output


def test_schema_of_catalog_and_project(tmp_path):
    runner = ProjectRunner(tmp_path)
    catalog = json.loads(runner.run("schema", "catalog").output)
    assert set(catalog["properties"]) == {"menus", "stores", "units", "suppliers"}
    assert catalog["additionalProperties"] is False
    project = json.loads(runner.run("schema", "project").output)
    backends = project["properties"]["backends"]["additionalProperties"]["anyOf"]
    dstore = next(b for b in backends if b["properties"]["provider"] == {"const": "dstore"})
    assert {"url", "client_id", "private_key", "pos_account_id", "gateway_public_key"} <= set(dstore["properties"])
    assert "provider" in dstore["required"]
