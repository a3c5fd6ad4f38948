"""HTTP client for miPOS: OAuth token kept fresh, Bearer auth, bounded retries.

`system/sync` and `webhook/manage` send the whole desired state, so re-sending them is
harmless and transient failures are retried. `system/stock/update` is a movement:
re-sending it moves the stock twice. It is retried only when the request surely never
reached miPOS (connection refused, 429); once it may have been sent, a failure is an
unknown outcome and the engine decides (the next plan takes the full path).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings, register_secret

from .mapping import TOKEN_PATH
from .rules import (
    INVALID_TYPE, NO_EXTERNAL_ID, NO_INTEGRATION, NO_STORE, NOT_INVENTORY_SYSTEM, NOT_OWNER, NOT_REGISTERED,
    STOCK_MISMATCH, TYPE_UNAVAILABLE,
)

log = logging.getLogger("reconciler.mipos")

REFRESH_MARGIN = 60.0  # seconds before `expires_in` when a new token is fetched
FULL = "`reconciler apply --full` sends absolute levels in one system/sync"
# What to do about the messages a user can act on, by how each begins.
WHAT_TO_DO = {
    NO_STORE: "check store_id in this store's miPOS binding: the miPOS account of client_id has no store with that id",
    NOT_INVENTORY_SYSTEM: "check user_id_tps and inventory_system_id in reconciler.yaml",
    NOT_OWNER: "check user_id_tps and inventory_system_id in reconciler.yaml: the user must own that inventory system",
    NO_INTEGRATION: "connect this store to the inventory system in miPOS first, then apply again",
    NO_EXTERNAL_ID: f"the inventory system does not know this store or item: link the store in the inventory system; "
                    f"for an item, {FULL}",
    TYPE_UNAVAILABLE: f"miPOS takes no stock movements now; {FULL}",
    NOT_REGISTERED: f"the inventory system takes no stock movements; {FULL}",
    INVALID_TYPE: "only the stock webhook (type 3) can be registered",
    STOCK_MISMATCH.split("(")[0]: f"miPOS holds another level than the reconciler last applied; {FULL}",
}


class _TryAgain(Exception):
    def __init__(self, message: str, sent_maybe: bool = True):
        super().__init__(message)
        self.sent_maybe = sent_maybe


def error_text(status: int, body: Any) -> str:
    """`HTTP <status>: ` and miPOS's answer as written (409 message arrays, 422 field
    lists), with what to do about the messages the document lists."""
    if isinstance(body, dict) and "message" in body:
        message = body["message"]
        lines = [str(line) for line in (message if isinstance(message, list) else [message])]
    elif isinstance(body, dict):
        lines = [f"{field}: {' '.join(str(t) for t in (texts if isinstance(texts, list) else [texts]))}"
                 for field, texts in body.items()]
    else:
        lines = [str(body)[:300]] if str(body).strip() else []
    if not lines:
        return f"HTTP {status}"
    hints = list(dict.fromkeys(hint for line in lines for start, hint in WHAT_TO_DO.items() if line.startswith(start)))
    return f"HTTP {status}: " + "; ".join(lines) + (f" (what to do: {'; '.join(hints)})" if hints else "")


def _payload(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else {}
    except ValueError:
        return response.text


class MiPOSClient:
    def __init__(self, base_url: str, credentials: dict[str, str], retry: RetrySettings,
                 transport: httpx.AsyncBaseTransport | None = None, clock: Callable[[], float] = time.time):
        self._credentials = credentials  # client_id, client_secret, email, password
        self._retry = retry
        self._clock = clock
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=retry.timeout)
        self._token: str | None = None
        self._expires_at = 0.0
        self.tokens = 0  # tokens fetched, for logs and tests

    async def close(self) -> None:
        await self._http.aclose()

    async def post(self, path: str, body: bytes, repeatable: bool) -> dict[str, Any]:
        """POST JSON; the answer object. BackendError, or OutcomeUnknown once it may have landed."""
        attempts = self._retry.attempts
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=self._retry.backoff, max=self._retry.max_backoff),
            retry=retry_if_exception_type(_TryAgain), reraise=True,
        )
        sent_maybe = False
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._attempt(path, body)
                    except _TryAgain as exc:
                        sent_maybe = sent_maybe or exc.sent_maybe
                        if sent_maybe and not repeatable:
                            raise OutcomeUnknown(f"{exc}; not re-sent: a stock movement is not idempotent") from None
                        raise
        except _TryAgain as exc:
            if not sent_maybe:
                raise BackendError(f"{exc} (gave up after {attempts} attempts; nothing was applied)") from None
            raise OutcomeUnknown(f"{exc}; no final answer after {attempts} attempts") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, path: str, body: bytes) -> dict[str, Any]:
        if self._token is None or self._clock() >= self._expires_at - REFRESH_MARGIN:
            await self._fetch_token()
        response = await self._send(path, body)
        if response.status_code == 401:
            # A token revoked early: one new token, then the answer stands. A 401 is never processed.
            log.info("%s: HTTP 401, fetching a new token", path)
            await self._fetch_token()
            response = await self._send(path, body)
        return self._answer(response)

    async def _send(self, path: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self._token}"}
        try:
            return await self._http.post(path, content=body, headers=headers)
        except httpx.ConnectError as exc:
            raise _TryAgain(f"could not connect ({type(exc).__name__})", sent_maybe=False) from None
        except httpx.TimeoutException:
            raise _TryAgain("timed out waiting for miPOS") from None
        except httpx.TransportError as exc:
            raise _TryAgain(f"connection failed ({type(exc).__name__})") from None

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            raise _TryAgain("miPOS answered HTTP 429 (rate limited)", sent_maybe=False)
        payload = _payload(response)
        if status >= 500:
            raise _TryAgain(f"miPOS answered {error_text(status, payload)}")
        if status >= 400:
            raise BackendError(error_text(status, payload))
        return payload if isinstance(payload, dict) else {"answer": payload}

    async def _fetch_token(self) -> None:
        payload = {**self._credentials, "grant_type": "client_credentials"}
        try:
            response = await self._http.post(TOKEN_PATH, json=payload)
        except httpx.TransportError as exc:
            raise _TryAgain(f"token request failed ({type(exc).__name__})", sent_maybe=False) from None
        body = _payload(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise _TryAgain(f"token request: miPOS answered {error_text(response.status_code, body)}",
                            sent_maybe=False)
        if response.status_code >= 400:
            raise BackendError(f"token refused: {error_text(response.status_code, body)}; check client_id, "
                               "client_secret, email and password of this backend",
                               code="token")
        try:
            data = body["data"]
            token, expires = data["token"], float(data["expires_in"])  # a Unix timestamp, not a duration
        except (KeyError, TypeError, ValueError):
            raise BackendError("token answer without data.token and a numeric data.expires_in", code="token") from None
        register_secret(token)  # masked in every output from now on, before anything can print it
        self._token, self._expires_at = token, expires
        self.tokens += 1
        log.info("new miPOS token (%d), valid until %s", self.tokens, int(expires))
