"""The VirtPOS emulator against the document, statement by statement (the rows of
docs/providers/virtpos-conformance.md): the samples byte for byte, parameters and where
they may travel, the read's exact shape, ids that are never invented, versions."""

from __future__ import annotations

import httpx
import pytest

from reconciler.emulation import InProcessTransport
from reconciler.errors import BackendError
from reconciler_virtpos.client import parse_answer
from reconciler_virtpos.emulator import DOCUMENT_SAMPLE, PARAMETERS, VirtPOSEmulator
from virtpos_helpers import APIKEY, DOCUMENT_READ_SAMPLE, DOCUMENT_UPDATE_SAMPLE, UPDATE, VERSION, ZERO

STORE, ITEM, WAREHOUSE = "/api/store", "/api/item", "/api/warehouse"
ALL_FIELDS = "itemname:article:cogs:price:optionalprices"


@pytest.fixture
def emulator():
    emulator = VirtPOSEmulator(seed=DOCUMENT_SAMPLE)
    emulator.add_apikey(APIKEY)
    return emulator


async def call(emulator, path, form=None, method=None, **query) -> httpx.Response:
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://vp.test") as http:
        return await http.request(method or ("POST" if form else "GET"), path,
                                  params={"apikey": APIKEY, **query}, data=form)


async def answer(emulator, path, form=None, **query) -> dict:
    """The JSON answer of one call."""
    return (await call(emulator, path, form, format="json", **query)).json()


async def refused(emulator, path, form=None, **query) -> str:
    """The info of a call that must be refused, after checking nothing changed."""
    before = (emulator.stock(3), emulator.stock(1))
    result = await answer(emulator, path, form, **query)
    assert result["success"] == 0, result
    assert (emulator.stock(3), emulator.stock(1)) == before
    return result["info"]


# -- the samples ----------------------------------------------------------------------------


async def test_the_document_read_sample_comes_back_byte_for_byte(emulator):
    response = await call(emulator, STORE, warehouseid="3", stockonly="1", fields=ALL_FIELDS)
    assert response.headers["content-type"].startswith("application/xml")
    assert response.content == DOCUMENT_READ_SAMPLE.encode("utf-8")


async def test_the_document_update_sample_comes_back_byte_for_byte():
    emulator = VirtPOSEmulator()
    emulator.add_apikey(APIKEY)
    for item in (6, 7, 8):  # the answer's id is the on-hand record's: the third one
        emulator.put_stock(1, item, "1.7")
    response = await call(emulator, UPDATE, warehouseid="1", itemid="8", form={"quantity": "20"})
    assert response.content == DOCUMENT_UPDATE_SAMPLE.encode("utf-8")


async def test_json_mirrors_the_xml_tree_with_lists(emulator):
    def as_text(value):
        if isinstance(value, dict):
            return {k: as_text(v) for k, v in value.items()}
        if isinstance(value, list):
            return [as_text(v) for v in value]
        return str(value)

    for path, query in ((STORE, {"warehouseid": "3", "fields": ALL_FIELDS}), (ITEM, {}), (WAREHOUSE, {})):
        xml = parse_answer((await call(emulator, path, **query)).content, "xml")
        json_answer = await answer(emulator, path, **query)
        assert as_text(json_answer) == xml
    read = await answer(emulator, STORE, warehouseid="3", fields="optionalprices")
    assert read["warehouses"][0]["items"][0]["prices"] == [{"pricelistid": 4, "price": "1126.00"},
                                                          {"pricelistid": 3, "price": "866.00"}]


# -- the envelope ---------------------------------------------------------------------------


async def test_a_wrong_or_missing_apikey_is_success_0_with_info(emulator):
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://vp.test") as http:
        for params in ({"apikey": "nope", "format": "json"}, {"format": "json"}):
            response = await http.get(STORE, params=params)
            assert response.status_code == 200
            assert response.json() == {"success": 0, "info": "Неверный ключ API (apikey)"}
        # apikey is not get only: it may travel in a form body.
        in_body = await http.post(STORE, params={"format": "json"}, data={"apikey": APIKEY})
        assert in_body.json()["success"] == 1


async def test_an_unknown_format_is_refused_in_xml(emulator):
    response = await call(emulator, STORE, format="yaml")
    assert parse_answer(response.content, "xml") == {"success": "0", "info": "Неверный формат: yaml (xml или json)"}


# -- parameters -----------------------------------------------------------------------------


