"""Stock changed inside miPOS reaches the receiver as a signed webhook, shows in the next
plan as observed in miPOS, and apply restores it (or leaves it, when miPOS owns stock)."""

from __future__ import annotations

import json

import httpx

from loopback import serve
from mipos_helpers import ACCOUNT, MiPOSHarness
from reconciler_mipos.webhooks import SIGNATURE_HEADER, now_text, signature


async def test_a_stock_change_in_mipos_is_observed_and_restored(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    h.deliver_in_process()
    delivery = await h.emulator.set_stock("12", "a", "7")
    assert delivery["delivered"] and delivery["statuses"] == [204]
    state = h.state()
    [seen] = state.observations("mipos", "st")
    state.close()
    assert (seen.key, seen.fields, seen.source) == ("a", {"stock": "7"}, "webhook")

    plan = await h.plan()
    [store] = plan.stores
    assert store.observed_source == "state+webhooks"
    assert any(w.startswith("observed in mipos (webhook of ") and w.endswith("a stock 12 -> 7")
               for w in store.warnings), store.warnings
    assert store.path == "light"
    [move] = store.actions
    assert move.kind == "stock/update" and not move.retry_safe
    assert {k: move.body[k] for k in ("movement_type", "quantity", "current_stock", "external_id")} == {
        "movement_type": 1, "quantity": "5", "current_stock": "12", "external_id": "a"}

    await h.apply(plan)
    assert h.emulator.items("12")["a"]["stock"] == "12"
    state = h.state()
    assert state.observations("mipos", "st") == []  # superseded by the movement
    state.close()
    assert not (await h.plan()).has_changes


async def test_owned_stock_is_reported_and_left_alone(tmp_path):
    h = MiPOSHarness(tmp_path, owned=True)
    await h.converge()
    h.deliver_in_process()
    await h.emulator.set_stock("12", "b", "25")
    plan = await h.plan()
    [store] = plan.stores
    assert not store.has_changes
    [note] = store.warnings
    assert note.endswith("b stock 30 -> 25 (owned by the backend: left alone)") and "unverified content" in note
    # A change git does own takes the full path: the sync carries the last applied stock,
    # never a webhook's unverified value, so safety stops it from overwriting what miPOS
    # reported until a person has looked.
    (h.root / "menu.yaml").write_text((h.root / "menu.yaml").read_text().replace("name: Eggs", "name: Brown eggs"))
    plan = await h.plan()
    [sync] = plan.stores[0].actions
    assert sync.kind == "system/sync"
    assert {i["external_id"]: i["stock"] for i in sync.body["items"]} == {"a": "12", "b": "30"}
    [violation] = plan.stores[0].safety.violations
    assert "the full sync sends the last applied stock of 1 resource (b) that the backend reported otherwise" in violation
    assert plan.safety_violations()


async def test_bad_and_replayed_signatures_are_refused_and_recorded_nowhere(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    now = now_text()
    body = {"pos_id": "1", "inventory_system_id": ACCOUNT["inventory_system_id"], "current_stock": "3",
            "quantity": "9", "date": now, "movement_type": 2, "external_id": "a", "now": now, "store_id": "12"}
    good = signature(ACCOUNT["client_secret"], "http://pos.test/webhooks/mipos", body["inventory_system_id"], "12", now)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=h.receiver()), base_url="http://pos.test") as c:
        bad = await c.post("/webhooks/mipos", json=body, headers={SIGNATURE_HEADER: "0" * 64})
        assert bad.status_code == 401 and bad.json() == {"message": "The signature does not match."}
        old = {**body, "now": "2020-06-01 02:55:18"}
        stale_sign = signature(ACCOUNT["client_secret"], "http://pos.test/webhooks/mipos", body["inventory_system_id"],
                               "12", old["now"])
        stale = await c.post("/webhooks/mipos", json=old, headers={SIGNATURE_HEADER: stale_sign})
        assert stale.status_code == 401 and "away from this receiver's clock" in stale.json()["message"]
        state = h.state()
        assert state.observations("mipos", "st") == []
        first = await c.post("/webhooks/mipos", content=json.dumps(body), headers={SIGNATURE_HEADER: good})
        assert first.status_code == 204 and first.content == b""
        state.clear_observations("mipos", "st", None)
        replay = await c.post("/webhooks/mipos", content=json.dumps(body), headers={SIGNATURE_HEADER: good})
        assert replay.status_code == 409 and replay.json() == {"message": "This webhook was already received."}
        assert state.observations("mipos", "st") == []
        state.close()


def test_the_emulator_posts_the_webhook_over_http_to_a_served_receiver(tmp_path):
    import asyncio

    holder = {}

    async def late_bound(scope, receive, send):
        # The receiver signs with its own URL, known only once the port is.
        await holder["app"](scope, receive, send)

    with serve(late_bound) as base:
        h = MiPOSHarness(tmp_path, webhook_url=f"{base}/webhooks/mipos")
        holder["app"] = h.receiver()
        asyncio.run(h.converge())
        assert h.emulator.webhooks == {"3": f"{base}/webhooks/mipos"}
        delivery = asyncio.run(h.emulator.set_stock("12", "b", "28"))
        assert delivery["delivered"] and delivery["statuses"] == [204]
        plan = asyncio.run(h.plan())
        [move] = plan.stores[0].actions
        assert (move.body["movement_type"], move.body["quantity"], move.body["current_stock"]) == (1, "2", "30")
        asyncio.run(h.apply(plan))
        assert not asyncio.run(h.plan()).has_changes


async def test_delivery_is_retried_until_the_receiver_answers(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    receiver, calls = h.receiver(), []

    async def flaky(scope, receive, send):
        calls.append(scope["path"])
        if len(calls) == 1:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receiver(scope, receive, send)

    h.emulator.outgoing = httpx.ASGITransport(app=flaky)
    delivery = await h.emulator.set_stock("12", "a", "4")
    assert delivery["statuses"] == [503, 204] and delivery["delivered"]
    assert "a stock 12 -> 4" in " ".join((await h.plan()).stores[0].warnings)
