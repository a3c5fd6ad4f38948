"""Pure miPOS translation: decimal strings, the sync body, movements, the document's rules."""

from __future__ import annotations

from decimal import Decimal

from reconciler_mipos import mapping


def resource(external_id, purchase, consumption, cost, stock):
    units = {u: {"name": f"Unit {u[-1]}", "short_name": f"u{u[-1]}"} for u in (purchase, consumption)}
    return {"name": f"Testing item {external_id[-1]}", "external_id": external_id,
            "purchase_unit_external_id": purchase, "consumption_unit_external_id": consumption,
            "supplier_external_id": "pos_sup_1", "cost": cost, "stock": stock,
            "units": units, "supplier": {"name": "supplier 1"}}


def test_decimals_are_sent_as_written_without_float_noise():
    assert [mapping.decimal_text(Decimal(t)) for t in ("11.22", "5.50", "1250", "1E+2", "0.1", "-0")] == [
        "11.22", "5.50", "1250", "100", "0.1", "0"]


def test_sync_body_has_only_referenced_units_and_suppliers_once_each():
    body = mapping.sync_body({"item_abc456": resource("item_abc456", "pos_u2", "pos_u2", "100", "5.50"),
                              "item_abc123": resource("item_abc123", "pos_u1", "pos_u2", "1250", "11.22")},
                             "30", "isid")
    assert [i["external_id"] for i in body["items"]] == ["item_abc123", "item_abc456"]
    assert set(body["items"][0]) == set(mapping.ITEM_FIELDS)
    assert body["units"] == [{"name": "Unit 1", "short_name": "u1", "external_id": "pos_u1"},
                             {"name": "Unit 2", "short_name": "u2", "external_id": "pos_u2"}]
    assert body["suppliers"] == [{"name": "supplier 1", "external_id": "pos_sup_1"}]
    assert mapping.sync_problems(body) == []


def test_movement_type_and_quantity_follow_the_sign_of_the_change():
    down = mapping.movement("x", "13.69", "12.44", "30", "isid", "2020-05-30 12:45:03")
    assert (down["movement_type"], down["quantity"], down["current_stock"]) == (2, "1.25", "12.44")
    up = mapping.movement("x", "5", "7.5", "30", "isid", "d")
    assert (up["movement_type"], up["quantity"]) == (1, "2.5")


def test_stock_only_drift_is_told_apart_from_other_changes():
    old = resource("a", "u1", "u1", "1", "2")
    assert mapping.stock_only(old, {**old, "stock": "3"})
    assert not mapping.stock_only(old, {**old, "stock": "3", "cost": "2"})
    assert not mapping.stock_only(None, old) and not mapping.stock_only(old, old)


def test_the_document_error_list_is_checked_item_by_item():
    body = {"items": [{"external_id": "x", "purchase_unit_external_id": "nope", "consumption_unit_external_id": 4,
                       "supplier_external_id": "ghost", "cost": 12, "stock": None}],
            "units": [{"external_id": "u"}], "suppliers": [{"name": "s"}], "user_id_tps": "30",
            "inventory_system_id": "i"}
    assert mapping.sync_problems(body) == [
        "The unit must have a name.", "The unit must have a short name.",
        "The supplier must have an external id.",
        "The item must have a name.", "The item must have a stock.",
        "Item purchase unit external id (nope) not found in units array",
        "The item consumption unit external id must be a string.",
        "Item supplier external id (ghost) not found in suppliers array",
        "The item cost must be a string.",
    ]
