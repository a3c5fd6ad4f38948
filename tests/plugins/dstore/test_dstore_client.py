"""The client handles every result of the document's table as the table says.

S: done. F: one attempt, never retried blindly; the error carries the code, D-Store's
message and the further action. U or no result: the same requestId and the same body
bytes again, then "unknown". REQUEST_TRAFFIC_EXCEED_LIMIT: retried with backoff (the
gateway did not process it), then a failure. Driven against the emulator in-process;
the codes a well-behaved client cannot provoke come from a `result` fault.
"""

from __future__ import annotations

import json

import pytest

from document_examples import DOCUMENT_EXAMPLES
from dstore_helpers import CLIENT_ID, request_body, sync_body
from reconciler.emulation import Fault, InProcessTransport
from reconciler.errors import BackendError, OutcomeUnknown
from reconciler.provider import RetrySettings
from reconciler.redaction import register_secret
from reconciler_dstore import signing
from reconciler_dstore.client import DStoreClient
from reconciler_dstore.emulator import SYNC_PRODUCT_PATH

ATTEMPTS = 3
BODY = json.dumps(sync_body(DOCUMENT_EXAMPLES["basic"], "req-1"), separators=(",", ":")).encode()


@pytest.fixture
async def client(emulator, client_key):
    gateway_key = signing.load_public_key(emulator.gateway_public_key_pem)
    client = DStoreClient("http://dstore.test", CLIENT_ID, client_key, gateway_key,
                          RetrySettings(attempts=ATTEMPTS, backoff=0, max_backoff=0, timeout=0.3),
                          InProcessTransport(emulator.app))
    yield client
    await client.close()


def fault(kind: str, **options) -> Fault:
    return Fault(kind=kind, path=SYNC_PRODUCT_PATH, **options)


async def test_success_is_done_after_one_request(emulator, client):
    result = await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert (result["resultStatus"], result["resultCode"]) == ("S", "SUCCESS")
    assert len(emulator.requests) == 1


@pytest.mark.parametrize(("code", "message", "what_to_do"), [
    ("PROCESS_FAIL", "A general business failure occurred. Do not retry.",
     "contact overseas_support@service.alibaba.com to troubleshoot it, quoting the requestId"),
    ("PARAM_ILLEGAL", "Parameter names or values do not meet the specified requirements.",
     "check the request parameters (headers and body) against the syncProduct document"),
    ("INVALID_API", "The called API is invalid or not active.",
     "check the API name: the backend's `url` and `path`"),
    ("ACCESS_DENIED", "Access is denied",
     "contact overseas_support@service.alibaba.com to troubleshoot access for this client"),
    ("RISK_REJECT", "RISK_REJECT (a failure the document does not list)",
     "act on the result message (see Result codes in the syncProduct document)"),
])
async def test_an_f_result_is_not_retried_and_says_what_to_do(emulator, client, code, message, what_to_do):
    emulator.faults.add(fault("result", code=code, times=ATTEMPTS))
    with pytest.raises(BackendError) as failure:
        await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert not isinstance(failure.value, OutcomeUnknown) and failure.value.code == code
    text = str(failure.value)
    assert text.startswith(f"{code}: {message} (requestId req-1): not retried")
    assert what_to_do in text
    assert len(emulator.requests) == 1


async def test_invalid_signature_comes_unsigned_and_is_reported_not_retried(emulator, client_key):
    """A key D-Store does not know: the answer carries no signature, which must not be
    taken for a forged answer (and retried) when the gateway key is configured."""
    other_pem, _ = signing.generate_key_pair()
    client = DStoreClient("http://dstore.test", CLIENT_ID, signing.load_private_key(other_pem),
                          signing.load_public_key(emulator.gateway_public_key_pem),
                          RetrySettings(attempts=ATTEMPTS, backoff=0, max_backoff=0, timeout=0.3),
                          InProcessTransport(emulator.app))
    try:
        with pytest.raises(BackendError) as failure:
            await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    finally:
        await client.close()
    assert failure.value.code == "INVALID_SIGNATURE"
    assert "Signature is invalid: the signature does not match the request" in str(failure.value)
    assert "check that `client_id`, `private_key` and `key_version` match the public key registered" in str(failure.value)
    assert len(emulator.requests) == 1


async def test_a_wrong_api_path_is_invalid_api_and_not_retried(emulator, client):
    """The document's second curl sample names /v2/pds/store/syncProduct."""
    with pytest.raises(BackendError) as failure:
        await client.call("/v2/pds/store/syncProduct", BODY, "req-1")
    assert failure.value.code == "INVALID_API"
    assert "(syncProduct is POST /v2/pos/syncProduct)" in str(failure.value)
    assert [r["path"] for r in emulator.requests] == ["/v2/pds/store/syncProduct"]


