"""The type-3 receiver accepts only what miPOS could have sent, and records nothing else.

Each request goes through the engine's webhook app and state sink into the project's
real SQLite state; "recorded nothing" is checked in its observations table.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import httpx

from mipos_helpers import ACCOUNT, WEBHOOK_JSON, WEBHOOK_URL, MiPOSHarness
from reconciler_mipos.mapping import local_time
from reconciler_mipos.webhooks import MAX_BODY_BYTES, SIGNATURE_HEADER, signature

JSON = {"Content-Type": "application/json"}


def event(now: str, **changes) -> dict:
    body = {"pos_id": "1", "inventory_system_id": ACCOUNT["inventory_system_id"], "current_stock": "7",
            "quantity": "5", "date": now, "movement_type": 2, "external_id": "a", "now": now, "store_id": 12}
    return {**body, **changes}


def signed(body: dict, secret: str = ACCOUNT["client_secret"], url: str = WEBHOOK_URL) -> dict:
    return {**JSON, SIGNATURE_HEADER: signature(secret, url, body["inventory_system_id"], body["store_id"], body["now"])}


def now_in(zone: str = "UTC") -> str:
    return local_time(datetime.now(timezone.utc), ZoneInfo(zone))


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pos.test")


async def test_every_refusal_records_nothing_and_leaves_the_signature_unclaimed(tmp_path):
    h = MiPOSHarness(tmp_path)
    now = now_in()
    good = event(now)
    stale = event("2020-06-01 02:55:18")
    cases = [
        ("GET", {}, None, 405, "Only POST is accepted."),
        ("POST", {**signed(good), "Content-Type": "text/plain"}, json.dumps(good), 415,
         "The body must be JSON (Content-Type: application/json)."),
        ("POST", signed(good), "{not json", 400, "The body is not JSON."),
        ("POST", signed(good), json.dumps({**good, "external_id": "a" * (MAX_BODY_BYTES + 1)}), 413,
         f"The body is larger than {MAX_BODY_BYTES} bytes."),
        ("POST", {**signed(good), SIGNATURE_HEADER: ""}, json.dumps(good), 401, "The X-Signature-Request header is missing."),
        ("POST", {**signed(good), SIGNATURE_HEADER: "0" * 64}, json.dumps(good), 401, "The signature does not match."),
        ("POST", signed(good, secret="another-secret"), json.dumps(good), 401, "The signature does not match."),
        ("POST", signed(good, url="http://elsewhere.test/hook"), json.dumps(good), 401, "The signature does not match."),
        ("POST", signed(event(now, inventory_system_id="other")), json.dumps(event(now, inventory_system_id="other")),
         403, "This inventory system is not the one configured for this POS."),
        ("POST", signed(event(now, store_id=13)), json.dumps(event(now, store_id=13)), 404,
         "Store 13 is not a store of this POS."),
        ("POST", signed(event(now, external_id="zz")), json.dumps(event(now, external_id="zz")), 404,
         "Item zz is not in the catalog of store 12."),
        ("POST", signed(stale), json.dumps(stale), 401, None),
    ]
    async with client_for(h.receiver()) as c:
        for method, headers, content, status, message in cases:
            answer = await c.request(method, "/webhooks/mipos", headers=headers, content=content)
            assert answer.status_code == status, (status, answer.text)
            if message is not None:
                assert answer.json() == {"message": message}
            assert h.observations() == [], (status, message)
        # None of those claimed the (store, now) signature: the real one still goes through.
        accepted = await c.post("/webhooks/mipos", headers=signed(good), content=json.dumps(good))
        assert accepted.status_code == 204 and accepted.content == b""
    [seen] = h.observations()
    assert (seen.key, seen.fields, seen.observed_at, seen.source) == ("a", {"stock": "7"}, f"{now} UTC", "webhook")


async def test_fields_are_checked_in_the_documents_per_field_style(tmp_path):
    h = MiPOSHarness(tmp_path)
    now = now_in()
    broken = {**event(now, movement_type=3, quantity="-1.25", date="30/05/2020 12:45", current_stock=12.44),
              "store_id": None}
    del broken["pos_id"]
    async with client_for(h.receiver()) as c:
        answer = await c.post("/webhooks/mipos", headers=JSON, content=json.dumps(broken))
        assert answer.status_code == 422
        assert answer.json()["errors"] == {
            "pos_id": ["The pos id field is required."],
            "current_stock": ["The current stock must be a string."],
            "quantity": ["The quantity must be at least 0."],
            "date": ["The date does not match the format Y-m-d H:i:s."],
            "movement_type": ["The selected movement type is invalid."],
            "store_id": ["The store id field is required."],
        }
        assert answer.json()["message"].startswith("The pos id field is required. The current stock must be a string.")
        as_text = await c.post("/webhooks/mipos", headers=JSON, content=json.dumps(event(now, movement_type="2")))
        assert as_text.json()["errors"] == {"movement_type": ["The selected movement type is invalid."]}
    assert h.observations() == []


async def test_a_large_body_is_refused_without_being_read(tmp_path):
    h = MiPOSHarness(tmp_path)
    pulled = []

    async def five_megabytes():
        for _ in range(5 * 1024):
            pulled.append(1)
            yield b" " * 1024

    async with client_for(h.receiver()) as c:
        # Announced: refused on the header, before a byte of the body is read.
        declared = await c.post("/webhooks/mipos", content=five_megabytes(),
                                headers={**JSON, "Content-Length": str(5 * 1024 * 1024)})
        assert declared.status_code == 413 and pulled == []
        # Not announced (chunked): reading stops just past the limit.
        streamed = await c.post("/webhooks/mipos", content=five_megabytes(), headers=JSON)
        assert streamed.status_code == 413
        assert streamed.json() == {"message": f"The body is larger than {MAX_BODY_BYTES} bytes."}
        assert len(pulled) == MAX_BODY_BYTES // 1024 + 1
    assert h.observations() == []


async def test_a_signature_is_accepted_once_across_receivers_and_restarts(tmp_path):
    h = MiPOSHarness(tmp_path)
    now = now_in()
    first, forged = event(now), event(now, current_stock="999", quantity="987", movement_type=1)
    async with client_for(h.receiver()) as c:
        assert (await c.post("/webhooks/mipos", headers=signed(first), content=json.dumps(first))).status_code == 204
    # Another receiver process (or this one restarted) shares the receipts through the state.
    async with client_for(h.receiver()) as c:
        replay = await c.post("/webhooks/mipos", headers=signed(first), content=json.dumps(forged))
    assert replay.status_code == 409 and replay.json() == {"message": "This webhook was already received."}
    [seen] = h.observations()
    assert seen.fields == {"stock": "7"}


async def test_now_is_read_in_the_configured_time_zone(tmp_path):
    h = MiPOSHarness(tmp_path, extra="timezone: Asia/Singapore")
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
    local, utc = local_time(moment, ZoneInfo("Asia/Singapore")), local_time(moment, ZoneInfo("UTC"))
    assert local == "2026-03-01 17:30:00"
    async with client_for(h.receiver(clock=moment.timestamp)) as c:
        # A UTC wall-clock time read as Singapore's is eight hours off: refused.
        off = await c.post("/webhooks/mipos", headers=signed(event(utc)), content=json.dumps(event(utc)))
        assert off.status_code == 401
        assert "is 28800 s away from this receiver's clock; at most 120 s are accepted" in off.json()["message"]
        assert h.observations() == []
        # pos_id is not checked: the reconciler is not told its POS id.
        ok = await c.post("/webhooks/mipos", headers=signed(event(local)), content=json.dumps(event(local, pos_id="77")))
        assert ok.status_code == 204
    [seen] = h.observations()
    assert seen.observed_at == f"{local} Asia/Singapore"


async def test_the_window_is_a_setting(tmp_path):
    h = MiPOSHarness(tmp_path, extra="webhook_window: 30")
    clock_now = datetime.now(timezone.utc).timestamp()
    forty_seconds_ago = local_time(datetime.fromtimestamp(clock_now - 40, timezone.utc), ZoneInfo("UTC"))
    body = event(forty_seconds_ago)
    async with client_for(h.receiver(clock=lambda: clock_now)) as c:
        late = await c.post("/webhooks/mipos", headers=signed(body), content=json.dumps(body))
    assert late.status_code == 401 and "at most 30 s are accepted" in late.json()["message"]
    assert h.observations() == []


async def test_the_documents_example_is_accepted_as_written(tmp_path):
    """The document's JSON example, byte for byte, with its number store_id and a
    signature over it, at the example's `now`."""
    example = json.loads(WEBHOOK_JSON)
    h = MiPOSHarness(tmp_path, store_id="1", item_ids=("avcc123", "b"),
                     account={"inventory_system_id": example["inventory_system_id"]})
    sent_at = datetime(2020, 6, 1, 2, 55, 18, tzinfo=timezone.utc).timestamp() + 3
    async with client_for(h.receiver(clock=lambda: sent_at)) as c:
        answer = await c.post("/webhooks/mipos", headers=signed(example), content=WEBHOOK_JSON.encode())
    assert answer.status_code == 204 and answer.content == b""
    [seen] = h.observations()
    assert (seen.key, seen.fields, seen.observed_at) == ("avcc123", {"stock": "12.44"}, "2020-06-01 02:55:18 UTC")
