"""What makes a chain cheap to plan, seen from outside: stores share the menu's products,
the state keeps each product body once, and problems of the menu are said once."""

from __future__ import annotations

import sqlite3

import pytest

from project_runner import ProjectRunner
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.render.text import render_text
from reconciler.state import open_state
from reconciler.validation import validate_project

PRODUCTS = 30
STORES = 12


def chain(tmp_path, price_of_s3: str = "4.50", menu_price: str = "2.00") -> ProjectRunner:
    project = ProjectRunner(tmp_path / "chain")
    project.write("reconciler.yaml", 'catalog: [menu.yaml, stores.yaml]\n'
                  'backends:\n  ds: {provider: dstore, url: "emulator://", pos_account_id: chain, owned: true}\n')
    products = "\n".join(f'      p{i}: {{name: "item {i}", price: "{menu_price}"}}' for i in range(PRODUCTS))
    project.write("menu.yaml", f"menus:\n  m:\n    currency: SGD\n    products:\n{products}\n")
    stores = ["stores:"]
    for n in range(STORES):
        price = price_of_s3 if n == 3 else f"3.{n:02d}"
        stores.append(f"  s{n}: {{name: Store {n}, menu: m, backends: {{ds: {{store_id: s{n}}}}},"
                      f' prices: {{p{n}: "{price}"}}}}')
    project.write("stores.yaml", "\n".join(stores) + "\n")
    return project


def bodies(project: ProjectRunner) -> set[str]:
    db = sqlite3.connect(project.root / ".reconciler" / "state.db")
    try:
        return {row[0] for row in db.execute("SELECT body FROM bodies")}
    finally:
        db.close()


def test_stores_share_the_menus_products_and_the_provider_maps_each_once(tmp_path):
    project = chain(tmp_path)
    loaded = load_project(project.root)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    provider = validated.providers["ds"]
    first, second = (provider.desired(view).resources for view in validated.views[:2])
    assert first["p5"] is second["p5"]  # neither store overrides p5: one object for both
    assert first["p0"] is not second["p0"]  # s0 sets its own price of p0
    assert first["p0"]["price"]["value"] == 300 and second["p0"]["price"]["value"] == 200
    assert list(first) == [f"p{i}" for i in range(PRODUCTS)]  # menu order, overrides in place