GET_ONLY = {  # as the document marks them, per endpoint
    STORE: {"format", "stockonly", "warehouseid", "itemid", "article", "itemname"},
    UPDATE: {"format", "warehouseid", "itemid", "ext_warehouseid", "ext_itemid"},
    VERSION: {"warehouseid", "ext_warehouseid"},
    ZERO: {"version", "warehouseid", "ext_warehouseid"},
}


def test_the_emulator_marks_get_only_parameters_as_the_document_does():
    for path, names in GET_ONLY.items():
        marked = {name for name, get_only in PARAMETERS[path].items() if get_only}
        assert marked - {"format"} == names - {"format"}, path
    assert set(PARAMETERS[STORE]) == {"apikey", "format", "stockonly", "warehouseid", "itemid", "article",
                                      "itemname", "fields"}
    assert set(PARAMETERS[UPDATE]) == {"apikey", "format", "warehouseid", "itemid", "ext_warehouseid", "ext_itemid",
                                       "quantity", "manuf_date", "cogs", "expir_date", "lot_number"}


@pytest.mark.parametrize("path,name,value", [(path, name, "3") for path, names in GET_ONLY.items() for name in sorted(names)])
async def test_a_get_only_parameter_in_a_form_body_is_refused(emulator, path, name, value):
    info = await refused(emulator, path, form={name: value, **({"quantity": "1"} if path == UPDATE else {})},
                         **({"warehouseid": "3"} if path != STORE and name != "warehouseid" else {}))
    assert info == f"Параметр {name} передаётся только в строке запроса (get only)"


async def test_a_server_that_ignores_get_only_parameters_in_a_body_can_be_chosen(emulator):
    emulator.get_only_in_body = "ignore"
    # warehouseid in the body is not read: the update names no shop.
    info = await refused(emulator, UPDATE, form={"warehouseid": "3", "quantity": "1"}, itemid="17007")
    assert info == "Не указан склад (warehouseid или ext_warehouseid)"
    # format in the body is not read either: the answer is XML.
    response = await call(emulator, STORE, form={"format": "json"}, warehouseid="3")
    assert response.content.startswith(b"<?xml")


async def test_other_parameters_may_travel_in_the_query_or_the_body(emulator):
    in_body = await answer(emulator, STORE, form={"fields": "itemname"}, warehouseid="3")
    assert in_body["warehouses"][0]["items"][0]["name"] == "63838 Корм для собак 2кг"
    assert (await answer(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="5"))["success"] == 1
    assert (await answer(emulator, UPDATE, {"quantity": "6", "lot_number": "L-2"}, warehouseid="3", itemid="17007"))["success"] == 1
    assert emulator.stock(3)["17007"]["quantity"] == "6.000" and emulator.stock(3)["17007"]["lot_number"] == "L-2"
    info = await refused(emulator, UPDATE, {"quantity": "7"}, warehouseid="3", itemid="17007", quantity="8")
    assert info == "Параметр quantity передан в строке запроса и в теле запроса с разными значениями"


async def test_unknown_parameters_and_fields_are_refused(emulator):
    assert await refused(emulator, STORE, ext_warehouseid="1") == "Неизвестный параметр: ext_warehouseid"
    assert await refused(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="1",
                         version="1") == "Неизвестный параметр: version"
    assert await refused(emulator, STORE, fields="itemname:colour") == "Неизвестное поле: colour"


# -- the read -------------------------------------------------------------------------------


async def test_fields_add_exactly_the_elements_asked_for(emulator):
    async def item(fields=None):
        return (await answer(emulator, STORE, warehouseid="3", **({"fields": fields} if fields else {})))[
            "warehouses"][0]["items"][0]

    assert await item() == {"id": 17007, "quantity": "2.000", "available_quantity": "1.000", "lot_number": "12345"}
    for name, element in (("itemname", "name"), ("article", "article"), ("cogs", "cogs"), ("price", "price"),
                          ("optionalprices", "prices")):
        assert set(await item(name)) - {"id", "quantity", "available_quantity", "lot_number"} == {element}
    # API-FACTS lists these two; with no known shape they add nothing.
    assert set(await item("turnovercalc:expdate")) == {"id", "quantity", "available_quantity", "lot_number"}


