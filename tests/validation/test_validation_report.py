"""The report as a whole: every problem of every file at once, sorted, counted; and the
example project passes."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "catalogs"


def test_problems_in_several_files_are_reported_at_once_sorted_and_counted(project, at):
    config = """\
backends:
  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001}
  pos: {provider: nope, url: "https://pos.example"}
"""
    menus = """\
menus:
  m:
    currency: XYZ
    products:
      p1: {name: burger, price: "10.00"}
      g: {type: GROUP, name: choice}
"""
    stores = """\
stores:
  s1: {name: Store one, menu: m, backends: {demo: {store_id: s1}}}
  s2: {name: Store two, menu: nope, backends: {demo: {store_id: s2}}}
"""
    project.write("reconciler.yaml", config)
    project.write("b-menus.yaml", menus)
    project.write("a-stores.yaml", stores)
    outcome = project.validate()
    expected = [
        f"{at('a-stores.yaml', stores, 3, 'nope')}: error: menu 'nope' is not defined in menus",
        f"{at('b-menus.yaml', menus, 3, 'XYZ')}: error: unknown currency 'XYZ'",
        f"{at('b-menus.yaml', menus, 6, 'g')}: error: GROUP 'g' has no sub_products",
        f"{at('reconciler.yaml', config, 3, 'nope')}: error: unknown provider 'nope'",
    ]
    outcome.assert_rejected(at("reconciler.yaml", config, 3, "nope"), count=4)
    lines = outcome.stderr.splitlines()
    assert len(lines) == 5, outcome.report
    for line, start in zip(lines, expected):
        assert line.startswith(start), outcome.report
    assert lines[-1] == "error: 4 problems found; nothing was sent", outcome.report


def test_shape_problems_in_several_files_are_reported_at_once(project, at):
    a = 'menus:\n  m:\n    currency: SGD\n    products:\n      p1: {name: burger, prcie: "10.00"}\n'
    b = "menus:\n  n:\n    currency: SGD: x\n"
    c = "stores:\n  s1: {name: [Store, one], menu: m}\n"
    project.write("a.yaml", a)
    project.write("b.yaml", b)
    project.write("c.yaml", c)
    outcome = project.validate()
    outcome.assert_rejected(at("a.yaml", a, 5, "prcie"), "unknown key 'prcie'", count=3)
    lines = outcome.problem_lines
    assert lines[1].startswith(f"{at('b.yaml', b, 3, col=len('    currency: SGD') + 1)}: error: YAML syntax"), outcome.report
    assert lines[2].startswith(f"{at('c.yaml', c, 2, '[Store')}: error: stores.s1.name:"), outcome.report
    assert outcome.stderr.splitlines()[-1] == "error: 3 problems found; nothing was sent"


def test_dstore_examples_are_valid(tmp_path):
    root = tmp_path / "dstore-examples"
    shutil.copytree(EXAMPLES / "dstore-examples", root, ignore=shutil.ignore_patterns(".reconciler"))
    result = CliRunner().invoke(main, ["-C", str(root), "validate"])
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stderr == ""
    assert result.stdout == "ok: 6 menus, 6 stores, 6 store bindings on 1 backends\n"
    assert not (root / ".reconciler").exists(), "validate wrote under .reconciler/"