def test_the_state_keeps_each_body_once_and_drops_those_no_store_holds(tmp_path):
    project = chain(tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    # 30 menu products as most stores have them, plus each store's own price of one product.
    assert len(bodies(project)) == PRODUCTS + STORES
    assert '"value":450' in "".join(bodies(project))

    project.edit("stores.yaml", 'prices: {p3: "4.50"}', 'prices: {p3: "4.75"}')
    assert project.run("apply", "--auto-approve").exit_code == 0
    kept = bodies(project)
    assert len(kept) == PRODUCTS + STORES
    assert '"value":450' not in "".join(kept) and '"value":475' in "".join(kept)

    state = open_state(f"sqlite:///{project.root / '.reconciler' / 'state.db'}", project.root)
    try:
        row = state.get("ds", "s3")
        assert row.resources["p3"]["price"] == {"currency": "SGD", "value": 475}
        assert len(row.resources) == PRODUCTS
    finally:
        state.close()
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_damaged_state_is_refused_with_a_message_not_a_traceback(tmp_path):
    project = chain(tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    db = sqlite3.connect(project.root / ".reconciler" / "state.db")
    db.execute("DELETE FROM bodies WHERE body LIKE '%\"value\":450%'")
    db.commit()
    db.close()
    result = project.run("plan")
    assert result.exit_code == 1
    assert "the state is damaged: 1 resource bodies it refers to are missing" in result.stderr


@pytest.mark.parametrize("where", ["menu", "store"])
def test_a_problem_is_said_once_however_many_stores_share_it(tmp_path, where):
    too_much = "30000000.00"  # 3,000,000,000 cents: over D-Store's 2,147,483,647
    project = chain(tmp_path, **({"menu_price": too_much} if where == "menu" else {"price_of_s3": too_much}))
    result = project.run("validate")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "minor units" in line]
    if where == "menu":
        # Every product of the menu is over the limit once, at the menu, not once per store.
        assert len(lines) == PRODUCTS and all(line.startswith("menu.yaml:") for line in lines)
    else:
        assert lines == [f"stores.yaml:5:{lines[0].split(':')[2]}: error: {too_much} SGD is 3000000000 minor units; "
                         "D-Store takes 0..2147483647"]


def test_the_plain_plan_has_no_styling_and_names_are_never_read_as_markup(tmp_path):
    project = chain(tmp_path)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.edit("menu.yaml", 'p3: {name: "item 3"', 'p3: {name: "[bold]item 3[/bold]"')
    plan_file = project.root / "plan.json"
    assert project.run("plan", "--out", str(plan_file)).exit_code == 0
    from reconciler.plan import Plan

    the_plan = Plan.model_validate_json(plan_file.read_text())
    plain, colored = render_text(the_plan), render_text(the_plan, color=True)
    assert "ds / s3 (id s3 on dstore): full path - 'p3' changed name" in plain
    assert "~ p3 ([bold]item 3[/bold]): name item 3 -> [bold]item 3[/bold]" in plain
    assert "\x1b[" not in plain
    assert "\x1b[" in colored and "[bold]item 3[/bold]" in colored


def test_a_backend_rate_limit_spaces_the_requests_of_all_its_stores(tmp_path):
    import time

    project = chain(tmp_path)
    project.edit("reconciler.yaml", "owned: true}", "owned: true, rate_limit: 5, concurrency: 8}")
    started = time.monotonic()
    result = project.run("apply", "--auto-approve")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    # 12 stores, one request each, at 5 per second with a bucket of 5: the last seven
    # wait for refills, so the apply cannot end before 7/5 s.
    assert elapsed >= 1.3
    assert "12 applied" in result.output


def test_a_rate_limit_that_is_not_positive_is_refused_at_its_line(tmp_path):
    project = chain(tmp_path)
    project.edit("reconciler.yaml", "owned: true}", "owned: true, rate_limit: 0}")
    result = project.run("validate")
    assert result.exit_code == 1
    assert result.stderr.startswith("reconciler.yaml:3:")
    assert "rate_limit" in result.stderr and "greater than 0" in result.stderr


def test_stock_a_backend_does_not_hold_costs_that_backend_nothing(tmp_path):
    # Every product of s1 has stock; D-Store holds no stock, so s1's D-Store products are
    # the menu's own (mapped and hashed once per chain), except the one it prices itself.
    project = chain(tmp_path)
    text = (project.root / "stores.yaml").read_text()
    stock = ", ".join(f"p{i}: {i + 1}" for i in range(PRODUCTS))
    project.write("stores.yaml", text.replace("prices: {p1: ", f"stock: {{{stock}}}, prices: {{p1: "))
    loaded = load_project(project.root)
    validated = validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir))
    provider = validated.providers["ds"]
    s0, s1 = (provider.desired(view).resources for view in validated.views[:2])
    assert validated.views[1].store.stock  # the edit took
    assert [k for k in s1 if s1[k] is not s0[k]] == ["p0", "p1"]  # s0's and s1's own prices
    assert s1["p1"]["price"]["value"] == 301


def test_a_resources_size_is_its_request_body_length_once_it_is_hashed():
    from reconciler.fingerprint import encode_body, encoded_size, resource_hash

    value = {"z": "ü € \n \"q\"", "a": {"y": [1, "\u2028", None], "b": True}, "m": 10**20}
    resource_hash(value)  # computes the size from the canonical (sorted) encoding
    assert encoded_size(value) == len(encode_body(value))