async def test_the_read_has_the_documented_shape_without_dates_or_external_ids(emulator):
    emulator.add_warehouse(5, "Магазин 5", external_id="1C-5")
    await answer(emulator, UPDATE, warehouseid="3", itemid="17007", manuf_date="2026-01-10", expir_date="2027-01-31")
    read = await answer(emulator, STORE)
    assert list(read) == ["success", "type", "stockonly", "count", "warehouses"]
    assert [list(w) for w in read["warehouses"]] == [["id", "name", "count", "items"]] * 2
    assert list(read["warehouses"][0]["items"][0]) == ["id", "quantity", "available_quantity", "lot_number"]
    assert emulator.stock(3)["17007"]["expir_date"] == "2027-01-31"  # written, never read back


async def test_stockonly_lists_only_items_on_hand(emulator):
    emulator.put_stock(3, 17008, "0")
    emulator.put_stock(3, 17009, "-1")
    every = await answer(emulator, STORE, warehouseid="3")
    on_hand = await answer(emulator, STORE, warehouseid="3", stockonly="1")
    assert [i["id"] for i in every["warehouses"][0]["items"]] == [17007, 17008, 17009]
    assert [i["id"] for i in on_hand["warehouses"][0]["items"]] == [17007]
    assert on_hand["stockonly"] == 1 and every["stockonly"] == 0
    assert await refused(emulator, STORE, stockonly="yes") == "Неверное значение stockonly: yes"


async def test_itemid_article_and_itemname_filter_the_read(emulator):
    emulator.put_stock(3, 17008, "4", name="Поводок")
    emulator.add_warehouse(4, "Магазин 2")
    emulator.put_stock(4, 17008, "1")

    async def ids(**query):
        read = await answer(emulator, STORE, **query)
        return {w["id"]: [i["id"] for i in w["items"]] for w in read["warehouses"]}

    assert await ids() == {3: [17007, 17008], 4: [17008]}  # no warehouseid: every shop
    assert await ids(warehouseid="3") == {3: [17007, 17008]}
    assert await ids(itemid="17008") == {3: [17008], 4: [17008]}
    assert await ids(article="63838") == {3: [17007], 4: []}
    assert await ids(itemname="Поводок") == {3: [17008], 4: [17008]}
    assert await ids(itemname="Поводо") == {3: [], 4: []}  # an exact name, not a substring


async def test_available_quantity_is_the_quantity_less_reserves(emulator):
    emulator.put_stock(3, 17008, "5.5", reserved="2")
    items = (await answer(emulator, STORE, warehouseid="3"))["warehouses"][0]["items"]
    assert [(i["quantity"], i["available_quantity"]) for i in items] == [("2.000", "1.000"), ("5.500", "3.500")]


# -- ids are never invented -----------------------------------------------------------------


async def test_unknown_ids_are_errors_not_phantom_records(emulator):
    emulator.add_warehouse(5, "Магазин 5", external_id="1C-5")
    emulator.add_item(17010, external_id="SKU-10")
    cases = [
        (STORE, {"warehouseid": "99"}, "Склад не найден: 99"),
        (STORE, {"itemid": "99"}, "Товар не найден: 99"),
        (UPDATE, {"warehouseid": "99", "itemid": "17007", "quantity": "1"}, "Склад не найден: 99"),
        (UPDATE, {"warehouseid": "3", "itemid": "99", "quantity": "1"}, "Товар не найден: 99"),
        (UPDATE, {"ext_warehouseid": "1C-9", "itemid": "17007", "quantity": "1"}, "Склад с внешним кодом 1C-9 не найден"),
        (UPDATE, {"warehouseid": "3", "ext_itemid": "SKU-9", "quantity": "1"}, "Товар с внешним кодом SKU-9 не найден"),
        (UPDATE, {"warehouseid": "3", "quantity": "1"}, "Не указан товар (itemid или ext_itemid)"),
        (UPDATE, {"itemid": "17007", "quantity": "1"}, "Не указан склад (warehouseid или ext_warehouseid)"),
        (VERSION, {"ext_warehouseid": "1C-9"}, "Склад с внешним кодом 1C-9 не найден"),
        (ZERO, {"warehouseid": "99", "version": "1"}, "Склад не найден: 99"),
        (ITEM, {"itemid": "99"}, "Товар не найден: 99"),
        (WAREHOUSE, {"warehouseid": "99"}, "Склад не найден: 99"),
    ]
    for path, query, info in cases:
        assert await refused(emulator, path, **query) == info, (path, query)
    assert [w["id"] for w in (await answer(emulator, WAREHOUSE))["warehouses"]] == [3, 5]
    assert [i["id"] for i in (await answer(emulator, ITEM))["items"]] == [17007, 17010]


