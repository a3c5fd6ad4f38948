"""The miPOS client against its emulator: tokens refreshed before expiry and masked in
every output, errors verbatim."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from mipos_helpers import ACCOUNT, CREDENTIALS
from reconciler.emulation import Fault, InProcessTransport
from reconciler.errors import BackendError, OutcomeUnknown
from reconciler.provider import RetrySettings
from reconciler.redaction import scrub
from reconciler_mipos.client import MiPOSClient
from reconciler_mipos.emulator import MiPOSEmulator

WEBHOOK = "/api/v1/inventory/pos/webhook/manage"
SYNC = "/api/v1/inventory/pos/store/12/system/sync"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def client_for(emulator: MiPOSEmulator, clock: Clock) -> MiPOSClient:
    return MiPOSClient("http://mipos.test", CREDENTIALS, RetrySettings(attempts=2, backoff=0),
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
    emulator = MiPOSEmulator(account=dict(ACCOUNT), clock=clock)
    emulator.seed_store("12")
    client = client_for(emulator, clock)
    with pytest.raises(BackendError) as refused:
        await client.post(WEBHOOK, body({"type": "4", "url": "u"}), repeatable=True)
    assert str(refused.value) == ("HTTP 409: Invalid type. (what to do: only the stock webhook (type 3) can be "
                                  "registered)")
    with pytest.raises(BackendError) as missing:
        await client.post(SYNC, body({"items": []}), repeatable=True)
    assert str(missing.value) == (
        "HTTP 422: items: The items field is required.; "
        "inventory_system_id: The inventory system id field is required.; "
        "units: The units field is required.; suppliers: The suppliers field is required.; "
        "user_id_tps: The user id tps field is required.")
    unit = {"name": "U", "short_name": "u", "external_id": "u"}
    with pytest.raises(BackendError) as rules:
        await client.post(SYNC, body({"items": [{"external_id": "x"}], "units": [unit], "suppliers": [{"name": "S"}],
                                      "user_id_tps": "30", "inventory_system_id": ACCOUNT["inventory_system_id"]}),
                          repeatable=True)
    assert str(rules.value) == ("HTTP 409: The supplier must have an external id.; The item must have a name.; "
                                "The item must have an purchase unit external id.; "
                                "The item must have an consumption unit external id.; "
                                "The item must have a supplier external id.; The item must have a cost.; "
                                "The item must have a stock.")
    await client.close()


async def test_wrong_credentials_are_a_clear_error():
    clock = Clock()
    client = MiPOSClient("http://mipos.test", {"client_id": "c", "client_secret": "bad", "email": "e", "password": "p"},
                         RetrySettings(attempts=1), InProcessTransport(MiPOSEmulator(account=dict(ACCOUNT)).app),
                         clock=clock)
    with pytest.raises(BackendError, match=r"token: token refused: HTTP 401: Invalid credentials.; check client_id, "
                                           r"client_secret, email and password of this backend"):
        await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True)
    await client.close()


async def test_the_bearer_token_is_masked_in_every_output(caplog):
    """The token is registered the moment it arrives: an answer, a log line or an error
    that quotes it shows *** instead."""
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), clock=clock)
    client = client_for(emulator, clock)
    await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True)
    [token] = [r["response"]["data"]["token"] for r in emulator.requests if r["path"] == "/api/oauth/token"]
    assert scrub(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"
    assert scrub(f"echo {token} and {json.dumps(token)}") == 'echo *** and "***"'
    logging.getLogger("reconciler.mipos").info("the server said %s", token)
    assert token not in caplog.text and "the server said ***" in caplog.text
    await client.close()


async def test_a_5xx_answer_is_quoted_and_retried_and_a_movement_is_not():
    clock = Clock()
    emulator = MiPOSEmulator(account=dict(ACCOUNT), clock=clock)
    client = client_for(emulator, clock)
    emulator.faults.add(Fault("http_error", path=WEBHOOK, status=500))
    assert (await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True))["message"] == \
        "Webhook successfully created."
    emulator.faults.add(Fault("http_error", path=WEBHOOK, status=502, times=2))
    with pytest.raises(OutcomeUnknown, match=r"miPOS answered HTTP 502: injected fault: HTTP 502; no final answer "
                                             r"after 2 attempts"):
        await client.post(WEBHOOK, body({"type": "3", "url": "u"}), repeatable=True)
    emulator.faults.add(Fault("http_error", path=SYNC, status=500))
    with pytest.raises(OutcomeUnknown, match="not re-sent: a stock movement is not idempotent"):
        await client.post(SYNC, body({}), repeatable=False)
    assert len([r for r in emulator.requests if r["path"] == SYNC]) == 1
    await client.close()


async def test_an_answer_that_is_not_json_is_quoted_as_text():
    async def proxy(scope, receive, send):
        await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<h1>Bad Request</h1>"})

    client = MiPOSClient("http://mipos.test", {}, RetrySettings(attempts=1), httpx.ASGITransport(app=proxy))
    with pytest.raises(BackendError, match=r"token refused: HTTP 400: <h1>Bad Request</h1>"):
        await client.post(WEBHOOK, body({}), repeatable=True)
    await client.close()
