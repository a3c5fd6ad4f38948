"""Stock changed inside miPOS reaches the receiver as a signed webhook, shows in the next
plan as observed in miPOS (unverified content), and apply restores it with absolute
levels (or leaves it, when miPOS owns stock)."""

from __future__ import annotations

import time

import httpx

from loopback import serve
from mipos_helpers import MiPOSHarness


async def test_a_stock_change_in_mipos_is_observed_and_restored(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    h.deliver_in_process()
    delivery = await h.emulator.set_stock("12", "a", "7")
    assert delivery["delivered"] and delivery["statuses"] == [204]
    [seen] = h.observations()
    assert (seen.key, seen.fields, seen.source) == ("a", {"stock": "7"}, "webhook")
    assert seen.observed_at.endswith(" UTC")

    plan = await h.plan()
    [store] = plan.stores
    assert store.observed_source == "state+webhooks"
    assert any(w.startswith("observed in mipos (webhook of ") and " UTC, unverified content): " in w
               and w.endswith("a stock 12 -> 7") for w in store.warnings), store.warnings
    # The reported level is unverified: no movement is computed from it. The sync sends
    # the catalog's absolute levels, whatever the webhook said.
    assert store.path == "full" and "a webhook reported stock (unverified content)" in store.reason
    [sync] = store.actions
    assert sync.kind == "system/sync"
    assert {i["external_id"]: i["stock"] for i in sync.body["items"]} == {"a": "12", "b": "30"}

    await h.apply(plan)
    assert h.emulator.items("12")["a"]["stock"] == "12"
    assert h.observations() == []  # superseded by the sync
    assert not (await h.plan()).has_changes


async def test_owned_stock_is_reported_and_left_alone(tmp_path):
    h = MiPOSHarness(tmp_path, backend_owns_stock=True)
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
        assert [o.fields for o in h.observations()] == [{"stock": "28"}]
        plan = asyncio.run(h.plan())
        [sync] = plan.stores[0].actions
        assert sync.kind == "system/sync" and sync.body["items"][1]["stock"] == "30"
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


async def test_a_second_change_in_the_same_second_arrives_with_the_retry(tmp_path):
    """The signature covers (store, now) only, so two changes of one store sent in the same
    second carry the same signature: the second is refused as a replay (409) and arrives
    with miPOS's retry, a second later, under a new `now`."""
    h = MiPOSHarness(tmp_path)
    await h.converge()
    clock = {"now": float(int(time.time()))}
    h.emulator.clock = lambda: clock["now"]
    receiver = h.receiver(clock=lambda: clock["now"])

    async def retry_a_second_later(scope, receive, send):
        statuses = []

        async def spy(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        await receiver(scope, receive, spy)
        if statuses == [409]:
            clock["now"] += 1

    h.emulator.outgoing = httpx.ASGITransport(app=retry_a_second_later)
    assert (await h.emulator.set_stock("12", "a", "7"))["statuses"] == [204]
    assert (await h.emulator.set_stock("12", "b", "25"))["statuses"] == [409, 204]
    assert {o.key: o.fields["stock"] for o in h.observations()} == {"a": "7", "b": "25"}
