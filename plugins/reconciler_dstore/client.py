"""HTTP client for the Alipay+ D-Store gateway: signing, verification and retries.

Results are handled as the document's table says. `S`: done. `F`: failed; never retried
blindly: the error carries the result message and the table's further action. `U` or no
result (a timeout, a dropped connection, a 5xx, an answer without a `result` object or
whose signature does not verify): the same request again (same requestId, same body
bytes, a fresh Request-Time and signature), and after the last attempt the outcome is
unknown. `REQUEST_TRAFFIC_EXCEED_LIMIT` is `F` but the gateway did not process the
request, so it is retried with backoff; after the last attempt it is a failure.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings, scrub

from . import signing

log = logging.getLogger("reconciler.dstore")

RATE_LIMITED = "REQUEST_TRAFFIC_EXCEED_LIMIT"
SUPPORT = "overseas_support@service.alibaba.com"

# The document's "Further action" for each F result code, said for this tool's user.
FURTHER_ACTION = {
    "PROCESS_FAIL": f"not retried (the document: do not retry); contact {SUPPORT} to troubleshoot it, "
                    "quoting the requestId",
    "PARAM_ILLEGAL": "not retried; check the request parameters (headers and body) against the syncProduct "
                     "document: `reconciler validate` checks the catalog for what D-Store rejects, and if the "
                     "store was changed in D-Store Console, `reconciler apply --full` sends it whole again",
    "INVALID_API": "not retried; check the API name: the backend's `url` and `path` "
                   "(syncProduct is POST /v2/pos/syncProduct) and that the API is active for this client",
    "INVALID_SIGNATURE": "not retried; check that `client_id`, `private_key` and `key_version` match the "
                         "public key registered with Alipay+ and that the signature algorithm is RSA256",
    "ACCESS_DENIED": f"not retried; contact {SUPPORT} to troubleshoot access for this client and "
                     "posAccountId",
    RATE_LIMITED: "retried with backoff and still limited; reduce the calling frequency: lower `rate_limit` "
                  "or `concurrency` of this backend in reconciler.yaml, or apply fewer stores at once",
}
OTHER_FAILURE = "not retried; act on the result message (see Result codes in the syncProduct document)"
UNKNOWN_ACTION = f"the next plan sends a full sync; if the outcome stays unknown, contact {SUPPORT}"


class _TryAgain(Exception):
    """One attempt ended without a final answer."""

    def __init__(self, message: str, code: str | None = None, processed_maybe: bool = True):
        super().__init__(message)
        self.code = code
        self.processed_maybe = processed_maybe


class DStoreClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        private_key: Any,
        gateway_public_key: Any | None,
        retry: RetrySettings,
        transport: httpx.AsyncBaseTransport | None = None,
        key_version: str = "1",
    ):
        self._client_id = client_id
        self._private_key = private_key
        self._gateway_key = gateway_public_key
        self._retry = retry
        self._key_version = key_version
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=retry.timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, path: str, body: bytes, request_id: str) -> dict[str, Any]:
        """POST a signed body; return the `result` object of an S answer.

        Raises BackendError for F, OutcomeUnknown when retries ran out without an answer.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.backoff, max=self._retry.max_backoff),
            retry=retry_if_exception_type(_TryAgain),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    return await self._attempt(path, body, request_id, number)
        except _TryAgain as exc:
            attempts = f"{self._retry.attempts} attempt{'s' * (self._retry.attempts != 1)}"
            if not exc.processed_maybe:
                action = FURTHER_ACTION.get(exc.code or "", "retried with backoff and still refused")
                raise BackendError(f"{exc} (requestId {request_id}, {attempts}): {action}", code=exc.code) from None
            raise OutcomeUnknown(
                f"{exc}; no final answer after {attempts} with requestId {request_id} "
                f"(each with the same body); {UNKNOWN_ACTION}",
                code=exc.code,
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, path: str, body: bytes, request_id: str, number: int) -> dict[str, Any]:
        request_time = signing.request_time_now()
        content = signing.signed_content("POST", path, self._client_id, request_time, body)
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "Client-Id": self._client_id,
            "Request-Time": request_time,
            "Signature": signing.format_signature_header(signing.sign(self._private_key, content), self._key_version),
        }
        try:
            response = await self._http.post(path, content=body, headers=headers)
        except httpx.TimeoutException:
            log.warning("requestId %s attempt %d: timed out", request_id, number)
            raise _TryAgain("timed out waiting for D-Store") from None
        except httpx.TransportError as exc:
            log.warning("requestId %s attempt %d: %s", request_id, number, type(exc).__name__)
            raise _TryAgain(f"connection failed ({type(exc).__name__})") from None
        result = _result_of(response)
        if result is None:
            # "No result received": the request may or may not have been processed.
            log.warning("requestId %s attempt %d: HTTP %d without a result", request_id, number, response.status_code)
            raise _TryAgain(f"no result from D-Store (HTTP {response.status_code}{_excerpt(response)})",
                            processed_maybe=response.status_code != 429)
        status, code = result["resultStatus"], result.get("resultCode") or "(no resultCode)"
        if code != "INVALID_SIGNATURE":
            self._verify(path, response)
        message = result.get("resultMessage") or "(no resultMessage)"
        log.info("requestId %s attempt %d: %s %s", request_id, number, status, code)
        if status == "S":
            return result
        if status == "F" and code == RATE_LIMITED:
            raise _TryAgain(message, code=code, processed_maybe=False)
        if status == "F":
            action = FURTHER_ACTION.get(code, OTHER_FAILURE)
            raise BackendError(f"{message} (requestId {request_id}): {action}", code=code)
        # U, or a status the document does not list: the outcome is not known.
        raise _TryAgain(message, code=code)

    def _verify(self, path: str, response: httpx.Response) -> None:
        if self._gateway_key is None:
            return
        header = response.headers.get("Signature")
        client_id = response.headers.get("Client-Id", "")
        response_time = response.headers.get("Response-Time", "")
        value = signing.parse_signature_header(header).get("signature") if header else None
        content = signing.signed_content("POST", path, client_id, response_time, response.content)
        if not value or not signing.verify(self._gateway_key, content, value):
            # An unverifiable answer proves nothing either way; the request is idempotent,
            # so asking again is the safe reaction.
            raise _TryAgain("response signature missing or invalid")


def _result_of(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's `result` object, or None when there is none to act on."""
    try:
        result = json.loads(response.content)["result"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(result, dict) or not isinstance(result.get("resultStatus"), str):
        return None
    return result


def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The start of an answer's body, for the message: a proxy's error page says why.
    Secrets in it (a server echoing the request) are masked before it is cut short: a
    cut through a secret would leave a part the redactor no longer recognises."""
    text = " ".join(scrub(response.content[:65536].decode("utf-8", "replace")).split())
    if len(text) > limit:
        text = text[:limit] + "..."
    return f": {text}" if text else ""
