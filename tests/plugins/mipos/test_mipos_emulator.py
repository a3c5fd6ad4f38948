"""The miPOS emulator's own API: movements, webhook registration and the inspection API."""

from __future__ import annotations

import json

import httpx

from reconciler_mipos.emulator import MiPOSEmulator
from reconciler_mipos.webhooks import SIGNATURE_HEADER, signature

ACCOUNT = {"client_id": "c", "client_secret": "s", "email": "e@example.com", "password": "p",
           "user_id_tps": "30", "inventory_system_id": "isid", "pos_id": "1"}
API = "/api/v1/inventory/pos"
ITEM = {"name": "n", "external_id": "a", "purchase_unit_external_id": "u", "consumption_unit_external_id": "u",
        "supplier_external_id": "s", "cost": "1", "stock": "4"}


async def test_movements_registration_and_emission_through_the_inspection_api():
    received = []

    async def receiver(scope, receive, send):
        message = await receive()
        received.append((dict(scope["headers"]), message["body"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    emulator = MiPOSEmulator(account=dict(ACCOUNT), outgoing=httpx.ASGITransport(app=receiver))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app), base_url="http://m") as c:
        token = (await c.post("/api/oauth/token", json={**{k: ACCOUNT[k] for k in ("client_id", "client_secret", "email", "password")},
                                                         "grant_type": "client_credentials"})).json()["data"]
        assert token["token_type"] == "bearer" and token["expires_in"].isdigit()
        auth = {"Authorization": f"Bearer {token['token']}"}
        assert (await c.post(API + "/store/12/system/sync", headers={}, json={})).status_code == 401
        sync = {"items": [ITEM], "units": [{"name": "U", "short_name": "u", "external_id": "u"}],
                "suppliers": [{"name": "S", "external_id": "s"}], "user_id_tps": "30", "inventory_system_id": "isid"}
        assert (await c.post(API + "/store/12/system/sync", headers=auth, json=sync)).status_code == 200
        move = {"user_id_tps": "30", "inventory_system_id": "isid", "current_stock": "3", "quantity": "1",
                "date": "2020-05-30 12:45:03", "movement_type": 2, "external_id": "zz"}
        missing = await c.post(API + "/store/12/system/stock/update", headers=auth, json=move)
        assert missing.status_code == 409
        assert missing.json() == {"message": ["External id not found for this store in the inventory system."], "data": None}
        bad = await c.post(API + "/store/12/system/stock/update", headers=auth, json={**move, "movement_type": 5})
        assert bad.status_code == 422 and bad.json() == {"movement_type": ["The selected movement type is invalid."]}
        assert (await c.post(API + "/store/12/system/stock/update", headers=auth,
                             json={**move, "external_id": "a"})).status_code == 200
        hooked = await c.post(API + "/webhook/manage", headers=auth, json={"type": "3", "url": "http://pos/hook"})
        assert hooked.json()["message"] == "Webhook successfully created."
        delivery = (await c.post("/_emulator/stores/12/items/a/stock", json={"current_stock": "9"})).json()
        assert delivery["delivered"] and delivery["attempts"] == 1
        assert (await c.get("/_emulator/stores/12")).json()["items"]["a"]["stock"] == "9"
        assert len((await c.get("/_emulator/deliveries")).json()) == 1
    [(headers, raw)] = received
    sent = json.loads(raw)
    assert (sent["current_stock"], sent["quantity"], sent["movement_type"], sent["store_id"]) == ("9", "6", 1, "12")
    assert headers[SIGNATURE_HEADER.lower().encode()].decode() == signature("s", "http://pos/hook", "isid", "12", sent["now"])


async def test_a_receiver_that_keeps_failing_gets_every_attempt():
    async def down(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    emulator = MiPOSEmulator(account=dict(ACCOUNT), outgoing=httpx.ASGITransport(app=down), delivery_backoff=0)
    emulator.sync("12", {"items": [ITEM], "units": [{"name": "U", "short_name": "u", "external_id": "u"}],
                         "suppliers": [{"name": "S", "external_id": "s"}], "user_id_tps": "30", "inventory_system_id": "isid"})
    emulator.manage_webhook({"type": 3, "url": "http://pos/hook"})
    delivery = await emulator.set_stock("12", "a", "1")
    assert delivery["statuses"] == [500, 500, 500] and not delivery["delivered"]
