"""The miPOS document's validation rules, in one place for the three parts that use them.

The client checks a body against them before sending it (a request miPOS would refuse is
never sent), the emulator answers with them, and the webhook receiver applies the same
per-field style to what miPOS posts to us.

Two shapes of refusal, as in the document:

- a field that is missing or malformed: HTTP 422, `{"<field>": ["<message>", ...]}`,
  Laravel's wording ("The items field is required.");
- a rule of the data: HTTP 409, `{"message": ["<message>", ...], "data": null}`.

Laravel's `required` refuses null, an empty string and an empty array, so `items: []`
is "The items field is required." Where the document lists no message for a check the
stricter reading needs (a negative quantity, a malformed date), the message follows
Laravel's standard wording for that rule (docs/providers/mipos-conformance.md).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # `date` and `now`: "2020-05-30 12:45:03"

# The document's 409 messages about the store and the account (the data ones are below).
NO_STORE = "You don't have this store available."
NOT_INVENTORY_SYSTEM = "The third_party_id does not have an Inventory System role or does not exist."
NOT_OWNER = "This user_id_tps does not own this inventory system."
NO_INTEGRATION = "No integration record was found between this user store and the third party system."
NO_EXTERNAL_ID = "External id not found for this store in the inventory system."
TYPE_UNAVAILABLE = "This type of webhook is not available."
NOT_REGISTERED = "This inventory system does not have this type of webhook available."
INVALID_TYPE = "Invalid type."
# Not the document's: the inventory system's answer to a movement whose result is not
# `current_stock` ("Any other error response ... comes directly from the inventory system").
STOCK_MISMATCH = "The current stock ({current}) does not match the stock after the movement ({after})."
ADD, REMOVE = 1, 2  # movement_type

# Per field, in the order the document lists them, the rules that apply.
SYNC_FIELDS = {
    "items": ("required", "array"),
    "inventory_system_id": ("required", "string"),
    "units": ("required", "array"),
    "suppliers": ("required", "array"),
    "user_id_tps": ("required",),
}
STOCK_FIELDS = {
    "user_id_tps": ("required",),
    "inventory_system_id": ("required",),
    "current_stock": ("required", "string", "numeric"),
    "quantity": ("required", "string", "numeric", "not_negative"),
    "date": ("required", "date"),
    "movement_type": ("required", "movement_type"),
}
WEBHOOK_MANAGE_FIELDS = {"type": ("required", "webhook_type"), "url": ("required",)}
# The type-3 webhook body, in the document's key order; what our receiver requires.
STOCK_WEBHOOK_FIELDS = {
    "pos_id": ("required", "string"),
    "inventory_system_id": ("required", "string"),
    "current_stock": ("required", "string", "numeric"),
    "quantity": ("required", "string", "numeric", "not_negative"),
    "date": ("required", "date"),
    "movement_type": ("required", "movement_type"),
    "external_id": ("required", "string"),
    "now": ("required", "date"),
    "store_id": ("required", "id"),
}


def _label(field: str) -> str:
    return field.replace("_", " ")


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    return number if number.is_finite() else None


def _broken(rule: str, field: str, value: Any) -> str | None:
    """The message for `value` breaking `rule`, or None when it keeps it."""
    name = _label(field)
    if rule == "required":
        return f"The {name} field is required." if value is None or value in ("", [], {}) else None
    if rule == "array":
        return None if isinstance(value, list) else f"The {name} must be an array."
    if rule == "string":
        return None if isinstance(value, str) else f"The {name} must be a string."
    if rule == "numeric":
        return None if isinstance(value, str) and _decimal(value) is not None else f"The {name} must be a number."
    if rule == "not_negative":
        number = _decimal(value)
        return f"The {name} must be at least 0." if number is not None and number < 0 else None
    if rule == "date":
        try:
            datetime.strptime(value, DATE_FORMAT)
        except (TypeError, ValueError):
            return f"The {name} does not match the format Y-m-d H:i:s."
        return None
    if rule == "movement_type":
        # A JSON integer 1 or 2 (the document's type); "1" and true are not integers.
        ok = type(value) is int and value in (ADD, REMOVE)
        return None if ok else "The selected movement type is invalid."
    if rule == "webhook_type":
        ok = (type(value) is int and value >= 0) or (isinstance(value, str) and value.isdigit())
        return None if ok else f"The selected {name} is invalid."
    if rule == "id":
        ok = (type(value) is int) or (isinstance(value, str) and value != "")
        return None if ok else f"The {name} must be an integer or a string."
    raise ValueError(f"unknown rule {rule!r}")


def field_errors(body: Any, fields: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """The 422 answer for `body`: each field's first broken rule, in the fields' order."""
    body = body if isinstance(body, dict) else {}
    errors: dict[str, list[str]] = {}
    for field, rules in fields.items():
        for rule in rules:
            message = _broken(rule, field, body.get(field))
            if message:
                errors[field] = [message]
                break
    return errors


def sync_problems(body: Any) -> list[str]:
    """The document's 409 list for the data of a `system/sync` body, every problem at once."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["The items field is required."]
    units = body.get("units") if isinstance(body.get("units"), list) else []
    suppliers = body.get("suppliers") if isinstance(body.get("suppliers"), list) else []
    unit_ids = {u.get("external_id") for u in units if isinstance(u, dict)}
    supplier_ids = {s.get("external_id") for s in suppliers if isinstance(s, dict)}
    for unit in units:
        unit = unit if isinstance(unit, dict) else {}
        for key, message in (("name", "The unit must have a name."), ("short_name", "The unit must have a short name."),
                             ("external_id", "The unit must have an external id.")):
            if not unit.get(key):
                problems.append(message)
    for supplier in suppliers:
        supplier = supplier if isinstance(supplier, dict) else {}
        for key, message in (("name", "The supplier must have a name."),
                             ("external_id", "The supplier must have an external id.")):
            if not supplier.get(key):
                problems.append(message)
    for item in body.get("items") if isinstance(body.get("items"), list) else []:
        problems.extend(item_problems(item if isinstance(item, dict) else {}, unit_ids, supplier_ids))
    return problems


def item_problems(item: dict[str, Any], unit_ids: set, supplier_ids: set) -> list[str]:
    problems = []
    required = (("name", "The item must have a name."), ("external_id", "The item must have an external id."),
                ("purchase_unit_external_id", "The item must have an purchase unit external id."),
                ("consumption_unit_external_id", "The item must have an consumption unit external id."),
                ("supplier_external_id", "The item must have a supplier external id."),
                ("cost", "The item must have a cost."), ("stock", "The item must have a stock."))
    for key, message in required:
        if item.get(key) in (None, ""):
            problems.append(message)
    for kind in ("purchase", "consumption"):
        value = item.get(f"{kind}_unit_external_id")
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"The item {kind} unit external id must be a string.")
        elif kind == "purchase" and value not in unit_ids:
            problems.append(f"Item purchase unit external id ({value}) not found in units array")
        elif kind == "consumption" and value not in unit_ids:
            # The document lists no message of its own for this case; the purchase one's shape is reused.
            problems.append(f"Item consumption unit external id ({value}) not found in units array")
    supplier = item.get("supplier_external_id")
    if supplier is not None and supplier not in supplier_ids:
        problems.append(f"Item supplier external id ({supplier}) not found in suppliers array")
    for key in ("cost", "stock"):
        if item.get(key) is not None and not isinstance(item[key], str):
            problems.append(f"The item {key} must be a string.")
    return problems
