"""The miPOS client against its emulator: tokens refreshed before expiry, errors verbatim."""

from __future__ import annotations

import json

import pytest

from reconciler.emulation import InProcessTransport
from reconciler.errors import BackendError
from reconciler.provider import RetrySettings
from reconciler_mipos.client import MiPOSClient
from reconciler_mipos.emulator import MiPOSEmulator

ACCOUNT = {"client_id": "c", "client_secret": "s", "email": "e@example.com", "password": "p",
           "user_id_tps": "30", "inventory_system_id": "isid", "pos_id": "1"}
WEBHOOK = "/api/v1/inventory/pos/webhook/manage"
SYNC = "/api/v1/inventory/pos/store/12/system/sync"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def client_for(emulator: MiPOSEmulator, clock: Clock) -> MiPOSClient:
    credentials = {k: ACCOUNT[k] for k in ("client_id", "client_secret", "email", "password")}
    return MiPOSClient("http://mipos.test", credentials, RetrySettings(attempts=2, backoff=0),
                       InProcessTransport(emulator.app), clock=clock)


def body(value) -> bytes:
    return json.dumps(value).encode()


async def test_the_token_is_refreshed_before_it_expires():
    clock = Clock()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), token_lifetime=3600, clock=clock)
    client = client_for(emulator, clock)
    hook = body({"type": "3", "url": "http://pos.test/hook"})
    await client.post(WEBHOOK, hook, repeatable=True)
    clock.now += 3000
    await client.post(WEBHOOK, hook, repeatable=True)
    assert client.tokens == 1
    clock.now += 560  # 40 s before `expires_in`: inside the margin, so a new token first
    await client.post(WEBHOOK, hook, repeatable=True)
    assert client.tokens == 2
    assert [r["status"] for r in emulator.requests if r["path"] == WEBHOOK] == [200, 200, 200]
    await client.close()


async def test_a_token_revoked_early_is_replaced_once():
    clock = Clock()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), clock=clock)
    client = client_for(emulator, clock)
    await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True)
    emulator.expire_tokens()
    await client.post(WEBHOOK, body({"type": 3, "url": "u2"}), repeatable=True)
    assert client.tokens == 2 and emulator.webhooks == {"3": "u2"}
    await client.close()


async def test_409_and_422_answers_are_shown_as_written():
    clock = Clock()
    client = client_for(MiPOSEmulator(account=dict(ACCOUNT), clock=clock), clock)
    with pytest.raises(BackendError) as refused:
        await client.post(WEBHOOK, body({"type": "4", "url": "u"}), repeatable=True)
    assert str(refused.value) == "HTTP 409: Invalid type."
    with pytest.raises(BackendError) as missing:
        await client.post(SYNC, body({"items": []}), repeatable=True)
    assert str(missing.value) == (
        "HTTP 422: inventory_system_id: The inventory system id field is required.; "
        "units: The units field is required.; suppliers: The suppliers field is required.; "
        "user_id_tps: The user id tps field is required.")
    with pytest.raises(BackendError) as rules:
        await client.post(SYNC, body({"items": [{"external_id": "x"}], "units": [], "suppliers": [],
                                      "user_id_tps": "30", "inventory_system_id": "isid"}), repeatable=True)
    assert str(rules.value) == ("HTTP 409: The item must have a name.; The item must have an purchase unit external id.; "
                                "The item must have an consumption unit external id.; "
                                "The item must have a supplier external id.; The item must have a cost.; "
                                "The item must have a stock.")
    await client.close()


async def test_wrong_credentials_are_a_clear_error():
    clock = Clock()
    client = MiPOSClient("http://mipos.test", {"client_id": "c", "client_secret": "bad", "email": "e", "password": "p"},
                         RetrySettings(attempts=1), InProcessTransport(MiPOSEmulator(account=dict(ACCOUNT)).app),
                         clock=clock)
    with pytest.raises(BackendError, match=r"token: token refused \(HTTP 401\): Invalid credentials."):
        await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True)
    await client.close()
