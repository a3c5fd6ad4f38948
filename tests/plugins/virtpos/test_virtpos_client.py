"""The VirtPOS client against the document: where each parameter travels, the document's
request examples, and what it makes of an error answer."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from reconciler.emulation import Fault, InProcessTransport
from reconciler.errors import BackendError
from reconciler.provider import RetrySettings
from reconciler_virtpos import mapping
from reconciler_virtpos.client import VirtPOSClient
from reconciler_virtpos.emulator import VirtPOSEmulator
from virtpos_helpers import (
    DOCUMENT_READ_URL,
    DOCUMENT_UPDATE_URL,
    DOCUMENT_VERSION_URL,
    DOCUMENT_ZERO_URL,
    UPDATE,
    VERSION,
    ZERO,
)

DOCUMENT_KEY = "MySecret"


@pytest.fixture
def emulator():
    """Shop 1 (external id "1") with item 1, as the document's request examples assume."""
    emulator = VirtPOSEmulator()
    emulator.add_apikey(DOCUMENT_KEY)
    emulator.add_warehouse(1, "Магазин 1", external_id="1")
    emulator.add_item(1, name="Корм")
    return emulator


def client_of(emulator, fmt: str = "xml", attempts: int = 1) -> VirtPOSClient:
    return VirtPOSClient("http://mycompany.virtpos.ru", DOCUMENT_KEY, fmt, RetrySettings(attempts=attempts, backoff=0),
                         transport=InProcessTransport(emulator.app))


def parameters_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


def sent(emulator, index: int = -1) -> tuple[list[tuple[str, str]], dict]:
    """The query parameters (in order, apikey first) and the form body of a logged call."""
    record = emulator.requests[index]
    return [("apikey", DOCUMENT_KEY), *record["query"].items()], record["form"]


def test_get_only_is_the_documents_list():
    assert mapping.GET_ONLY == {"format", "stockonly", "warehouseid", "itemid", "article", "itemname",
                                "ext_warehouseid", "ext_itemid", "version"}


async def test_the_document_read_example_is_what_the_client_sends(emulator):
    # Compared as parsed query data, in order: httpx writes `:` as %3A, which a server reads the same.
    client = client_of(emulator)
    await client.call(mapping.STORE_PATH, {"warehouseid": "1", "fields": "itemname:article"})
    await client.close()
    query, form = sent(emulator)
    assert query == parameters_of(DOCUMENT_READ_URL) and form == {}
    assert emulator.requests[-1]["method"] == "GET" and emulator.requests[-1]["success"] == 1


async def test_the_document_update_example_is_what_the_client_sends(emulator):
    # The client writes with POST: get-only parameters in the query, the rest in a form body
    # (the document allows either for those); quantities as VirtPOS writes them, 20.000.
    client = client_of(emulator)
    await client.call(UPDATE, mapping.update_params("1", "1", {"quantity": "20.000"}), method="POST")
    await client.close()
    query, form = sent(emulator)
    document = parameters_of(DOCUMENT_UPDATE_URL)
    assert query == [(k, v) for k, v in document if k != "quantity"]
    assert form == {"quantity": "20.000"} and dict(document)["quantity"] == "20"
    assert emulator.quantities(1) == {"1": "20.000"}


async def test_the_document_version_and_zeroing_examples_are_what_the_client_sends(emulator):
    client = client_of(emulator)
    version = await client.call(VERSION, mapping.warehouse_params("ext:1"), method="POST")
    query, form = sent(emulator)
    assert query == parameters_of(DOCUMENT_VERSION_URL) and form == {}
    await client.call(ZERO, {**mapping.warehouse_params("ext:1"), "version": version["version"]}, method="POST")
    await client.close()
    query, form = sent(emulator)
    # The example leaves out the version the parameter list requires; the client sends it.
    assert query == [*parameters_of(DOCUMENT_ZERO_URL), ("version", "1")] and form == {}


async def test_every_get_only_parameter_travels_in_the_query_and_the_rest_in_the_body(emulator):
    emulator.add_item(2, external_id="SKU-2")
    client = client_of(emulator, "json")
    params = {"ext_warehouseid": "1", "ext_itemid": "SKU-2", "quantity": "1.500", "cogs": "10.00",
              "lot_number": "L-1", "manuf_date": "2026-01-10", "expir_date": "2027-01-31"}
    answer = await client.call(UPDATE, params, method="POST")
    await client.close()
    record = emulator.requests[-1]
    assert set(record["query"]) == {"format", "ext_warehouseid", "ext_itemid"}
    assert set(record["form"]) == {"quantity", "cogs", "lot_number", "manuf_date", "expir_date"}
    assert (answer["success"], answer["itemid"], answer["isnew"]) == (1, 2, 1)


async def test_success_0_is_an_error_with_the_backends_info(emulator):
    client = client_of(emulator)
    with pytest.raises(BackendError) as caught:
        await client.call(UPDATE, {"warehouseid": "1", "itemid": "99", "quantity": "1.000"}, method="POST")
    await client.close()
    assert str(caught.value) == "success=0: /api/store/updateOnhand: Товар не найден: 99"


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_an_http_error_shows_the_info_its_body_carries(emulator, fmt):
    emulator.faults.add(Fault("http_error", status=400))
    emulator.faults.add(Fault("http_error", status=500, times=2))
    client = client_of(emulator, fmt, attempts=2)
    with pytest.raises(BackendError) as bad_request:
        await client.call(mapping.STORE_PATH, {})
    with pytest.raises(BackendError) as server_error:
        await client.call(mapping.STORE_PATH, {})
    await client.close()
    assert str(bad_request.value) == "400: /api/store: HTTP 400 from VirtPOS: injected fault: HTTP 400"
    assert str(server_error.value) == ("/api/store: HTTP 500 from VirtPOS: injected fault: HTTP 500 "
                                       "(gave up after 2 attempts)")


async def test_a_rate_limit_is_retried_and_a_refused_key_says_so(emulator):
    emulator.faults.add(Fault("rate_limit"))
    client = client_of(emulator, "json", attempts=2)
    answer = await client.call(mapping.STORE_PATH, {"warehouseid": "1"})
    assert answer["success"] == 1 and [r["fault"] for r in emulator.requests] == ["rate_limit", None]
    emulator.faults.add(Fault("http_error", status=401))
    with pytest.raises(BackendError) as refused:
        await client.call(mapping.STORE_PATH, {"warehouseid": "1"})
    await client.close()
    assert str(refused.value) == "401: /api/store: HTTP 401: the apikey was refused: injected fault: HTTP 401"
