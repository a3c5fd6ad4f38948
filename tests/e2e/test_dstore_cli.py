"""End to end through the CLI against the in-process D-Store emulator."""

from __future__ import annotations

import json

from markdown_it import MarkdownIt

from dstore_helpers import emulator_of, processed
from document_examples import DOCUMENT_EXAMPLES

# catalogs/dstore-examples store -> (posStoreId, document example)
EXAMPLE_STORES = {"basic": ("s1", "basic"), "modifier-group": ("s2", "modifier"),
                  "nested-modifiers": ("s3", "nested"), "variant": ("s4", "variant"),
                  "combo": ("s5", "combo"), "bundle": ("s6", "bundle")}


def test_first_plan_is_readable_in_all_three_formats(dstore_examples):
    text = dstore_examples.run("plan")
    assert text.exit_code == 0, text.output
    assert "demo / combo (id s5 on dstore): full path - no state recorded for this store yet" in text.output
    assert "+ p2 (chicken burger)" in text.output
    assert "Plan: 30 to create, 0 to update, 0 to remove in 6 stores; 6 requests" in text.output

    markdown = dstore_examples.run("plan", "--format", "markdown")
    assert markdown.exit_code == 0
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown.output)
    assert any(t.type == "table_open" for t in tokens)
    assert markdown.output.count("<details>") == markdown.output.count("</details>") == 6
    assert markdown.output.startswith("<!-- reconciler-plan -->")

    as_json = json.loads(dstore_examples.run("plan", "--format", "json").output)
    assert as_json["format_version"] == 1
    assert {s["store"]: s["path"] for s in as_json["stores"]} == dict.fromkeys(EXAMPLE_STORES, "full")
    # Planning sends nothing.
    assert not (dstore_examples.root / ".reconciler" / "emulators" / "demo" / "data.json").exists() or \
        emulator_of(dstore_examples.root).requests == []


def test_apply_reproduces_every_document_example_then_plan_shows_no_changes(dstore_examples):
    result = dstore_examples.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Apply finished: 6 applied, 0 not applied." in result.output
    emulator = emulator_of(dstore_examples.root)
    for store, (remote, example) in EXAMPLE_STORES.items():
        expected = {p["posProductId"]: p for p in DOCUMENT_EXAMPLES[example]}
        assert emulator.products("bk001", remote) == expected, store
    again = dstore_examples.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes." in again.output


def test_status_change_sends_one_request_with_only_id_and_status(dstore_examples):
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    before = len(emulator_of(dstore_examples.root).requests)
    dstore_examples.edit("stores/stores.yaml", "backends: {demo: {store_id: s5}}}",
                         "backends: {demo: {store_id: s5}}, status: {p2: SOLDOUT}}")
    plan = dstore_examples.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "light path - status-only drift on 1 SINGLE/MODIFIER product" in plan.output
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    emulator = emulator_of(dstore_examples.root)
    sent = emulator.requests[before:]
    assert len(sent) == 1
    assert sent[0]["mode"] == "status"
    assert sent[0]["body"]["store"] == {"posStoreId": "s5"}
    assert sent[0]["body"]["products"] == [{"posProductId": "p2", "status": "SOLDOUT"}]
    assert emulator.products("bk001", "s5")["p2"]["status"] == "SOLDOUT"
    # The rest of the store is untouched.
    assert len(emulator.products("bk001", "s5")) == 7
    assert dstore_examples.run("plan", "--detailed-exitcode").exit_code == 0


def test_toggling_a_product_takes_effect_every_time(dstore_examples):
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    stores = (dstore_examples.root / "stores/stores.yaml").read_text()
    line = "backends: {demo: {store_id: s5}}}"
    request_ids = []
    for status in ("SOLDOUT", "AVAILABLE", "SOLDOUT"):
        (dstore_examples.root / "stores/stores.yaml").write_text(
            stores.replace(line, f"backends: {{demo: {{store_id: s5}}}}, status: {{p2: {status}}}}}"))
        result = dstore_examples.run("apply", "--auto-approve")
        assert result.exit_code == 0, result.output
        emulator = emulator_of(dstore_examples.root)
        assert emulator.products("bk001", "s5")["p2"]["status"] == status
        last = emulator.requests[-1]
        assert last["mode"] == "status" and not last["replayed"]
        request_ids.append(last["requestId"])
    assert len(set(request_ids)) == 3  # a new requestId per plan, so no change is swallowed


def test_plan_file_round_trip_and_stale_plan_refused(dstore_examples):
    out = dstore_examples.root / "plan.json"
    assert dstore_examples.run("plan", "--out", str(out)).exit_code == 0
    shown = dstore_examples.run("show", str(out))
    assert "full path" in shown.output
    # The catalog changes after the plan was reviewed: the plan must not be applied.
    dstore_examples.edit("menus/basic.yaml", 'price: "10.00"', 'price: "11.00"')
    stale = dstore_examples.run("apply", str(out))
    assert stale.exit_code == 1
    assert "is stale; nothing was sent" in stale.output
    assert "demo/basic: the catalog changed since the plan was made" in stale.output
    assert not (dstore_examples.root / ".reconciler" / "emulators" / "demo" / "data.json").exists() or \
        emulator_of(dstore_examples.root).requests == []
    # A fresh plan applies, exactly as reviewed.
    assert dstore_examples.run("plan", "--out", str(out)).exit_code == 0
    applied = dstore_examples.run("apply", str(out))
    assert applied.exit_code == 0, applied.output
    reviewed = json.loads(out.read_text())
    sent = {r["requestId"] for r in emulator_of(dstore_examples.root).requests}
    assert sent == {s["actions"][0]["idempotency_key"] for s in reviewed["stores"]}


