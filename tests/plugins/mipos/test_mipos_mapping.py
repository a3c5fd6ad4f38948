"""Pure miPOS translation: decimal strings, the sync body, movements, times, and the
document's examples rebuilt byte for byte."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from mipos_helpers import STOCK_BODY, SYNC_BODY
from project_runner import CATALOGS
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler.validation import validate_project
from reconciler_mipos import mapping
from reconciler_mipos.rules import sync_problems


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
    assert sync_problems(body) == []


def test_the_document_sync_example_is_built_byte_for_byte(tmp_path):
    """The example catalog, mapped by the provider, is the document's body example: the
    same keys in the same order, the same types and values, in the document's layout."""
    project = load_project(CATALOGS / "mipos-inventory")
    context = ProviderContext(project_dir=project.root, work_dir=tmp_path)
    validated = validate_project(project, context)
    [view] = validated.views
    provider = validated.providers["mipos"]
    resources = provider.desired(view).resources
    body = mapping.sync_body(resources, "30", "3d40a24e-d570-4598-ae68-e20687edd1f9")
    assert mapping.document_json(body) == SYNC_BODY
    # On the wire the same object goes compact, keys in the same order.
    assert list(json.loads(json.dumps(body, separators=(",", ":")))) == list(json.loads(SYNC_BODY))


def test_the_document_stock_update_example_is_built_byte_for_byte():
    """13.69 -> 12.44 is the document's movement. Its example leaves out `external_id`,
    which the field list requires: we send it last, as the list places it."""
    date = mapping.local_time(datetime(2020, 5, 30, 12, 45, 3, tzinfo=timezone.utc), ZoneInfo("UTC"))
    body = mapping.movement("item_abc123", "13.69", "12.44", "30", "4344be8c-c6b9-4c51-88a6-d620144ab406", date)
    assert list(body)[-1] == "external_id" and body["external_id"] == "item_abc123"
    without_id = {k: v for k, v in body.items() if k != "external_id"}
    assert mapping.document_json(without_id) == STOCK_BODY


def test_movement_type_and_quantity_follow_the_sign_of_the_change():
    down = mapping.movement("x", "13.69", "12.44", "30", "isid", "2020-05-30 12:45:03")
    assert (down["movement_type"], down["quantity"], down["current_stock"]) == (2, "1.25", "12.44")
    up = mapping.movement("x", "5", "7.5", "30", "isid", "d")
    assert (up["movement_type"], up["quantity"]) == (1, "2.5")


def test_times_are_written_on_the_wall_clock_of_a_zone():
    moment = datetime(2020, 6, 1, 2, 55, 18, tzinfo=timezone.utc)
    assert mapping.local_time(moment, ZoneInfo("UTC")) == "2020-06-01 02:55:18"
    assert mapping.local_time(moment, ZoneInfo("Asia/Singapore")) == "2020-06-01 10:55:18"
    assert mapping.local_time(moment, ZoneInfo("America/Mexico_City")) == "2020-05-31 21:55:18"


def test_stock_only_drift_is_told_apart_from_other_changes():
    old = resource("a", "u1", "u1", "1", "2")
    assert mapping.stock_only(old, {**old, "stock": "3"})
    assert not mapping.stock_only(old, {**old, "stock": "3", "cost": "2"})
    assert not mapping.stock_only(None, old) and not mapping.stock_only(old, old)
