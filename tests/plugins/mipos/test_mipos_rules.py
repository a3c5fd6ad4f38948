"""The document's validation rules: 422 per-field answers and the 409 lists."""

from __future__ import annotations

from reconciler_mipos.rules import STOCK_FIELDS, SYNC_FIELDS, WEBHOOK_MANAGE_FIELDS, field_errors, sync_problems

MOVE = {"user_id_tps": "30", "inventory_system_id": "i", "current_stock": "12.44", "quantity": "1.25",
        "date": "2020-05-30 12:45:03", "movement_type": 2, "external_id": "x"}


def test_empty_arrays_are_missing_fields_as_in_laravel():
    body = {"items": [], "inventory_system_id": "i", "units": [], "suppliers": [], "user_id_tps": "30"}
    assert field_errors(body, SYNC_FIELDS) == {"items": ["The items field is required."],
                                               "units": ["The units field is required."],
                                               "suppliers": ["The suppliers field is required."]}
    assert field_errors({**body, "items": {"a": 1}, "units": "u", "suppliers": [{}]}, SYNC_FIELDS) == {
        "items": ["The items must be an array."], "units": ["The units must be an array."]}
    assert field_errors({**body, "items": [{}], "units": [{}], "suppliers": [{}], "inventory_system_id": 3},
                        SYNC_FIELDS) == {"inventory_system_id": ["The inventory system id must be a string."]}


def test_a_movement_is_refused_field_by_field():
    assert field_errors(MOVE, STOCK_FIELDS) == {}
    assert field_errors({**MOVE, "movement_type": 3, "quantity": "-1", "date": "2020-05-30T12:45:03Z",
                         "current_stock": "lots"}, STOCK_FIELDS) == {
        "current_stock": ["The current stock must be a number."],
        "quantity": ["The quantity must be at least 0."],
        "date": ["The date does not match the format Y-m-d H:i:s."],
        "movement_type": ["The selected movement type is invalid."],
    }
    # movement_type is an integer: "2", 2.0 and true are not.
    for value in ("2", 2.0, True):
        assert field_errors({**MOVE, "movement_type": value}, STOCK_FIELDS) == {
            "movement_type": ["The selected movement type is invalid."]}
    assert field_errors({**MOVE, "quantity": 1.25, "current_stock": "NaN"}, STOCK_FIELDS) == {
        "current_stock": ["The current stock must be a number."], "quantity": ["The quantity must be a string."]}


def test_webhook_registration_fields():
    assert field_errors({}, WEBHOOK_MANAGE_FIELDS) == {"type": ["The type field is required."],
                                                       "url": ["The url field is required."]}
    assert field_errors({"type": "stock", "url": "u"}, WEBHOOK_MANAGE_FIELDS) == {
        "type": ["The selected type is invalid."]}
    assert field_errors({"type": 4, "url": "u"}, WEBHOOK_MANAGE_FIELDS) == {}  # well formed: 409 "Invalid type."


def test_the_document_error_list_is_checked_item_by_item():
    body = {"items": [{"external_id": "x", "purchase_unit_external_id": "nope", "consumption_unit_external_id": 4,
                       "supplier_external_id": "ghost", "cost": 12, "stock": None}],
            "units": [{"external_id": "u"}], "suppliers": [{"name": "s"}], "user_id_tps": "30",
            "inventory_system_id": "i"}
    assert sync_problems(body) == [
        "The unit must have a name.", "The unit must have a short name.",
        "The supplier must have an external id.",
        "The item must have a name.", "The item must have a stock.",
        "Item purchase unit external id (nope) not found in units array",
        "The item consumption unit external id must be a string.",
        "Item supplier external id (ghost) not found in suppliers array",
        "The item cost must be a string.",
    ]
    unit = {"name": "U", "short_name": "u", "external_id": "u"}
    item = {"name": "n", "external_id": "x", "purchase_unit_external_id": 7, "consumption_unit_external_id": "gone",
            "supplier_external_id": "s", "cost": "1", "stock": 2}
    assert sync_problems({"items": [item, {}], "units": [unit, {}], "suppliers": [{"name": "S", "external_id": "s"}]}) == [
        "The unit must have a name.", "The unit must have a short name.", "The unit must have an external id.",
        "The item purchase unit external id must be a string.",
        # No message of its own in the document: the purchase one's shape.
        "Item consumption unit external id (gone) not found in units array",
        "The item stock must be a string.",
        "The item must have a name.", "The item must have an external id.",
        "The item must have an purchase unit external id.", "The item must have an consumption unit external id.",
        "The item must have a supplier external id.", "The item must have a cost.", "The item must have a stock.",
    ]
