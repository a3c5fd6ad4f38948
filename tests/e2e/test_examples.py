"""Every example project in catalogs/ runs as-is: validate, plan, apply, plan again."""

from __future__ import annotations

import pytest

from project_runner import EXAMPLES, copy_example


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_converges(example, tmp_path):
    project = copy_example(example, tmp_path)
    assert project.run("validate").exit_code == 0
    first = project.run("plan", "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    again = project.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output


def test_chain_data_change_touches_only_that_store(tmp_path):
    project = copy_example("dstore-chain", tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("data/stores.csv", "jurong,Jurong Point,sg-003,19.50", "jurong,Jurong Point,sg-003,18.90")
    plan = project.run("plan")
    assert "dstore-sg / jurong (id sg-003 on dstore): full path - 'set-meal' changed price" in plan.output
    assert "set-meal (burger set meal): price.value 1950 -> 1890" in plan.output
    assert "1 to update" in plan.output and "in 1 store;" in plan.output


def test_chain_template_error_points_at_the_template_line(tmp_path):
    project = copy_example("dstore-chain", tmp_path)
    project.edit("stores.yaml.j2", "    menu: burgers", "    menu: burgerz")
    result = project.run("validate")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "stores.yaml.j2:9:11: error: menu 'burgerz' is not defined in menus"
    # Five stores come from that line; the same problem at the same place is said once.
    assert lines[-1] == "error: 1 problem found; nothing was sent"
