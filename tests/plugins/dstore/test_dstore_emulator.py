"""The D-Store emulator behaves as the syncProduct document says, faults included."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import uvicorn

from reconciler.emulation import Fault, InProcessTransport
from reconciler_dstore import signing
from reconciler_dstore.emulator import SYNC_PRODUCT_PATH, DStoreEmulator

from document_examples import DOCUMENT_EXAMPLES
from dstore_helpers import ACCOUNT, CLIENT_ID, STORE, SUCCESS, Caller, by_id, signed_headers, status_body, sync_body

# --- full sync -----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("example", sorted(DOCUMENT_EXAMPLES))
async def test_document_examples_are_accepted_and_stored(emulator, caller, example):
    products = DOCUMENT_EXAMPLES[example]
    assert await caller.result(sync_body(products)) == SUCCESS
    assert emulator.products(ACCOUNT, STORE) == by_id(products)
    assert emulator.store_name(ACCOUNT, STORE) == "s1-name"
    [record] = emulator.requests
    assert record["mode"] == "full" and record["replayed"] is False
    assert record["requestId"] == "r-1" and record["result"] == SUCCESS


@pytest.mark.asyncio
async def test_full_sync_replaces_the_whole_store(emulator, caller):
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"], "r-2")) == SUCCESS
    assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["basic"])


@pytest.mark.asyncio
async def test_1500_products_are_accepted_and_1501_rejected(emulator, caller):
    def singles(n: int) -> list[dict]:
        return [{"posProductId": f"p{i}", "status": "AVAILABLE", "name": f"item {i}"} for i in range(n)]

    assert await caller.result(sync_body(singles(1500), "r-1500")) == SUCCESS
    result = await caller.result(sync_body(singles(1501), "r-1501"))
    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert "at most 1500 products" in result["resultMessage"]
    assert len(emulator.products(ACCOUNT, STORE)) == 1500


def _with(example: str, index: int, **changes: Any) -> list[dict]:
    products = copy.deepcopy(DOCUMENT_EXAMPLES[example])
    products[index].update(changes)
    return products


def _without(example: str, index: int, key: str) -> list[dict]:
    products = copy.deepcopy(DOCUMENT_EXAMPLES[example])
    del products[index][key]
    return products


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("products", "message"),
    [
        (
            _with("modifier", 1, price={"currency": "SGD", "value": 100}),
            "products[1] is a GROUP and must not have a price",
        ),
        (_with("modifier", 1, subProducts=[]), "products[1] is a GROUP and must have non-empty subProducts"),
        (_with("modifier", 0, subProducts=["g9"]), "products[0].subProducts[0] 'g9' is not a product in this request"),
        (_without("basic", 0, "price"), "products[0] is a SINGLE and must have a price"),
        (
            _with("basic", 0, price={"currency": "SGD", "value": 2147483648}),
            "products[0].price.value must be an integer between 0 and 2147483647",
        ),
        (
            _with("basic", 0, price={"currency": "SGD", "value": 10.5}),
            "products[0].price.value must be an integer between 0 and 2147483647",
        ),
        (
            _with("basic", 0, price={"currency": "sgd", "value": 1}),
            "products[0].price.currency must be a 3-letter uppercase ISO 4217 code",
        ),
        (
            _with("modifier", 2, quantityRule={"min": 2, "max": 1}),
            "products[2].quantityRule.min must not exceed products[2].quantityRule.max",
        ),
        (_with("basic", 0, status="GONE"), "products[0].status must be one of AVAILABLE, SOLDOUT"),
        (_with("basic", 0, type="COMBO"), "products[0].type must be one of SINGLE, GROUP, MODIFIER"),
        (_with("basic", 0, posProductId=""), "products[0].posProductId must be a non-empty string"),
        (
            DOCUMENT_EXAMPLES["basic"] + DOCUMENT_EXAMPLES["basic"],
            "products[1].posProductId 'p1' duplicates products[0]",
        ),
        (
            _with("nested", 5, subProducts=["g1"]),
            "reaches itself through subProducts: g1 -> p1-2 -> g2 -> p5 -> g1",
        ),
        (_with("basic", 0, subProducts=["p1"]), "products[0].subProducts[0] 'p1' is not a GROUP; a product's choices are GROUPs"),
        (_with("modifier", 1, subProducts=["p2", "p2"]), "products[1].subProducts[1] 'p2' is listed twice"),
        (
            _with("nested", 1, subProducts=["p1-1", "g2"]),
            "products[1].subProducts[1] 'g2' is a GROUP; a GROUP's subProducts are SINGLE or MODIFIER products",
        ),
        (_with("modifier", 1, overloads=[{"posProductIds": ["g1"]}]), "products[1] is a GROUP and must not have overloads"),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["g1"]}, {"posProductIds": ["g1"]}]),
            "products[2].overloads[1].posProductIds[0] 'g1' already has an overload of 'p2'",
        ),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["g1"], "price": {"currency": "SGD", "value": 1000}}]),
            "products[2].overloads[0].price.value 1000 must be lower than products[2].price.value 1000",
        ),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["g1"], "quantityRule": {"min": 0, "max": 1000}}]),
            "products[2].overloads[0].quantityRule must differ from products[2].quantityRule",
        ),
        (
            _with("modifier", 2, quantityRule={"min": 0, "max": 2147483648}),
            "products[2].quantityRule.max must be an integer between 0 and 2147483647",
        ),
        (
            _with("combo", 3, price={"currency": "USD", "value": 1}),
            "products[3] is priced in USD but products[0] in SGD; a store has one currency",
        ),
        (_with("basic", 0, posProductId="p" * 65), "products[0].posProductId must be at most 64 characters (got 65)"),
        (_with("basic", 0, name="n" * 256), "products[0].name must be at most 255 characters (got 256)"),
        (_with("basic", 0, name=""), "products[0].name must be a non-empty string"),
        (_with("basic", 0, name=None), "products[0].name is required"),
        (_without("basic", 0, "status"), "products[0].status is required"),
        (_with("basic", 0, colour="red"), "products[0].colour is not a parameter of syncProduct"),
        (
            _with("basic", 0, price={"currency": "SGD", "value": 1, "tax": 0}),
            "products[0].price.tax is not a parameter of syncProduct",
        ),
        (
            _with("modifier", 2, quantityRule={"min": 0, "max": 1, "step": 1}),
            "products[2].quantityRule.step is not a parameter of syncProduct",
        ),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["g1"], "name": "x"}]),
            "products[2].overloads[0].name is not a parameter of syncProduct",
        ),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["p1"]}]),
            "products[2].overloads[0].posProductIds[0] 'p1' is not a GROUP",
        ),
        (
            _with("combo", 2, overloads=[{"posProductIds": ["g2"]}]),
            "products[2].overloads[0].posProductIds[0] 'g2' does not list 'p2' in its subProducts",
        ),
        (["p1"], "products[0] must be an object"),
        ([], "products must contain at least one product"),
    ],
)
async def test_invalid_full_sync_is_rejected_with_a_precise_message(
    emulator, caller, products, message
):
    await caller.result(sync_body(DOCUMENT_EXAMPLES["bundle"], "r-before"))
    result = await caller.result(sync_body(products, "r-bad"))
    assert result["resultStatus"] == "F" and result["resultCode"] == "PARAM_ILLEGAL"
    assert message in result["resultMessage"]
    assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["bundle"])


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"{not json", "the request body must be a JSON object"),
        ({"posAccountId": ACCOUNT}, "requestId is required"),
        (sync_body([], "x" * 256), "requestId must be at most 255 characters"),
        ({**sync_body([]), "posAccountId": 7}, "posAccountId must be a non-empty string"),
        ({**sync_body([]), "store": {"name": "n"}}, "store.posStoreId is required"),
        ({**sync_body([]), "products": {}}, "products is required and must be an array"),
        (
            sync_body(DOCUMENT_EXAMPLES["basic"], extendInfo={"note": "x" * 4096}),
            "extendInfo must be at most 4096 characters",
        ),
        (sync_body(DOCUMENT_EXAMPLES["basic"], extendInfo="x"), "extendInfo must be an object"),
        (sync_body(DOCUMENT_EXAMPLES["basic"], storeId="s1"), "storeId is not a parameter of syncProduct"),
        (
            {**sync_body(DOCUMENT_EXAMPLES["basic"]), "store": {"posStoreId": STORE, "address": "x"}},
            "store.address is not a parameter of syncProduct",
        ),
        (
            {**sync_body(DOCUMENT_EXAMPLES["basic"]), "store": {"posStoreId": "s" * 65}},
            "store.posStoreId must be at most 64 characters (got 65)",
        ),
        (
            {**sync_body(DOCUMENT_EXAMPLES["basic"]), "store": {"posStoreId": STORE, "name": "n" * 256}},
            "store.name must be at most 255 characters (got 256)",
        ),
        ({**sync_body(DOCUMENT_EXAMPLES["basic"]), "posAccountId": "a" * 256}, "posAccountId must be at most 255 characters"),
        ({**sync_body(DOCUMENT_EXAMPLES["basic"]), "store": None}, "store is required and must be an object"),
    ],
)
async def test_invalid_envelope_is_rejected(emulator, caller, doc, message):
    result = await caller.result(doc)
    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert message in result["resultMessage"]
    assert emulator.products(ACCOUNT, STORE) == {}


# --- status updates ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_status_update_changes_only_the_status(emulator, caller):
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    before = emulator.products(ACCOUNT, STORE)

    assert await caller.result(status_body({"p2": "SOLDOUT", "p4": "SOLDOUT"})) == SUCCESS

    after = emulator.products(ACCOUNT, STORE)
    assert after["p2"]["status"] == after["p4"]["status"] == "SOLDOUT"
    for product_id in ("p2", "p4"):
        after[product_id]["status"] = "AVAILABLE"
    assert after == before
    assert emulator.store_name(ACCOUNT, STORE) == "s1-name"
    assert emulator.requests[-1]["mode"] == "status"


@pytest.mark.asyncio
async def test_status_update_with_an_optional_field_replaces_the_store(emulator, caller):
    """The documented trap: one extra field turns a status update into a full sync."""
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    doc = status_body({"p2": "SOLDOUT"})
    doc["products"][0]["name"] = "chicken burger"

    assert await caller.result(doc) == SUCCESS

    assert emulator.products(ACCOUNT, STORE) == {
        "p2": {"posProductId": "p2", "status": "SOLDOUT", "name": "chicken burger"}
    }
    assert emulator.requests[-1]["mode"] == "full"


@pytest.mark.asyncio
async def test_eleven_product_status_update_is_rejected(emulator, caller):
    products = [{"posProductId": f"p{i}", "status": "AVAILABLE", "name": "x"} for i in range(11)]
    await caller.result(sync_body(products, "r-1"))

    result = await caller.result(status_body({f"p{i}": "SOLDOUT" for i in range(11)}))

    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert "status update allows at most 10 products" in result["resultMessage"]
    assert {p["status"] for p in emulator.products(ACCOUNT, STORE).values()} == {"AVAILABLE"}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("updates", "message"),
    [
        ({"p2": "SOLDOUT", "p9": "SOLDOUT"}, "products[1].posProductId 'p9' does not exist in this store"),
        ({"p2": "SOLDOUT", "g1": "SOLDOUT"}, "products[1].posProductId 'g1' is a GROUP"),
        ({"p2": "SOLDOUT", "p3": "sold out"}, "products[1].status must be one of AVAILABLE, SOLDOUT"),
    ],
)
async def test_invalid_status_update_changes_nothing(emulator, caller, updates, message):
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    before = emulator.products(ACCOUNT, STORE)

    result = await caller.result(status_body(updates))

    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert message in result["resultMessage"]
    assert emulator.products(ACCOUNT, STORE) == before


@pytest.mark.asyncio
async def test_status_update_for_an_unknown_store_is_rejected(emulator, caller):
    result = await caller.result(status_body({"p1": "SOLDOUT"}))
    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert "'p1' does not exist in this store" in result["resultMessage"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "optional",
    [
        pytest.param({"extendInfo": {"note": "86 the burger"}}, id="extendInfo"),
        pytest.param({"store": {"posStoreId": STORE, "name": "s1-name"}}, id="store.name"),
    ],
)
async def test_a_status_update_carrying_an_optional_request_field_is_processed_as_a_full_sync(
    emulator, caller, optional
):
    """Any optional parameter, not only a product field, makes D-Store process the update
    as a full sync: the store is left with the products of the "update" alone."""
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    doc = {**status_body({"p2": "SOLDOUT"}), **optional}
    assert await caller.result(doc) == SUCCESS
    assert emulator.requests[-1]["mode"] == "full"
    assert emulator.products(ACCOUNT, STORE) == {"p2": {"posProductId": "p2", "status": "SOLDOUT"}}


@pytest.mark.asyncio
async def test_store_name_in_a_status_update_can_follow_the_documents_modifiers_example_instead(emulator, caller):
    """The document's "Modifiers" status update carries store.name; configured to follow
    that example rather than the text, the emulator keeps it a status update."""
    emulator.store_name_makes_full_sync = False
    await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))
    doc = status_body({"p2": "SOLDOUT"})
    doc["store"]["name"] = "renamed"
    assert await caller.result(doc) == SUCCESS
    assert emulator.requests[-1]["mode"] == "status"
    assert len(emulator.products(ACCOUNT, STORE)) == 7
    assert emulator.store_name(ACCOUNT, STORE) == "renamed"


@pytest.mark.asyncio
async def test_a_reused_products_status_applies_in_every_group_that_offers_it(emulator, caller):
    """The chicken burger of the document's status example: one product in two combo
    meals. One status update changes it wherever it is offered."""
    burger = {"posProductId": "p1", "type": "SINGLE", "status": "AVAILABLE", "name": "chicken burger",
              "price": {"currency": "SGD", "value": 1000}}
    products = [burger]
    for n in (1, 2):
        products += [
            {"posProductId": f"set{n}", "type": "SINGLE", "status": "AVAILABLE", "name": f"combo {n}",
             "price": {"currency": "SGD", "value": 1500}, "subProducts": [f"g{n}"]},
            {"posProductId": f"g{n}", "type": "GROUP", "status": "AVAILABLE", "name": "burger",
             "quantityRule": {"min": 1, "max": 1}, "subProducts": ["p1"]},
        ]
    assert await caller.result(sync_body(products, "r-1")) == SUCCESS
    assert await caller.result(status_body({"p1": "SOLDOUT"})) == SUCCESS
    held = emulator.products(ACCOUNT, STORE)
    assert held["p1"]["status"] == "SOLDOUT"
    assert all("p1" in held[group]["subProducts"] for group in ("g1", "g2"))  # both offer the one p1
    assert {pid: p["status"] for pid, p in held.items() if pid != "p1"} == dict.fromkeys(
        ["set1", "g1", "set2", "g2"], "AVAILABLE")


# --- idempotency ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_repeated_request_id_returns_the_stored_result_and_changes_nothing(
    emulator, caller
):
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"], "r-1")) == SUCCESS

    replay = await caller.result(sync_body(DOCUMENT_EXAMPLES["combo"], "r-1"))

    assert replay == SUCCESS
    assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["basic"])
    assert [(r["replayed"], r["mode"]) for r in emulator.requests] == [(False, "full"), (True, None)]


@pytest.mark.asyncio
async def test_a_failure_is_final_for_its_request_id(emulator, caller):
    bad = _with("modifier", 1, price={"currency": "SGD", "value": 1})
    first = await caller.result(sync_body(bad, "r-1"))
    assert first["resultCode"] == "PARAM_ILLEGAL"

    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["modifier"], "r-1")) == first
    assert emulator.products(ACCOUNT, STORE) == {}
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["modifier"], "r-2")) == SUCCESS


# --- headers and signatures ----------------------------------------------------------


def _verifies_with_gateway_key(response: httpx.Response, public_pem: str) -> bool:
    parts = signing.parse_signature_header(response.headers["Signature"])
    content = signing.signed_content(
        "POST",
        SYNC_PRODUCT_PATH,
        response.headers["Client-Id"],
        response.headers["Response-Time"],
        response.content,
    )
    return parts["algorithm"] == "RSA256" and signing.verify(
        signing.load_public_key(public_pem), content, parts["signature"]
    )


@pytest.mark.asyncio
async def test_response_is_signed_by_the_gateway(emulator, caller, http):
    response = await caller.post(sync_body(DOCUMENT_EXAMPLES["basic"]))
    published = (await http.get("/_emulator/gateway-public-key")).text

    assert published == emulator.gateway_public_key_pem
    assert response.headers["Client-Id"] == CLIENT_ID
    assert response.headers["Content-Type"].startswith("application/json")
    assert _verifies_with_gateway_key(response, published)


@pytest.mark.asyncio
async def test_failures_other_than_signature_are_signed_too(emulator, caller):
    response = await caller.post(sync_body([]))
    assert response.json()["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert _verifies_with_gateway_key(response, emulator.gateway_public_key_pem)


@pytest.mark.asyncio
async def test_bad_signature_is_rejected_and_the_answer_is_unsigned(emulator, caller, http, client_key):
    signed_for = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    headers = signed_headers(client_key, signed_for)
    sent = signed_for.replace(b"1000", b"1")

    response = await http.post(SYNC_PRODUCT_PATH, content=sent, headers=headers)

    assert response.status_code == 200
    result = response.json()["result"]
    assert (result["resultStatus"], result["resultCode"]) == ("F", "INVALID_SIGNATURE")
    assert "Signature" not in response.headers and "Response-Time" not in response.headers
    assert emulator.products(ACCOUNT, STORE) == {}
    # Unauthenticated: the requestId stays free for the genuine request.
    assert await caller.result(signed_for) == SUCCESS


@pytest.mark.asyncio
async def test_unknown_client_and_missing_signature_are_invalid_signature(caller, http):
    unknown = await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"]), client_id="stranger")
    assert unknown["resultCode"] == "INVALID_SIGNATURE"

    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    headers = signed_headers(caller.key, body)
    del headers["Signature"]
    response = await http.post(SYNC_PRODUCT_PATH, content=body, headers=headers)
    assert response.json()["result"]["resultCode"] == "INVALID_SIGNATURE"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("drop", "overrides", "message"),
    [
        ("Client-Id", {}, "Client-Id header is required"),
        ("Request-Time", {}, "Request-Time header is required"),
        (None, {"Request-Time": "yesterday"}, "Request-Time header must be ISO 8601"),
        (None, {"Request-Time": "2022-10-10T23:00:56"}, "Request-Time header must be ISO 8601"),
        (None, {"Request-Time": "2022-10-10T23:00:56+08:00"}, "Request-Time is outside the allowed clock skew"),
    ],
)
async def test_header_problems_are_param_illegal(http, client_key, drop, overrides, message):
    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    headers = {**signed_headers(client_key, body), **overrides}
    headers.pop(drop, None)

    result = (await http.post(SYNC_PRODUCT_PATH, content=body, headers=headers)).json()["result"]

    assert result["resultCode"] == "PARAM_ILLEGAL"
    assert message in result["resultMessage"]


@pytest.mark.asyncio
async def test_header_names_are_case_insensitive_and_signature_parts_tolerant(
    emulator, http, client_key
):
    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    headers = signed_headers(client_key, body)
    value = signing.parse_signature_header(headers["Signature"])["signature"]
    lowered = {
        "content-type": "application/json",
        "client-id": headers["Client-Id"],
        "request-time": headers["Request-Time"],
        "signature": f"signature={value}, keyVersion=1, algorithm=RSA256",
    }
    response = await http.post(SYNC_PRODUCT_PATH, content=body, headers=lowered)
    assert response.json()["result"] == SUCCESS


@pytest.mark.asyncio
async def test_request_time_within_skew_in_another_offset_is_accepted(emulator, caller):
    singapore = timezone(timedelta(hours=8))
    sent_at = (datetime.now(singapore) - timedelta(seconds=200)).replace(microsecond=0)
    result = await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"]), request_time=sent_at.isoformat())
    assert result == SUCCESS


@pytest.mark.asyncio
async def test_signature_check_can_be_switched_off(emulator, http):
    emulator.verify_signatures = False
    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    headers = {"Client-Id": "anyone", "Request-Time": signing.request_time_now()}
    response = await http.post(SYNC_PRODUCT_PATH, content=body, headers=headers)
    assert response.json()["result"] == SUCCESS
    assert _verifies_with_gateway_key(response, emulator.gateway_public_key_pem)


# --- faults --------------------------------------------------------------------------


def _fault(kind: str, **options: Any) -> Fault:
    return Fault(kind=kind, path=SYNC_PRODUCT_PATH, **options)


@pytest.mark.asyncio
async def test_latency_delays_then_answers(emulator, caller):
    emulator.faults.add(_fault("latency", seconds=0.2))
    started = time.monotonic()
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"])) == SUCCESS
    assert time.monotonic() - started >= 0.2
    assert emulator.requests[-1]["fault"] == "latency"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("unknown", "U", "UNKNOWN_EXCEPTION"), ("rate_limit", "F", "REQUEST_TRAFFIC_EXCEED_LIMIT")],
)
async def test_refusing_faults_answer_signed_and_keep_the_request_id_free(
    emulator, caller, kind, status, code
):
    emulator.faults.add(_fault(kind))
    doc = sync_body(DOCUMENT_EXAMPLES["basic"])

    response = await caller.post(doc)

    result = response.json()["result"]
    assert (result["resultStatus"], result["resultCode"]) == (status, code)
    assert _verifies_with_gateway_key(response, emulator.gateway_public_key_pem)
    assert emulator.products(ACCOUNT, STORE) == {}
    # Not stored, so the same request retried is processed.
    assert await caller.result(doc) == SUCCESS
    assert [r["fault"] for r in emulator.requests] == [kind, None]
    assert emulator.requests[-1]["replayed"] is False


@pytest.mark.asyncio
async def test_http_error_answers_plain_text_and_processes_nothing(emulator, caller):
    emulator.faults.add(_fault("http_error", status=503))
    response = await caller.post(sync_body(DOCUMENT_EXAMPLES["basic"]))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    assert emulator.products(ACCOUNT, STORE) == {}
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"])) == SUCCESS


async def _lost_call(caller: Caller, doc: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        await caller.http.post(
            SYNC_PRODUCT_PATH,
            content=json.dumps(doc).encode(),
            headers=signed_headers(caller.key, json.dumps(doc).encode()),
            timeout=0.5,
        )


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "error"),
    [("timeout", httpx.ReadTimeout), ("drop", httpx.RemoteProtocolError)],
)
async def test_lost_answer_before_processing_changes_nothing(emulator, caller, kind, error):
    emulator.faults.add(_fault(kind))
    doc = sync_body(DOCUMENT_EXAMPLES["basic"])

    await _lost_call(caller, doc, error)

    assert emulator.products(ACCOUNT, STORE) == {}
    assert await caller.result(doc) == SUCCESS
    assert emulator.requests[-1]["replayed"] is False


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("kind", "error"),
    [("timeout", httpx.ReadTimeout), ("drop", httpx.RemoteProtocolError)],
)
async def test_lost_answer_after_processing_keeps_the_change_and_replays(
    emulator, caller, kind, error
):
    emulator.faults.add(_fault(kind, after_processing=True))
    doc = sync_body(DOCUMENT_EXAMPLES["combo"])

    await _lost_call(caller, doc, error)

    assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["combo"])
    assert await caller.result(doc) == SUCCESS
    assert [(r["fault"], r["replayed"]) for r in emulator.requests] == [(kind, False), (None, True)]


@pytest.mark.asyncio
async def test_timeout_that_outlasts_a_patient_client_still_gives_no_answer(emulator, caller):
    emulator.faults.add(_fault("timeout", seconds=0.1))
    await _lost_call(caller, sync_body(DOCUMENT_EXAMPLES["basic"]), httpx.RemoteProtocolError)


@pytest.mark.asyncio
async def test_faults_for_other_paths_do_not_fire(emulator, caller):
    emulator.faults.add(Fault(kind="unknown", path="/v2/pos/syncStore"))
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"])) == SUCCESS
    assert len(emulator.faults.pending) == 1


@pytest.mark.asyncio
async def test_fault_times_counts_requests(emulator, caller):
    emulator.faults.add(_fault("unknown", times=2))
    codes = [
        (await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"])))["resultCode"] for _ in range(3)
    ]
    assert codes == ["UNKNOWN_EXCEPTION", "UNKNOWN_EXCEPTION", "SUCCESS"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "status", "message", "final"),
    [
        ("PROCESS_FAIL", "F", "A general business failure occurred. Do not retry.", True),
        ("PARAM_ILLEGAL", "F", "Parameter names or values do not meet the specified requirements.", True),
        ("INVALID_API", "F", "The called API is invalid or not active.", False),
        ("INVALID_SIGNATURE", "F", "Signature is invalid.", False),
        ("ACCESS_DENIED", "F", "Access is denied", False),
        ("REQUEST_TRAFFIC_EXCEED_LIMIT", "F", "The request traffic exceeds the limit.", False),
        ("UNKNOWN_EXCEPTION", "U", "An API calling is failed, which is caused by unknown reasons.", False),
        ("RISK_REJECT", "F", "RISK_REJECT (a failure the document does not list)", False),
    ],
)
async def test_a_result_fault_answers_each_documented_code_as_the_result_table_says(
    emulator, caller, code, status, message, final
):
    emulator.faults.add(_fault("result", code=code))
    doc = sync_body(DOCUMENT_EXAMPLES["basic"])
    response = await caller.post(doc)
    assert response.json() == {"result": {"resultCode": code, "resultMessage": message, "resultStatus": status}}
    assert _verifies_with_gateway_key(response, emulator.gateway_public_key_pem)
    assert emulator.products(ACCOUNT, STORE) == {}
    # A result of processing is final for its requestId; the gateway's own refusals are not.
    again = await caller.result(doc)
    assert again == (response.json()["result"] if final else SUCCESS)
    assert [(r["fault"], r["replayed"]) for r in emulator.requests] == [("result", False), (None, final)]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/v2/pds/store/syncProduct", "/v2/pos/syncStore", "/v2/pos/syncproduct"])
async def test_an_api_the_gateway_does_not_serve_is_invalid_api(emulator, http, client_key, path):
    """The document's second curl sample posts to /v2/pds/store/syncProduct."""
    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"])).encode()
    request_time = signing.request_time_now()
    content = signing.signed_content("POST", path, CLIENT_ID, request_time, body)
    headers = {"Client-Id": CLIENT_ID, "Request-Time": request_time,
               "Signature": signing.format_signature_header(signing.sign(client_key, content))}
    response = await http.post(path, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["result"] == {"resultCode": "INVALID_API",
                                         "resultMessage": "The called API is invalid or not active.",
                                         "resultStatus": "F"}
    # Signed over the path that was called.
    signed = signing.signed_content("POST", path, response.headers["Client-Id"],
                                    response.headers["Response-Time"], response.content)
    value = signing.parse_signature_header(response.headers["Signature"])["signature"]
    assert signing.verify(signing.load_public_key(emulator.gateway_public_key_pem), signed, value)
    assert emulator.products(ACCOUNT, STORE) == {} and emulator.requests[-1]["path"] == path


@pytest.mark.asyncio
async def test_every_request_is_logged_with_the_hash_of_its_exact_bytes(emulator, caller):
    body = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"]), indent=1).encode()
    await caller.result(body)
    assert emulator.requests[-1]["body_sha256"] == hashlib.sha256(body).hexdigest()


# --- control API and persistence -----------------------------------------------------


@pytest.mark.asyncio
async def test_control_api(emulator, http, client_key):
    _, other_public = signing.generate_key_pair()
    good = {"client_id": "c2", "public_key": other_public}
    assert (await http.post("/_emulator/clients", json=good)).status_code == 201
    bad = {"client_id": "c3", "public_key": "junk"}
    assert (await http.post("/_emulator/clients", json=bad)).status_code == 400

    added = await http.post("/_emulator/faults", json={"kind": "unknown", "path": SYNC_PRODUCT_PATH})
    assert added.status_code == 201
    assert (await http.post("/_emulator/faults", json={"kind": "meteor"})).status_code == 400
    assert (await http.post("/_emulator/faults", json={"kind": "result"})).status_code == 400  # which code?
    assert (await http.post("/_emulator/faults", json={"kind": "unknown", "code": "X"})).status_code == 400
    assert [f["kind"] for f in (await http.get("/_emulator/faults")).json()] == ["unknown"]
    assert (await http.delete("/_emulator/faults")).json() == []
    assert emulator.faults.pending == []

    caller = Caller(http, client_key)
    await caller.result(sync_body(DOCUMENT_EXAMPLES["bundle"]))
    store = (await http.get(f"/_emulator/stores/{ACCOUNT}/{STORE}/products")).json()
    assert store == {
        "posAccountId": ACCOUNT,
        "posStoreId": STORE,
        "name": "s1-name",
        "products": by_id(DOCUMENT_EXAMPLES["bundle"]),
    }
    [record] = (await http.get("/_emulator/requests")).json()
    assert record["requestId"] == "r-1" and record["path"] == SYNC_PRODUCT_PATH

    assert (await http.post("/_emulator/reset")).status_code == 200
    assert (await http.get(f"/_emulator/stores/{ACCOUNT}/{STORE}/products")).json()["products"] == {}
    assert (await http.get("/_emulator/requests")).json() == []
    # Registered clients survive a reset.
    assert await caller.result(sync_body(DOCUMENT_EXAMPLES["bundle"])) == SUCCESS


@pytest.mark.asyncio
async def test_state_persists_across_instances_on_the_same_path(tmp_path, client_key):
    path = tmp_path / "dstore" / "state.json"
    first = DStoreEmulator(path)
    first.register_client(CLIENT_ID, signing.public_key_pem(client_key.public_key()))
    async with httpx.AsyncClient(transport=InProcessTransport(first.app), base_url="http://a") as http:
        assert await Caller(http, client_key).result(sync_body(DOCUMENT_EXAMPLES["combo"])) == SUCCESS

    second = DStoreEmulator(path)
    assert second.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["combo"])
    assert second.gateway_public_key_pem == first.gateway_public_key_pem
    assert [r["requestId"] for r in second.requests] == ["r-1"]
    async with httpx.AsyncClient(transport=InProcessTransport(second.app), base_url="http://b") as http:
        caller = Caller(http, client_key)
        assert await caller.result(sync_body(DOCUMENT_EXAMPLES["basic"])) == SUCCESS  # replayed
        assert await caller.result(status_body({"p2": "SOLDOUT"})) == SUCCESS

    # The first instance sees what the second one wrote.
    assert first.products(ACCOUNT, STORE)["p2"]["status"] == "SOLDOUT"
    assert [r["replayed"] for r in first.requests] == [False, True, False]
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


# --- over a real socket --------------------------------------------------------------


@contextlib.contextmanager
def serve_on_loopback(app):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield "http://127.0.0.1:%d" % sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def test_loopback_with_uvicorn_including_a_dropped_connection(emulator, client_key):
    def post(http: httpx.Client, doc: dict) -> httpx.Response:
        body = json.dumps(doc).encode()
        return http.post(SYNC_PRODUCT_PATH, content=body, headers=signed_headers(client_key, body))

    with serve_on_loopback(emulator.app) as base_url, httpx.Client(base_url=base_url, timeout=5) as http:
        response = post(http, sync_body(DOCUMENT_EXAMPLES["basic"], "r-1"))
        assert response.json()["result"] == SUCCESS
        assert _verifies_with_gateway_key(response, emulator.gateway_public_key_pem)

        emulator.faults.add(_fault("drop", after_processing=True))
        with pytest.raises(httpx.TransportError):
            post(http, sync_body(DOCUMENT_EXAMPLES["combo"], "r-2"))
        assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["combo"])

        assert post(http, sync_body(DOCUMENT_EXAMPLES["combo"], "r-2")).json()["result"] == SUCCESS
        assert emulator.requests[-1]["replayed"] is True