async def test_isnew_is_for_the_first_onhand_record_of_a_known_item(emulator):
    emulator.add_item(17010, external_id="SKU-10")
    emulator.add_warehouse(5, "Магазин 5", external_id="1C-5")
    first = await answer(emulator, UPDATE, warehouseid="3", itemid="17010", quantity="4")
    again = await answer(emulator, UPDATE, warehouseid="3", itemid="17010", quantity="5")
    by_external = await answer(emulator, UPDATE, ext_warehouseid="1C-5", ext_itemid="SKU-10", quantity="1")
    assert (first["isnew"], first["quantity_before"], again["isnew"], again["quantity_before"]) == (1, "0.000", 0, "4.000")
    assert first["id"] == again["id"] != by_external["id"]
    assert (by_external["itemid"], by_external["warehouseid"], by_external["isnew"]) == (17010, 5, 1)


async def test_external_ids_are_used_only_when_the_internal_ones_are_not_given(emulator):
    emulator.add_item(17010, external_id="SKU-10")
    emulator.add_warehouse(5, "Магазин 5", external_id="1C-5")
    done = await answer(emulator, UPDATE, warehouseid="3", ext_warehouseid="1C-9", itemid="17007",
                        ext_itemid="SKU-9", quantity="9")
    assert (done["success"], done["itemid"], done["warehouseid"]) == (1, 17007, 3)  # the unknown ext ids unread
    assert emulator.quantities(3)["17007"] == "9.000" and emulator.stock(5) == {}


# -- updateOnhand ---------------------------------------------------------------------------


async def test_update_sets_absolute_values_and_answers_the_documented_fields(emulator):
    result = await answer(emulator, UPDATE, {"quantity": "20", "cogs": "780", "lot_number": "L-1",
                                             "manuf_date": "2026-01-10", "expir_date": "2027-01-31"},
                          warehouseid="3", itemid="17007")
    assert result == {"success": 1, "id": 1, "itemid": 17007, "warehouseid": 3, "isnew": 0, "quantity_before": "2.000"}
    record = emulator.stock(3)["17007"]
    assert (record["quantity"], record["cogs"], record["lot_number"], record["manuf_date"], record["expir_date"]) == (
        "20.000", "780.00", "L-1", "2026-01-10", "2027-01-31")
    await answer(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="20")
    assert emulator.quantities(3)["17007"] == "20.000"  # absolute: the same call twice is the same value


@pytest.mark.parametrize("form,info", [
    ({"quantity": "abc"}, "Неверное значение quantity: abc"),
    ({"quantity": "-1"}, "Неверное значение quantity: -1"),
    ({"quantity": "1.0005"}, "Неверное значение quantity: 1.0005"),
    ({"quantity": "NaN"}, "Неверное значение quantity: NaN"),
    ({"cogs": "1.005"}, "Неверное значение cogs: 1.005"),
    ({"expir_date": "31.01.2027"}, "Неверная дата expir_date: 31.01.2027 (ожидается ГГГГ-ММ-ДД)"),
    ({"lot_number": ""}, "Пустое значение lot_number"),
    ({}, "Не указано ни одно изменяемое поле (quantity, manuf_date, cogs, expir_date, lot_number)"),
])
async def test_bad_values_are_refused_and_change_nothing(emulator, form, info):
    # A good lot number beside the bad value: all is checked before anything changes.
    with_lot = {"lot_number": "L-9", **form} if form else None
    assert await refused(emulator, UPDATE, with_lot, warehouseid="3", itemid="17007") == info
    assert emulator.stock(3)["17007"]["lot_number"] == "12345"


# -- versions -------------------------------------------------------------------------------


async def test_versions_zero_what_was_not_updated_and_refuse_a_stale_one(emulator):
    emulator.add_warehouse(3, "Магазин 1", external_id="shop-3")
    emulator.put_stock(3, 17007, "2")
    emulator.put_stock(3, 17008, "5")
    version = (await answer(emulator, VERSION, ext_warehouseid="shop-3"))
    assert version == {"success": 1, "version": 1}
    await answer(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="7")
    newer = (await answer(emulator, VERSION, warehouseid="3"))["version"]
    info = await refused(emulator, ZERO, warehouseid="3", version="1")
    assert info == "Устаревшая версия остатков 1 (текущая 2)"
    await answer(emulator, UPDATE, warehouseid="3", itemid="17007", quantity="7")
    assert await answer(emulator, ZERO, ext_warehouseid="shop-3", version=str(newer)) == {"success": 1}
    assert emulator.quantities(3) == {"17007": "7.000", "17008": "0.000"}


