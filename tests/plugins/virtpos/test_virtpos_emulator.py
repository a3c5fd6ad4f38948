"""The VirtPOS emulator and the client's parsing: both formats, the envelope, versions."""

from __future__ import annotations

import httpx
import pytest

from reconciler.emulation import InProcessTransport
from reconciler.errors import BackendError
from reconciler_virtpos.client import parse_answer
from reconciler_virtpos.emulator import VirtPOSEmulator
from virtpos_helpers import APIKEY, UPDATE, VERSION, ZERO


@pytest.fixture
def emulator():
    emulator = VirtPOSEmulator()
    emulator.add_apikey(APIKEY)
    emulator.add_warehouse(3, "Магазин 1", external_id="shop-3")
    emulator.put_stock(3, 17007, "2", reserved="1", name="63838 Корм для собак 2кг", price="1126.00",
                       lot_number="12345")
    return emulator


async def call(emulator, path, **params) -> httpx.Response:
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://vp.test") as http:
        return await http.get(path, params={"apikey": APIKEY, **params})


async def test_the_document_sample_in_xml_by_default(emulator):
    response = await call(emulator, "/api/store", warehouseid="3", fields="itemname:article:cogs:price")
    assert response.headers["content-type"].startswith("application/xml")
    text = response.content.decode("utf-8")
    assert "<quantity>2.000</quantity>" in text and "<available_quantity>1.000</available_quantity>" in text
    assert "<name>63838 Корм для собак 2кг</name>" in text
    answer = parse_answer(response.content, "xml")
    [warehouse] = answer["warehouses"]
    [item] = warehouse["items"]
    assert answer["success"] == "1" and warehouse["name"] == "Магазин 1"
    assert item == {"id": "17007", "quantity": "2.000", "available_quantity": "1.000", "lot_number": "12345",
                    "name": "63838 Корм для собак 2кг", "article": "17007", "cogs": "0.00", "price": "1126.00"}


async def test_json_mirrors_the_xml_tree(emulator):
    response = await call(emulator, "/api/store", warehouseid="3", format="json", fields="itemname")
    answer = response.json()
    assert answer["success"] == 1
    assert answer["warehouses"][0]["items"][0]["quantity"] == "2.000"
    assert answer["warehouses"][0]["items"][0]["name"] == "63838 Корм для собак 2кг"


async def test_a_wrong_apikey_is_success_0_with_info(emulator):
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://vp.test") as http:
        answer = (await http.get("/api/store", params={"apikey": "nope", "format": "json"})).json()
    assert answer["success"] == 0 and "apikey" in answer["info"]


async def test_update_sets_an_absolute_quantity(emulator):
    answer = (await call(emulator, UPDATE, format="json", warehouseid="3", itemid="17007", quantity="20")).json()
    assert answer == {"success": 1, "id": 1, "itemid": 17007, "warehouseid": 3, "isnew": 0, "quantity_before": "2.000"}
    assert emulator.quantities(3) == {"17007": "20.000"}


async def test_versions_zero_what_was_not_updated_and_refuse_a_stale_one(emulator):
    emulator.put_stock(3, 17008, "5")
    version = (await call(emulator, VERSION, format="json", ext_warehouseid="shop-3")).json()["version"]
    await call(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="7")
    newer = (await call(emulator, VERSION, format="json", warehouseid="3")).json()["version"]
    stale = (await call(emulator, ZERO, format="json", warehouseid="3", version=str(version))).json()
    assert stale["success"] == 0 and "Устаревшая" in stale["info"]
    assert emulator.quantities(3) == {"17007": "7.000", "17008": "5.000"}
    await call(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="7")
    done = (await call(emulator, ZERO, format="json", warehouseid="3", version=str(newer))).json()
    assert done == {"success": 1, "zeroed": 1}
    assert emulator.quantities(3) == {"17007": "7.000", "17008": "0.000"}


async def test_a_sale_lowers_the_quantity(emulator):
    assert emulator.sell(3, 17007, "0.5") == "1.500"


def test_xml_with_entities_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<root><success>1</success><info>&b;</info></root>")
    with pytest.raises(BackendError, match="not valid XML"):
        parse_answer(bomb, "xml")


def test_an_answer_without_success_is_an_error():
    with pytest.raises(BackendError, match="no success field"):
        parse_answer(b'{"warehouses": []}', "json")


async def test_the_served_emulator_takes_the_demo_key():
    from reconciler_virtpos.provider import VirtPOSProvider

    app = VirtPOSProvider.emulator_app(None)
    async with httpx.AsyncClient(transport=InProcessTransport(app), base_url="http://vp.test") as http:
        answer = (await http.get("/api/store", params={"apikey": "demo", "format": "json"})).json()
    assert answer["success"] == 1


async def test_bad_values_are_refused_and_change_nothing(emulator):
    for params in ({"itemid": "17007", "quantity": "abc"}, {"itemid": "x1", "quantity": "1"}):
        answer = (await call(emulator, UPDATE, format="json", warehouseid="3", **params)).json()
        assert answer["success"] == 0 and answer["info"].startswith(("Неверное значение", "Товар не найден"))
    assert emulator.quantities(3) == {"17007": "2.000"}


async def test_items_with_external_ids_in_both_formats(emulator):
    emulator.put_stock(3, 17008, "1", external_id="1C-8", price="10.00")
    answer = (await call(emulator, "/api/item", format="json")).json()
    assert answer["success"] == 1 and answer["count"] == 2
    assert answer["items"][1] == {"id": 17008, "name": "Товар 17008", "article": "17008", "external_id": "1C-8",
                                  "barcodes": "", "price": "10.00"}
    xml = parse_answer((await call(emulator, "/api/item")).content, "xml")
    assert [(i["id"], i["external_id"]) for i in xml["items"]] == [("17007", ""), ("17008", "1C-8")]
    assert [i["id"] for i in (await call(emulator, "/api/item", format="json", itemid="17008")).json()["items"]] == [17008]


async def test_update_by_external_item_id_answers_the_internal_id(emulator):
    emulator.put_stock(3, 17008, "1", external_id="1C-8")
    answer = (await call(emulator, UPDATE, format="json", warehouseid="3", ext_itemid="1C-8", quantity="4")).json()
    assert answer["success"] == 1 and answer["itemid"] == 17008 and answer["quantity_before"] == "1.000"
    # itemid wins when both are given; an unknown external id is a new item with the next internal id.
    await call(emulator, UPDATE, warehouseid="3", itemid="17007", ext_itemid="1C-8", quantity="9")
    new = (await call(emulator, UPDATE, format="json", warehouseid="3", ext_itemid="1C-9", quantity="2")).json()
    assert new["itemid"] == 17009 and new["isnew"] == 1
    assert emulator.quantities(3) == {"17007": "9.000", "17008": "4.000", "17009": "2.000"}
