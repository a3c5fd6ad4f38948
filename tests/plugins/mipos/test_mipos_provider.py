"""What the miPOS provider plans: the plan's clock in the backend's zone, what a first
contact risks, and what miPOS cannot be told (deleting items, unregistering a webhook)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from mipos_helpers import WEBHOOK_URL, MiPOSHarness
from project_runner import ProjectRunner
from reconciler.errors import BackendError
from reconciler.fingerprint import encode_body
from reconciler.plan import Action, Effect
from reconciler_mipos.mapping import local_time

NOON = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)


async def test_the_movement_date_is_the_plans_clock_in_the_configured_zone(tmp_path):
    h = MiPOSHarness(tmp_path, extra="timezone: Asia/Singapore")
    await h.converge()
    h.set_stock({"a": "10", "b": "30"})
    plan = await h.plan(created=NOON)
    [move] = plan.stores[0].actions
    assert move.body["date"] == "2026-03-01 20:00:05" == local_time(NOON, ZoneInfo("Asia/Singapore"))
    assert move.summary == "remove 2 of a (now 10), dated 2026-03-01 20:00:05 Asia/Singapore"


async def test_compiling_the_same_plan_twice_gives_the_same_bytes(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    h.set_stock({"a": "13.5", "b": "29"})
    first, second = [await h.plan(plan_id="p-1", created=NOON) for _ in range(2)]
    assert [encode_body(a.body) for a in first.stores[0].actions] == [encode_body(a.body) for a in second.stores[0].actions]
    assert [a.body["date"] for a in first.stores[0].actions] == ["2026-03-01 12:00:05"] * 2
    later = await h.plan(plan_id="p-1", created=NOON.replace(minute=1))
    assert [a.body["date"] for a in later.stores[0].actions] == ["2026-03-01 12:01:05"] * 2


async def test_only_the_sync_is_unknown_to_unseen_contents(tmp_path):
    h = MiPOSHarness(tmp_path)
    plan = await h.plan()
    [store] = plan.stores
    hook, sync = store.actions
    assert (hook.kind, hook.effect.unseen, sync.kind, sync.effect.unseen) == ("webhook/manage", "kept", "system/sync",
                                                                               "unknown")
    assert hook.body == {"type": "3", "url": WEBHOOK_URL}  # the document's two fields, type a string
    assert "whether action 1 (system/sync) keeps what it does not name is not documented" in store.unseen
    assert any(w.startswith("webhook/manage replaces the stock webhook (type 3) URL this miPOS account had")
               for w in store.warnings)
    await h.apply(plan)
    h.set_stock({"a": "13", "b": "30"})
    [move] = (await h.plan()).stores[0].actions
    assert (move.kind, move.effect.unseen, move.retry_safe) == ("stock/update", "kept", False)


async def test_a_removed_item_is_left_out_of_the_sync_with_a_warning(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    menu = (h.root / "menu.yaml").read_text()
    (h.root / "menu.yaml").write_text(menu.replace(menu[menu.index("      b: "):menu.index("units:")], ""))
    h.set_stock({"a": "12"})
    [store] = (await h.plan()).stores
    [sync] = store.actions
    assert [i["external_id"] for i in sync.body["items"]] == ["a"]
    assert ("the system/sync leaves out 1 item (b) removed from the catalog: miPOS has no call to delete an item, "
            "and whether a sync removes what it does not name is not documented") in store.warnings


async def test_a_store_that_left_the_catalog_sends_nothing(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    (h.root / "stores.yaml").write_text("stores: {}\n")
    plan = await h.plan()
    [store] = plan.stores
    assert store.actions == [] and not plan.has_changes
    assert ("nothing is sent for 2 items (a, b): miPOS refuses a system/sync without items (The items field is "
            "required.) and has no call to delete one, so miPOS keeps them") in store.warnings


async def test_removing_the_webhook_url_only_warns(tmp_path):
    h = MiPOSHarness(tmp_path)
    await h.converge()
    config = (h.root / "reconciler.yaml").read_text()
    (h.root / "reconciler.yaml").write_text(config.replace('    webhook_url: "http://pos.test/webhooks/mipos"\n', ""))
    [store] = (await h.plan()).stores
    assert store.actions == []
    assert ("webhook_url was removed; miPOS has no call to unregister a webhook, so it stays registered until another "
            "URL replaces it") in store.warnings


def test_an_unknown_time_zone_is_located_in_the_project_file(tmp_path):
    h = MiPOSHarness(tmp_path, extra="timezone: Mars/Olympus_Mons")
    result = ProjectRunner(h.root).run("validate")
    assert result.exit_code == 1
    assert "reconciler.yaml:" in result.output
    assert "unknown time zone 'Mars/Olympus_Mons': use an IANA name such as UTC or Asia/Singapore" in result.output


@pytest.mark.parametrize("kind, body, refusal", [
    ("system/sync", {"items": [], "user_id_tps": "30", "inventory_system_id": "i", "units": [], "suppliers": []},
     "items: The items field is required.; units: The units field is required.; "
     "suppliers: The suppliers field is required."),
    ("system/sync", {"items": [{"external_id": "a"}], "user_id_tps": "30", "inventory_system_id": "i",
                     "units": [{"name": "U", "short_name": "u", "external_id": "u"}],
                     "suppliers": [{"name": "S", "external_id": "s"}]}, "The item must have a name."),
    ("stock/update", {"user_id_tps": "30", "inventory_system_id": "i", "current_stock": "3", "quantity": "-1",
                      "date": "2020-05-30 12:45:03", "movement_type": 2, "external_id": "a"},
     "quantity: The quantity must be at least 0."),
])
async def test_a_body_miPOS_would_refuse_is_never_sent(tmp_path, kind, body, refusal):
    h = MiPOSHarness(tmp_path)
    provider = h.validated().providers["mipos"]
    action = Action(index=0, kind=kind, summary="", method="POST", path="/x", body=body, bytes=0,
                    idempotency_key="k", effect=Effect())
    with pytest.raises(BackendError) as refused:
        await provider.execute(None, action)
    await provider.close()
    assert str(refused.value).startswith(f"not sent; miPOS would refuse it: {refusal}")
    assert h.emulator.requests == []
