"""The miPOS emulator against the document: answers as documented (byte for byte in the
document's layout), movements applied and checked, webhooks emitted as the example shows,
and its settings where the document is silent."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import httpx
import pytest

from mipos_helpers import (
    ACCOUNT, CREDENTIALS, ITEM, MOVE_REQUEST, STOCK_422, SUPPLIER, SYNC_422, SYNC_OK, SYNC_REQUEST, UNIT, WEBHOOK_409,
    WEBHOOK_422, WEBHOOK_JSON, WEBHOOK_OK, request_body, seeded_emulator,
)
from reconciler_mipos.emulator import MiPOSEmulator
from reconciler_mipos.mapping import document_json
from reconciler_mipos.webhooks import SIGNATURE_HEADER

API = "/api/v1/inventory/pos"


class Receiver:
    """A POS endpoint that keeps what it was sent and answers 204."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []

    async def __call__(self, scope, receive, send) -> None:
        body = await request_body(receive)
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def token_headers(c: httpx.AsyncClient) -> dict:
    token = (await c.post("/api/oauth/token", json={**CREDENTIALS, "grant_type": "client_credentials"})).json()["data"]
    assert token["token_type"] == "bearer" and token["expires_in"].isdigit()
    return {"Authorization": f"Bearer {token['token']}"}


async def test_calls_without_a_valid_token_are_refused():
    emulator = seeded_emulator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url="http://m") as c:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}):
            refused = await c.post(API + "/store/12/system/sync", headers=headers, json=SYNC_REQUEST)
            assert refused.status_code == 401 and refused.json() == {"message": "Unauthenticated."}
        auth = await token_headers(c)
        assert (await c.post(API + "/store/12/system/sync", headers=auth, json=SYNC_REQUEST)).status_code == 200
        emulator.expire_tokens()
        assert (await c.post(API + "/store/12/system/sync", headers=auth, json=SYNC_REQUEST)).status_code == 401


async def test_a_body_without_the_json_content_type_is_not_read():
    emulator = seeded_emulator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url="http://m") as c:
        auth = await token_headers(c)
        answer = await c.post(API + "/store/12/system/sync", content=json.dumps(SYNC_REQUEST),
                              headers={**auth, "Content-Type": "text/plain"})
    assert answer.status_code == 422 and set(answer.json()) == {"items", "inventory_system_id", "units", "suppliers",
                                                                "user_id_tps"}


def test_the_422_bodies_are_the_documents():
    """An empty body gets every "field is required" message, in the document's key order
    and layout. The document's examples also list a second message of one field, which
    cannot come with the first; it is produced on its own."""
    emulator = seeded_emulator()
    status, answer = emulator.sync("12", {})
    assert status == 422
    assert document_json(answer) == SYNC_422.replace(',\n"The inventory system id must be a string."', "")
    status, answer = emulator.sync("12", {**SYNC_REQUEST, "inventory_system_id": 3})
    assert (status, answer) == (422, {"inventory_system_id": ["The inventory system id must be a string."]})
    status, answer = emulator.stock_update("12", {})
    assert status == 422
    assert document_json(answer) == STOCK_422.replace(',\n"The selected movement type is invalid."', "")
    status, answer = emulator.manage_webhook({})
    assert status == 422
    assert document_json(answer) == WEBHOOK_422.replace(',\n"The selected type is invalid."', "")
    assert emulator.manage_webhook({"type": "three", "url": "u"}) == (422, {"type": ["The selected type is invalid."]})


def test_success_bodies_are_the_documents():
    emulator = seeded_emulator()
    status, answer = emulator.sync("12", SYNC_REQUEST)
    assert status == 200 and document_json(answer) == SYNC_OK
    for url in ("http://pos.test/a", "http://pos.test/b"):  # created, then updated: the same answer
        status, answer = emulator.manage_webhook({"type": "3", "url": url})
        assert status == 200 and document_json(answer) == WEBHOOK_OK
    assert emulator.webhooks == {"3": "http://pos.test/b"}
    # The document's 409 example is not JSON (a trailing comma); the answer is, otherwise the same.
    status, answer = emulator.manage_webhook({"type": 4, "url": "u"})
    assert status == 409 and document_json(answer) == WEBHOOK_409.replace('"Invalid type.",\n', '"Invalid type."\n')
    assert emulator.stock_update("12", MOVE_REQUEST) == (200, {"message": "Stock update was sent to the inventory system.",
                                                       "data": None})


