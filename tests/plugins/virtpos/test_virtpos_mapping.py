"""VirtPOS mapping and validation: 3-decimal quantities, numeric item ids, bindings."""

from __future__ import annotations

from decimal import Decimal

from project_runner import copy_example
from reconciler_virtpos import mapping


def test_quantities_are_exact_three_decimal_strings():
    assert mapping.quantity_text(Decimal("2")) == "2.000"
    assert mapping.quantity_text(Decimal("14.5")) == "14.500"
    assert mapping.quantity_text(Decimal("0.0005")) is None


def test_a_live_item_keeps_only_the_fields_the_catalog_sets():
    live = mapping.live_resource({"id": "1", "quantity": "2", "available_quantity": "1.000", "cogs": "0",
                                  "lot_number": "12345"})
    assert live == {"quantity": "2.000", "cogs": "0.00", "lot_number": "12345"}
    assert mapping.live_resource({"id": "1", "quantity": "2.000", "lot_number": ""}) == {"quantity": "2.000"}
    assert mapping.project_onto(live, {"quantity", "lot_number"}) == {"quantity": "2.000", "lot_number": "12345"}
    assert mapping.project_onto(live, None) == {"quantity": "2.000"}


def test_what_virtpos_cannot_take_is_reported(tmp_path):
    project = copy_example("virtpos-pet-shop", tmp_path)
    project.write("menus/more.yaml", """\
menus:
  more:
    currency: RUB
    products:
      bone: {name: кость, price: "10.00"}
      "501": {name: мяч, price: "10.00"}
""")
    project.write("stores/more.yaml", """\
stores:
  more:
    name: more
    menu: more
    backends: {virtpos: {warehouse_id: 4, ext_warehouse_id: "4"}}
  other:
    name: other
    menu: more
    backends: {virtpos: {warehouse_id: 5}}
    stock: {"501": 1.0005}
  dated:
    name: dated
    menu: costly
    backends: {virtpos: {warehouse_id: 6}}
    stock:
      "601": {quantity: 1, expir_date: "31.01.2027", lot_number: ""}
""")
    project.write("menus/costly.yaml", """\
menus:
  costly:
    currency: RUB
    products:
      "601": {name: мяч, price: "10.00"}
""")
    result = project.run("validate")
    assert result.exit_code == 1
    out = result.output
    assert "give exactly one of warehouse_id and ext_warehouse_id" in out
    assert "menus/more.yaml:5:7: error: 'bone' is not a VirtPOS item id" in out
    assert "stores/more.yaml:10:20: error: stock 1.0005 of '501' has more than 3 decimals" in out
    assert "stores/more.yaml:16:14: error: expir_date '31.01.2027' of '601' is not a date written YYYY-MM-DD" in out
    assert "stores/more.yaml:16:14: error: lot_number of '601' is empty; leave it out instead" in out


def test_items_are_addressed_by_item_id_or_external_id():
    assert mapping.item_params("17007", external=False) == {"itemid": "17007"}
    assert mapping.item_params("17007", external=True) == {"ext_itemid": "17007"}
    assert mapping.item_params("1C-8", external=False) == {"ext_itemid": "1C-8"}
    assert mapping.item_params("itemid:700", external=True) == {"itemid": "700"}
    ids = mapping.external_ids_of({"items": [{"id": "8", "external_id": "1C-8"}, {"id": "9", "external_id": ""}]})
    assert ids == {"8": "1C-8"}
    assert mapping.live_key("8", ids) == "1C-8" and mapping.live_key("9", ids) == "itemid:9"
    assert mapping.live_key("9", None) == "9"