async def test_rate_limit_is_retried_until_it_clears(emulator, client):
    emulator.faults.add(fault("rate_limit", times=ATTEMPTS - 1))
    result = await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert result["resultCode"] == "SUCCESS"
    assert [r["result"]["resultCode"] for r in emulator.requests] == [
        "REQUEST_TRAFFIC_EXCEED_LIMIT", "REQUEST_TRAFFIC_EXCEED_LIMIT", "SUCCESS"]


async def test_rate_limit_that_does_not_clear_is_a_failure_not_an_unknown(emulator, client):
    emulator.faults.add(fault("rate_limit", times=ATTEMPTS))
    with pytest.raises(BackendError) as failure:
        await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert not isinstance(failure.value, OutcomeUnknown)  # not processed: nothing to be unsure of
    assert failure.value.code == "REQUEST_TRAFFIC_EXCEED_LIMIT"
    assert f"(requestId req-1, {ATTEMPTS} attempts)" in str(failure.value)
    assert "reduce the calling frequency: lower `rate_limit` or `concurrency`" in str(failure.value)
    assert len(emulator.requests) == ATTEMPTS


def assert_same_request_each_time(emulator, count: int) -> None:
    sent = emulator.requests
    assert len(sent) == count
    assert {r["requestId"] for r in sent} == {"req-1"}
    assert {r["body_sha256"] for r in sent} == {sent[0]["body_sha256"]}  # the same bytes


async def test_unknown_is_retried_with_the_same_request_id_and_body(emulator, client):
    emulator.faults.add(fault("unknown", times=ATTEMPTS - 1))
    assert (await client.call(SYNC_PRODUCT_PATH, BODY, "req-1"))["resultCode"] == "SUCCESS"
    assert_same_request_each_time(emulator, ATTEMPTS)
    assert len(emulator.products("bk001", "s1")) == 1


async def test_unknown_that_persists_is_an_unknown_outcome_that_names_support(emulator, client):
    emulator.faults.add(fault("unknown", times=ATTEMPTS))
    with pytest.raises(OutcomeUnknown) as unknown:
        await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert str(unknown.value) == (
        "UNKNOWN_EXCEPTION: An API calling is failed, which is caused by unknown reasons.; no final answer after "
        f"{ATTEMPTS} attempts with requestId req-1 (each with the same body); the next plan sends a full sync; "
        "if the outcome stays unknown, contact overseas_support@service.alibaba.com")
    assert_same_request_each_time(emulator, ATTEMPTS)


@pytest.mark.parametrize("no_result", [
    pytest.param(fault("http_error", status=502, times=ATTEMPTS), id="5xx"),
    pytest.param(fault("drop", times=ATTEMPTS), id="dropped-connection"),
    pytest.param(fault("timeout", seconds=5, times=ATTEMPTS), id="timeout"),
])
async def test_no_result_is_retried_like_unknown(emulator, client, no_result):
    emulator.faults.add(no_result)
    with pytest.raises(OutcomeUnknown):
        await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    assert_same_request_each_time(emulator, ATTEMPTS)


async def test_an_answer_without_a_result_object_is_no_result():
    """A 200 whose body has no `result` (a proxy's page, a truncated answer) says nothing
    about whether D-Store processed the request: retried, then unknown, never "failed"."""
    seen = []

    async def proxy(scope, receive, send):
        seen.append(await request_body(receive))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>upstream busy</html>"})

    private_pem, _ = signing.generate_key_pair()
    client = DStoreClient("http://dstore.test", CLIENT_ID, signing.load_private_key(private_pem), None,
                          RetrySettings(attempts=ATTEMPTS, backoff=0, max_backoff=0, timeout=0.3),
                          InProcessTransport(proxy))
    try:
        with pytest.raises(OutcomeUnknown) as unknown:
            await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    finally:
        await client.close()
    assert str(unknown.value).startswith("no result from D-Store (HTTP 200: <html>upstream busy</html>)")
    assert seen == [BODY] * ATTEMPTS


async def test_a_secret_echoed_where_the_answer_is_cut_short_is_masked_whole():
    """The message quotes the start of a 5xx page; a secret the server echoes across the
    cut must not leave its first half in the message."""
    secret = "Zq+8/k=&%p-dstore-excerpt-secret-0123456789"
    register_secret(secret)

    async def echo(scope, receive, send):
        await request_body(receive)
        await send({"type": "http.response.start", "status": 502, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": ("x" * 180 + " key=" + secret + " tail").encode()})

    private_pem, _ = signing.generate_key_pair()
    client = DStoreClient("http://dstore.test", CLIENT_ID, signing.load_private_key(private_pem), None,
                          RetrySettings(attempts=1, backoff=0, max_backoff=0, timeout=1), InProcessTransport(echo))
    try:
        with pytest.raises(OutcomeUnknown) as unknown:
            await client.call(SYNC_PRODUCT_PATH, BODY, "req-1")
    finally:
        await client.close()
    text = str(unknown.value)
    assert "key=*** tail" in text and "Zq+8" not in text and "Zq%2B8" not in text