def test_the_409_checks_go_in_the_documents_order():
    """Store, account, integration, store link, one at a time, in the order the document
    lists their messages; then the data rules, all at once."""
    emulator = MiPOSEmulator(account=dict(ACCOUNT))
    emulator.seed_store("12", integrated=False, linked=False)
    wrong = {**SYNC_REQUEST, "user_id_tps": "31", "items": [{**ITEM, "name": "", "cost": None}]}
    assert emulator.sync("13", wrong)[1]["message"] == ["You don't have this store available."]
    assert emulator.sync("12", wrong)[1]["message"] == [
        "The third_party_id does not have an Inventory System role or does not exist."]
    wrong["user_id_tps"] = "30"
    assert emulator.sync("12", wrong)[1]["message"] == [
        "No integration record was found between this user store and the third party system."]
    emulator.seed_store("12", linked=False)
    assert emulator.sync("12", wrong)[1]["message"] == ["External id not found for this store in the inventory system."]
    emulator.seed_store("12")
    assert emulator.sync("12", wrong)[1]["message"] == ["The item must have a name.", "The item must have a cost."]
    move = {**MOVE_REQUEST, "inventory_system_id": "other", "external_id": "zz"}
    emulator.seed_store("12", items=[ITEM], integrated=False)
    emulator.configure(stock_relay="not_registered")
    assert emulator.stock_update("12", move)[1]["message"] == ["This user_id_tps does not own this inventory system."]
    move["inventory_system_id"] = ACCOUNT["inventory_system_id"]
    assert emulator.stock_update("12", move)[1]["message"] == [
        "No integration record was found between this user store and the third party system."]
    emulator.seed_store("12", items=[ITEM])
    assert emulator.stock_update("12", move)[1]["message"] == [
        "External id not found for this store in the inventory system."]
    assert emulator.stock_update("12", {**move, "external_id": "a"})[1]["message"] == [
        "This inventory system does not have this type of webhook available."]


def test_a_movement_is_applied_and_checked_against_current_stock():
    emulator = seeded_emulator()
    assert emulator.stock_update("12", MOVE_REQUEST)[0] == 200  # 4 - 1 = 3, as current_stock says
    assert emulator.items("12")["a"]["stock"] == "3"
    # The same movement again would make 2, not the 3 it claims: refused, nothing moves.
    again = emulator.stock_update("12", MOVE_REQUEST)
    assert again == (409, {"message": ["The current stock (3) does not match the stock after the movement (2)."],
                           "data": None})
    assert emulator.stock_update("12", {**MOVE_REQUEST, "movement_type": 1, "quantity": "2.5", "current_stock": "5.50"})[0] == 200
    assert emulator.items("12")["a"]["stock"] == "5.50"
    assert [m["quantity"] for m in emulator.movements("12")] == ["1", "2.5"]
    # Where the inventory system trusts current_stock instead, it takes the level as sent.
    trusting = seeded_emulator(stock_check="current_stock")
    assert trusting.stock_update("12", {**MOVE_REQUEST, "current_stock": "40"})[0] == 200
    assert trusting.items("12")["a"]["stock"] == "40"


@pytest.mark.parametrize("change, errors", [
    ({"movement_type": 0}, {"movement_type": ["The selected movement type is invalid."]}),
    ({"movement_type": "2"}, {"movement_type": ["The selected movement type is invalid."]}),
    ({"quantity": "-1"}, {"quantity": ["The quantity must be at least 0."]}),
    ({"quantity": "one"}, {"quantity": ["The quantity must be a number."]}),
    ({"date": "30.05.2020 12:45"}, {"date": ["The date does not match the format Y-m-d H:i:s."]}),
    ({"date": "2020-05-30"}, {"date": ["The date does not match the format Y-m-d H:i:s."]}),
    ({"current_stock": 12.44}, {"current_stock": ["The current stock must be a string."]}),
])
def test_a_malformed_movement_is_refused_per_field(change, errors):
    emulator = seeded_emulator()
    assert emulator.stock_update("12", {**MOVE_REQUEST, **change}) == (422, errors)
    assert emulator.items("12")["a"]["stock"] == "4" and emulator.movements("12") == []


def test_a_sync_that_omits_items_removes_or_keeps_them_as_configured():
    other = {**ITEM, "external_id": "b", "name": "m"}
    removing, keeping = seeded_emulator(), seeded_emulator(omitted_items="kept")
    for emulator in (removing, keeping):
        assert emulator.sync("12", {**SYNC_REQUEST, "items": [other]})[0] == 200
    assert sorted(removing.items("12")) == ["b"]
    assert sorted(keeping.items("12")) == ["a", "b"]
    assert keeping.settings["omitted_items"] == "kept" and removing.settings["omitted_items"] == "removed"
    with pytest.raises(ValueError, match="unknown emulator setting"):
        removing.configure(omitted_items="sometimes")


def test_unknown_stores_are_refused_unless_provisioned():
    strict, demo = MiPOSEmulator(account=dict(ACCOUNT)), MiPOSEmulator(account=dict(ACCOUNT), provision_stores=True)
    assert strict.sync("7", SYNC_REQUEST) == (409, {"message": ["You don't have this store available."], "data": None})
    assert strict.stock_update("7", MOVE_REQUEST) == (409, {"message": ["You don't have this store available."], "data": None})
    assert demo.sync("7", SYNC_REQUEST)[0] == 200 and sorted(demo.items("7")) == ["a"]