def test_plan_is_stale_when_the_state_moved(dstore_examples):
    out = dstore_examples.root / "plan.json"
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    dstore_examples.edit("menus/basic.yaml", 'price: "10.00"', 'price: "11.00"')
    assert dstore_examples.run("plan", "--out", str(out)).exit_code == 0
    # Someone applies the same change from elsewhere first.
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    stale = dstore_examples.run("apply", str(out))
    assert stale.exit_code == 1
    assert "recorded state changed since the plan was made" in stale.output


def test_apply_without_a_terminal_needs_auto_approve(dstore_examples):
    result = dstore_examples.run("apply")
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert not (dstore_examples.root / ".reconciler" / "emulators" / "demo" / "data.json").exists() or \
        emulator_of(dstore_examples.root).requests == []


def test_selectors_include_and_exclude(dstore_examples):
    only = json.loads(dstore_examples.run("plan", "--format", "json", "--store", "combo").output)
    assert [s["store"] for s in only["stores"]] == ["combo"]
    globbed = json.loads(dstore_examples.run("plan", "--format", "json", "--store", "*-modifiers",
                                             "--store", "variant").output)
    assert [s["store"] for s in globbed["stores"]] == ["nested-modifiers", "variant"]
    excluded = json.loads(dstore_examples.run("plan", "--format", "json", "--exclude-store", "combo",
                                              "--exclude-store", "bundle").output)
    assert {s["store"] for s in excluded["stores"]} == set(EXAMPLE_STORES) - {"combo", "bundle"}
    none = json.loads(dstore_examples.run("plan", "--format", "json", "--exclude-backend", "demo").output)
    assert none["stores"] == []
    assert dstore_examples.run("apply", "--auto-approve", "--store", "basic").exit_code == 0
    assert {r["body"]["store"]["posStoreId"] for r in emulator_of(dstore_examples.root).requests} == {"s1"}


def test_full_flag_forces_a_full_resync(dstore_examples):
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    plan = json.loads(dstore_examples.run("plan", "--format", "json", "--full", "--store", "combo").output)
    (store,) = plan["stores"]
    assert store["path"] == "full" and store["reason"] == "--full was given"
    assert store["actions"][0]["kind"] == "syncProduct.full"
    assert len(store["actions"][0]["body"]["products"]) == 7


def test_price_change_takes_the_full_path_and_says_why(dstore_examples):
    assert dstore_examples.run("apply", "--auto-approve").exit_code == 0
    dstore_examples.edit("stores/stores.yaml", "backends: {demo: {store_id: s5}}}",
                         'backends: {demo: {store_id: s5}}, prices: {p3: "14.50"}}')
    plan = json.loads(dstore_examples.run("plan", "--format", "json").output)
    (store,) = [s for s in plan["stores"] if s["actions"]]
    assert store["path"] == "full"
    assert store["reason"] == "'p3' changed price"
    (change,) = store["changes"]
    assert change["fields"] == [{"field": "price.value", "old": 1500, "new": 1450}]
    assert store["full_cost"]["requests"] == 1
    assert len(store["actions"]) == 1


def test_many_status_changes_are_batched_by_ten(tmp_path):
    from project_runner import ProjectRunner

    project = ProjectRunner(tmp_path / "big")
    project.write("reconciler.yaml", 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001, owned: true}\n'
                                     "safety: {max_unavailable_share: 1}\n")
    products = "\n".join(f"      m{i:02d}: {{name: item {i}, price: 1}}" for i in range(25))
    project.write("menu.yaml", f"menus:\n  big:\n    currency: SGD\n    products:\n{products}\n")
    project.write("stores.yaml", "stores:\n  one: {name: one, menu: big, backends: {demo: {store_id: x1}}}\n")
    assert project.run("apply", "--auto-approve").exit_code == 0
    soldout = ", ".join(f"m{i:02d}: SOLDOUT" for i in range(23))
    project.write("stores.yaml", f"stores:\n  one: {{name: one, menu: big, backends: {{demo: {{store_id: x1}}}}, status: {{{soldout}}}}}\n")
    plan = json.loads(project.run("plan", "--format", "json").output)
    (store,) = plan["stores"]
    assert store["path"] == "light"
    assert [len(a["body"]["products"]) for a in store["actions"]] == [10, 10, 3]
    for action in store["actions"]:
        assert all(set(p) == {"posProductId", "status"} for p in action["body"]["products"])
    result = project.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    emulator = emulator_of(project.root)
    assert [r["mode"] for r in processed(emulator)] == ["full", "status", "status", "status"]
    assert sum(p["status"] == "SOLDOUT" for p in emulator.products("bk001", "x1").values()) == 23
