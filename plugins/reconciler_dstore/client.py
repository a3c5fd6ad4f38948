"""HTTP client for the Alipay+ D-Store gateway: signing, verification and retries.

Retries follow the document: `U` or no answer means "send the same request again" (same
requestId, same body bytes, a fresh Request-Time and signature); `F` is final. Rate
limits are `F` but safe to retry later, since the gateway did not process the request.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings

from . import signing

log = logging.getLogger("reconciler.dstore")

RATE_LIMITED = "REQUEST_TRAFFIC_EXCEED_LIMIT"


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
            if not exc.processed_maybe:
                raise BackendError(f"{exc} (gave up after {self._retry.attempts} attempts)", code=exc.code) from None
            raise OutcomeUnknown(
                f"{exc}; no final answer after {self._retry.attempts} attempts with requestId {request_id}",
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
        if response.status_code >= 500 or response.status_code == 429:
            log.warning("requestId %s attempt %d: HTTP %d", request_id, number, response.status_code)
            raise _TryAgain(f"HTTP {response.status_code} from D-Store", processed_maybe=response.status_code != 429)
        try:
            result = json.loads(response.content)["result"]
            status, code = result["resultStatus"], result.get("resultCode")
        except (ValueError, KeyError, TypeError):
            raise BackendError(f"unexpected answer (HTTP {response.status_code}) without a result object") from None
        if code != "INVALID_SIGNATURE":
            self._verify(path, response)
        message = result.get("resultMessage", "")
        log.info("requestId %s attempt %d: %s %s", request_id, number, status, code)
        if status == "S":
            return result
        if status == "U":
            raise _TryAgain(f"{code}: {message}", code=code)
        if code == RATE_LIMITED:
            raise _TryAgain(f"{code}: {message}", code=code, processed_maybe=False)
        raise BackendError(message or "request failed", code=code)

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