async def test_zeroing_needs_the_version_getOnhandVersion_gave(emulator):
    # The document's own example URL carries no version: refused, it could zero anything.
    assert await refused(emulator, ZERO, warehouseid="3") == "Не указана версия (version)"
    assert await refused(emulator, ZERO, warehouseid="3", version="x") == "Неверная версия: x"
    never = "Неизвестная версия остатков {}: получите её через getOnhandVersion"
    assert await refused(emulator, ZERO, warehouseid="3", version="0") == never.format(0)
    await answer(emulator, VERSION, warehouseid="3")
    assert await refused(emulator, ZERO, warehouseid="3", version="2") == never.format(2)
    assert emulator.quantities(3) == {"17007": "2.000"}


async def test_a_sale_lowers_the_quantity_without_counting_as_an_update(emulator):
    version = (await answer(emulator, VERSION, warehouseid="3"))["version"]
    assert emulator.sell(3, 17007, "0.5") == "1.500"
    await answer(emulator, ZERO, warehouseid="3", version=str(version))
    assert emulator.quantities(3) == {"17007": "0.000"}


# -- the neighbour lists --------------------------------------------------------------------


async def test_items_and_warehouses_list_their_external_ids_in_both_formats(emulator):
    emulator.add_item(17008, name="Поводок", price="10.00", external_id="1C-8", barcodes=["4600000000017", "4600000000024"])
    emulator.add_warehouse(5, "Магазин 5", external_id="1C-5")
    items = await answer(emulator, ITEM)
    assert items["count"] == 2 and items["type"] == "item"
    assert items["items"][1] == {"id": 17008, "name": "Поводок", "article": "17008", "external_id": "1C-8",
                                 "barcodes": "4600000000017,4600000000024", "price": "10.00"}
    xml = parse_answer((await call(emulator, ITEM)).content, "xml")
    assert [(i["id"], i["external_id"]) for i in xml["items"]] == [("17007", ""), ("17008", "1C-8")]
    assert [i["id"] for i in (await answer(emulator, ITEM, itemid="17008"))["items"]] == [17008]
    shops = await answer(emulator, WAREHOUSE)
    assert shops == {"success": 1, "type": "warehouse", "count": 2, "warehouses": [
        {"id": 3, "name": "Магазин 1", "external_id": ""}, {"id": 5, "name": "Магазин 5", "external_id": "1C-5"}]}


# -- parsing and the served emulator --------------------------------------------------------


def test_xml_with_entities_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<root><success>1</success><info>&b;</info></root>")
    with pytest.raises(BackendError, match="not valid XML"):
        parse_answer(bomb, "xml")


def test_an_answer_without_success_is_an_error():
    with pytest.raises(BackendError, match="no success field"):
        parse_answer(b'{"warehouses": []}', "json")


async def test_the_served_emulator_takes_the_demo_key_and_starts_with_the_document_sample():
    from reconciler_virtpos.provider import VirtPOSProvider

    app = VirtPOSProvider.emulator_app(None)
    async with httpx.AsyncClient(transport=InProcessTransport(app), base_url="http://vp.test") as http:
        response = await http.get(STORE, params={"apikey": "demo", "warehouseid": "3", "stockonly": "1",
                                                 "fields": ALL_FIELDS})
    assert response.content == DOCUMENT_READ_SAMPLE.encode("utf-8")


async def test_the_inspection_api_adds_shops_items_and_stock():
    emulator = VirtPOSEmulator()
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://vp.test") as http:
        assert (await http.post("/_emulator/warehouses", json={"id": 9, "name": "Склад", "external_id": "1C-9"})).status_code == 201
        assert (await http.post("/_emulator/items", json={"id": 5, "name": "Мяч", "external_id": "B-5"})).status_code == 201
        assert (await http.post("/_emulator/stock", json={"warehouseid": 9, "itemid": 5, "quantity": 3})).status_code == 201
        bad = await http.post("/_emulator/items", json={"name": "no id"})
        assert bad.status_code == 400 and bad.json()["error"].startswith("expected id")
    assert emulator.quantities(9) == {"5": "3.000"}