async def test_the_emitted_webhook_is_the_documents_example():
    """The document's example, byte for byte: stock 13.69 -> 12.44 of item avcc123 in
    store 1, moved on 2020-05-30 12:45:03, sent at 2020-06-01 02:55:18 (UTC)."""
    receiver = Receiver()
    account = {**ACCOUNT, "inventory_system_id": "4344be8c-c6b9-4c51-88a6-d620144ab406"}
    sent_at = datetime(2020, 6, 1, 2, 55, 18, tzinfo=timezone.utc).timestamp()
    emulator = MiPOSEmulator(account=account, clock=lambda: sent_at, outgoing=httpx.ASGITransport(app=receiver))
    emulator.seed_store("1", items=[{**ITEM, "external_id": "avcc123", "stock": "13.69"}], units=[UNIT],
                        suppliers=[SUPPLIER])
    emulator.manage_webhook({"type": "3", "url": "http://pos.test/webhooks/mipos"})
    delivery = await emulator.set_stock("1", "avcc123", "12.44", date="2020-05-30 12:45:03")
    assert delivery["delivered"] and delivery["statuses"] == [204]
    [(headers, raw)] = receiver.received
    assert raw == WEBHOOK_JSON.encode("utf-8")
    assert headers["content-type"] == "application/json"
    # API-FACTS: HMAC-SHA256 with the client secret over this exact text, lowercase hex.
    signed = ('{"url": "http://pos.test/webhooks/mipos", "inventory_system_id": '
              '"4344be8c-c6b9-4c51-88a6-d620144ab406", "store_id": 1, "now": "2020-06-01 02:55:18"}')
    assert headers[SIGNATURE_HEADER.lower()] == hmac.new(ACCOUNT["client_secret"].encode(), signed.encode(), hashlib.sha256).hexdigest()


async def test_the_emulator_writes_times_in_its_time_zone_and_keeps_text_store_ids():
    receiver = Receiver()
    sent_at = datetime(2020, 6, 1, 2, 55, 18, tzinfo=timezone.utc).timestamp()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), clock=lambda: sent_at, outgoing=httpx.ASGITransport(app=receiver),
                             timezone="Asia/Singapore")
    emulator.seed_store("north-1", items=[ITEM], units=[UNIT], suppliers=[SUPPLIER])
    emulator.manage_webhook({"type": "3", "url": "http://pos.test/hook"})
    await emulator.set_stock("north-1", "a", "9")
    [(_, raw)] = receiver.received
    sent = json.loads(raw)
    assert (sent["now"], sent["date"], sent["store_id"]) == ("2020-06-01 10:55:18", "2020-06-01 10:55:18", "north-1")
    assert (sent["movement_type"], sent["quantity"], sent["current_stock"]) == (1, "5", "9")


async def test_the_inspection_api_seeds_configures_and_shows():
    receiver = Receiver()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), outgoing=httpx.ASGITransport(app=receiver))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url="http://m") as c:
        seeded_store = await c.put("/_emulator/stores/12", json={"items": [ITEM], "units": [UNIT],
                                                                 "suppliers": [SUPPLIER], "integrated": True})
        assert seeded_store.json()["items"]["a"]["stock"] == "4"
        assert (await c.put("/_emulator/settings", json={"stock_check": "current_stock"})).json()["stock_check"] == \
            "current_stock"
        assert (await c.put("/_emulator/settings", json={"stock_check": "maybe"})).status_code == 400
        auth = await token_headers(c)
        assert (await c.post(API + "/webhook/manage", headers=auth, json={"type": "3", "url": "http://pos/hook"})
                ).status_code == 200
        delivery = (await c.post("/_emulator/stores/12/items/a/stock", json={"current_stock": "9"})).json()
        assert delivery["delivered"] and delivery["attempts"] == 1
        assert (await c.get("/_emulator/stores/12")).json()["items"]["a"]["stock"] == "9"
        assert len((await c.get("/_emulator/deliveries")).json()) == 1
        assert (await c.get("/_emulator/webhooks")).json() == {"3": "http://pos/hook"}
        await c.post("/_emulator/reset")
        assert (await c.get("/_emulator/settings")).json()["stock_check"] == "current_stock"  # settings survive
        assert (await c.get("/_emulator/stores/12")).json() == {}
    assert len(receiver.received) == 1


async def test_a_receiver_that_keeps_failing_gets_every_attempt():
    async def down(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    emulator = seeded_emulator(outgoing=httpx.ASGITransport(app=down), delivery_backoff=0)
    emulator.manage_webhook({"type": 3, "url": "http://pos/hook"})
    delivery = await emulator.set_stock("12", "a", "1")
    assert delivery["statuses"] == [500, 500, 500] and not delivery["delivered"]
