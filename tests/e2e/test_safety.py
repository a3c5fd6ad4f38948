"""Safety thresholds refuse plans that would gut a store, unless --force."""

from __future__ import annotations

import json

from project_runner import ProjectRunner
from dstore_helpers import emulator_of

MENU = "menus:\n  m:\n    currency: SGD\n    products:\n{}\n"


def seven_item_store(tmp_path, project_safety: str = "") -> ProjectRunner:
    project = ProjectRunner(tmp_path / "cafe")
    project.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk, owned: true}\n' + project_safety)
    project.write("menu.yaml", MENU.format("\n".join(f"      i{n}: {{name: item {n}, price: 2}}" for n in range(7))))
    project.write("stores.yaml", "stores:\n  cafe: {name: Cafe, menu: m, backends: {demo: {store_id: c1}}}\n")
    assert project.run("apply", "--auto-approve").exit_code == 0
    return project


def test_a_seven_item_menu_losing_six_is_refused_and_nothing_is_sent(tmp_path):
    project = seven_item_store(tmp_path)
    project.write("menu.yaml", MENU.format("      i0: {name: item 0, price: 2}"))
    sent_before = len(emulator_of(project.root).requests)
    plan = project.run("plan")
    assert plan.exit_code == 3
    assert "demo/cafe: removes 6 of 7 products (86%), more than max_removed_share 30%" in plan.output
    apply = project.run("apply", "--auto-approve")
    assert apply.exit_code == 3
    assert "nothing was sent" in apply.output
    assert len(emulator_of(project.root).requests) == sent_before
    forced = project.run("apply", "--auto-approve", "--force")
    assert forced.exit_code == 0, forced.output
    assert list(emulator_of(project.root).products("bk", "c1")) == ["i0"]


def test_marking_most_of_a_store_soldout_is_refused(tmp_path):
    project = seven_item_store(tmp_path)
    soldout = ", ".join(f"i{n}: SOLDOUT" for n in range(3))
    project.write("stores.yaml", f"stores:\n  cafe: {{name: Cafe, menu: m, backends: {{demo: {{store_id: c1}}}}, status: {{{soldout}}}}}\n")
    result = project.run("plan", "--format", "json")
    assert result.exit_code == 3
    assert "makes 3 of 7 products unavailable (43%), more than max_unavailable_share 30%" in result.output


def test_thresholds_are_configurable_per_store(tmp_path):
    project = seven_item_store(tmp_path)
    soldout = ", ".join(f"i{n}: SOLDOUT" for n in range(3))
    project.write("stores.yaml", "stores:\n  cafe: {name: Cafe, menu: m, backends: {demo: {store_id: c1}}, "
                                 f"safety: {{max_unavailable_share: 0.5}}, status: {{{soldout}}}}}\n")
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output


def test_a_plan_file_refused_at_review_is_refused_at_apply(tmp_path):
    project = seven_item_store(tmp_path)
    project.write("menu.yaml", MENU.format("      i0: {name: item 0, price: 2}"))
    out = project.root / "plan.json"
    refused = project.run("plan", "--out", str(out))
    assert refused.exit_code == 3 and not out.exists()  # apply would only refuse that file
    assert "plan.json not written: safety refuses this plan" in refused.output
    assert project.run("plan", "--out", str(out), "--force").exit_code == 0  # reviewed, and meant
    assert json.loads(out.read_text())["stores"][0]["safety"]["violations"]
    assert project.run("apply", str(out)).exit_code == 3
    assert project.run("apply", str(out), "--force").exit_code == 0
