"""Every message the document lists: the emulator produces it for the case the document
names, and the client shows it as written, with what to do where a user can act."""

from __future__ import annotations

import json
import re

import pytest

from mipos_helpers import (
    ACCOUNT, CREDENTIALS, ITEM, MOVE_REQUEST, STOCK_409, SUPPLIER, SYNC_409, SYNC_REQUEST, UNIT, WEBHOOK_409,
)
from reconciler.emulation import InProcessTransport
from reconciler.errors import BackendError
from reconciler.provider import RetrySettings
from reconciler_mipos.client import MiPOSClient
from reconciler_mipos.emulator import MiPOSEmulator
from reconciler_mipos.mapping import WEBHOOK_PATH, stock_path, sync_path


def item(**changes) -> dict:
    return {**SYNC_REQUEST, "items": [{k: v for k, v in {**ITEM, **changes}.items() if v is not None}]}


def without(key: str, record: dict) -> dict:
    return {k: v for k, v in record.items() if k != key}


# message -> (path, body, emulator set-up, what the client adds about what to do)
SCENARIOS = {
    "You don't have this store available.":
        (sync_path("99"), SYNC_REQUEST, None, "check store_id in this store's miPOS binding"),
    "The third_party_id does not have an Inventory System role or does not exist.":
        (sync_path("12"), {**SYNC_REQUEST, "user_id_tps": "31"}, None, "check user_id_tps and inventory_system_id"),
    "No integration record was found between this user store and the third party system.":
        (sync_path("12"), SYNC_REQUEST, {"integrated": False}, "connect this store to the inventory system in miPOS"),
    "External id not found for this store in the inventory system.":
        (sync_path("12"), SYNC_REQUEST, {"linked": False}, "link the store in the inventory system"),
    "The item must have a name.": (sync_path("12"), item(name=""), None, None),
    "The item must have an external id.": (sync_path("12"), item(external_id=None), None, None),
    "The item must have an purchase unit external id.": (sync_path("12"), item(purchase_unit_external_id=None), None, None),
    "The item must have an consumption unit external id.":
        (sync_path("12"), item(consumption_unit_external_id=None), None, None),
    "The item must have a supplier external id.": (sync_path("12"), item(supplier_external_id=None), None, None),
    "The item must have a cost.": (sync_path("12"), item(cost=None), None, None),
    "The item must have a stock.": (sync_path("12"), item(stock=""), None, None),
    "The unit must have a name.": (sync_path("12"), {**SYNC_REQUEST, "units": [UNIT, {**UNIT, "name": "", "external_id": "v"}]},
                                   None, None),
    "The unit must have a short name.": (sync_path("12"), {**SYNC_REQUEST, "units": [UNIT, without("short_name", {**UNIT, "external_id": "v"})]},
                                         None, None),
    "The unit must have an external id.": (sync_path("12"), {**SYNC_REQUEST, "units": [UNIT, without("external_id", UNIT)]},
                                           None, None),
    "The supplier must have a name.": (sync_path("12"), {**SYNC_REQUEST, "suppliers": [SUPPLIER, {"external_id": "t"}]},
                                       None, None),
    "The supplier must have an external id.": (sync_path("12"), {**SYNC_REQUEST, "suppliers": [SUPPLIER, {"name": "T"}]},
                                               None, None),
    "Item purchase unit external id (kg) not found in units array":
        (sync_path("12"), item(purchase_unit_external_id="kg"), None, None),
    "The item purchase unit external id must be a string.": (sync_path("12"), item(purchase_unit_external_id=1), None, None),
    "The item consumption unit external id must be a string.":
        (sync_path("12"), item(consumption_unit_external_id=1), None, None),
    "Item supplier external id (mill) not found in suppliers array":
        (sync_path("12"), item(supplier_external_id="mill"), None, None),
    "The item cost must be a string.": (sync_path("12"), item(cost=1250), None, None),
    "The item stock must be a string.": (sync_path("12"), item(stock=11.22), None, None),
    # system/stock/update
    "This user_id_tps does not own this inventory system.":
        (stock_path("12"), {**MOVE_REQUEST, "inventory_system_id": "other"}, None, "the user must own that inventory system"),
    "No integration record was found between this user store and the third party system. (stock)":
        (stock_path("12"), MOVE_REQUEST, {"integrated": False}, "connect this store to the inventory system in miPOS"),
    "External id not found for this store in the inventory system. (stock)":
        (stock_path("12"), {**MOVE_REQUEST, "external_id": "zz"}, None, "for an item, `reconciler apply --full`"),
    "This type of webhook is not available.":
        (stock_path("12"), MOVE_REQUEST, {"stock_relay": "type_unavailable"}, "miPOS takes no stock movements now"),
    "This inventory system does not have this type of webhook available.":
        (stock_path("12"), MOVE_REQUEST, {"stock_relay": "not_registered"}, "the inventory system takes no stock movements"),
    # webhook/manage
    "Invalid type.": (WEBHOOK_PATH, {"type": "4", "url": "http://pos.test/hook"}, None,
                      "only the stock webhook (type 3) can be registered"),
}


def documented(example: str) -> set[str]:
    # The webhook/manage example is not JSON (a trailing comma); its messages are read as written.
    return set(json.loads(re.sub(r",\s*]", "]", example))["message"])


def shape(message: str) -> str:
    """A message with its id placeholder as the document writes it: `(____)`."""
    return re.sub(r"\((kg|mill)\)", "(____)", message.removesuffix(" (stock)"))


def test_the_scenarios_cover_every_documented_message():
    assert {shape(m) for m in SCENARIOS} == documented(SYNC_409) | documented(STOCK_409) | documented(WEBHOOK_409)


@pytest.mark.parametrize("message", sorted(SCENARIOS))
async def test_each_documented_message_is_produced_and_shown(message):
    path, body, setup, what_to_do = SCENARIOS[message]
    emulator = MiPOSEmulator(account=dict(ACCOUNT))
    store = {k: v for k, v in (setup or {}).items() if k in ("integrated", "linked")}
    emulator.seed_store("12", items=[ITEM], units=[UNIT], suppliers=[SUPPLIER], **store)
    emulator.configure(**{k: v for k, v in (setup or {}).items() if k not in store})
    before = emulator.store("12")
    client = MiPOSClient("http://mipos.test", CREDENTIALS, RetrySettings(attempts=1), InProcessTransport(emulator.app))
    with pytest.raises(BackendError) as refused:
        await client.post(path, json.dumps(body).encode(), repeatable=True)
    await client.close()
    written = message.removesuffix(" (stock)")
    [answer] = [r for r in emulator.requests if r["path"] == path]
    assert answer["status"] == 409 and answer["response"] == {"message": [written], "data": None}
    assert emulator.store("12") == before  # a refused request changes nothing
    text = str(refused.value)
    assert text.startswith(f"HTTP 409: {written}")
    if what_to_do:
        assert "(what to do: " in text and what_to_do in text
    else:
        assert "what to do" not in text
