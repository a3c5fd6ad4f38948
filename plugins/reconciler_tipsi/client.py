"""HTTP client for Tipsi: cookie-session login, one re-login on 401/403, retries.

Both sync calls are idempotent UPSERTs (sync_clear too: the same full set gives the same
result), so timeouts, 5xx and broken connections are retried with the same body. 4xx
answers are final and carry Django REST framework error bodies.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings

from .mapping import LOGIN_PATH

log = logging.getLogger("reconciler.tipsi")

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"


class _TryAgain(Exception):
    def __init__(self, message: str, processed_maybe: bool = True):
        super().__init__(message)
        self.processed_maybe = processed_maybe


def drf_error_text(body: Any) -> str:
    """Django REST framework errors as one line: `[1].in_stock: A valid integer is required.`"""
    parts: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key in ("detail", "non_field_errors"):
                    walk(inner, where)
                else:
                    walk(inner, f"{where}.{key}" if where else key)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            parts.append(f"{where}: {' '.join(value)}" if where else " ".join(value))
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                if inner:
                    walk(inner, f"{where}[{index}]")
        else:
            parts.append(f"{where}: {value}" if where else str(value))

    walk(body, "")
    return "; ".join(parts) or "request rejected"


class TipsiClient:
    def __init__(self, base_url: str, login_field: str, login: str, password: str,
                 retry: RetrySettings, transport: httpx.AsyncBaseTransport | None = None):
        self._login_field = login_field
        self._login = login
        self._password = password
        self._retry = retry
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=retry.timeout)
        self._session: dict[str, str] = {}
        self.logins = 0  # how many times this client logged in, for logs and tests

    async def close(self) -> None:
        await self._http.aclose()

    async def patch(self, path: str, body: bytes) -> dict[str, Any]:
        """PATCH a JSON array; return the answer's counts. BackendError / OutcomeUnknown."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.backoff, max=self._retry.max_backoff),
            retry=retry_if_exception_type(_TryAgain),
            reraise=True,
        )
        processed_maybe = False  # once any attempt may have landed, the outcome is unknown
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._attempt(path, body, attempt.retry_state.attempt_number)
                    except _TryAgain as exc:
                        processed_maybe = processed_maybe or exc.processed_maybe
                        raise
        except _TryAgain as exc:
            if not processed_maybe:
                raise BackendError(f"{exc} (gave up after {self._retry.attempts} attempts; nothing was applied)") from None
            raise OutcomeUnknown(f"{exc}; no final answer after {self._retry.attempts} attempts") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, path: str, body: bytes, number: int) -> dict[str, Any]:
        if not self._session:
            await self._log_in()
        response = await self._send(path, body, number)
        if response.status_code in (401, 403):
            # Sessions expire; one fresh login per attempt, then the answer stands.
            log.info("%s attempt %d: HTTP %d, logging in again", path, number, response.status_code)
            self._session = {}
            await self._log_in()
            response = await self._send(path, body, number)
        return self._answer(path, response, number)

    async def _send(self, path: str, body: bytes, number: int) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if CSRF_COOKIE in self._session:
            # Django's SessionAuthentication checks CSRF on unsafe methods.
            headers["X-CSRFToken"] = self._session[CSRF_COOKIE]
            headers["Referer"] = str(self._http.base_url)
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._session.items())
        try:
            return await self._http.patch(path, content=body, headers=headers)
        except httpx.TimeoutException:
            log.warning("%s attempt %d: timed out", path, number)
            raise _TryAgain("timed out waiting for Tipsi") from None
        except httpx.TransportError as exc:
            log.warning("%s attempt %d: %s", path, number, type(exc).__name__)
            raise _TryAgain(f"connection failed ({type(exc).__name__})") from None

    def _answer(self, path: str, response: httpx.Response, number: int) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            raise _TryAgain("HTTP 429 from Tipsi (rate limited)", processed_maybe=False)
        if status >= 500:
            log.warning("%s attempt %d: HTTP %d", path, number, status)
            raise _TryAgain(f"HTTP {status} from Tipsi")
        try:
            payload = json.loads(response.content) if response.content else {}
        except ValueError:
            payload = response.text
        if status >= 400:
            raise BackendError(f"HTTP {status}: {drf_error_text(payload)}", code=str(status))
        if not isinstance(payload, dict):
            raise BackendError(f"unexpected answer (HTTP {status}): not a JSON object")
        return payload

    async def _log_in(self) -> None:
        # The session cookie is kept here, not in httpx's jar, so it is sent to exactly
        # this backend whatever the host name looks like.
        self._http.cookies.clear()
        payload = json.dumps({self._login_field: self._login, "password": self._password}).encode()
        try:
            response = await self._http.post(LOGIN_PATH, content=payload,
                                             headers={"Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise _TryAgain(f"login failed ({type(exc).__name__})", processed_maybe=False) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _TryAgain(f"login: HTTP {response.status_code} from Tipsi", processed_maybe=False)
        if response.status_code >= 400:
            try:
                detail = drf_error_text(response.json())
            except ValueError:
                detail = response.text[:200]
            raise BackendError(f"login refused (HTTP {response.status_code}): {detail}", code="login")
        cookies = {name: value for name, value in response.cookies.items()}
        self._http.cookies.clear()
        if SESSION_COOKIE not in cookies:
            raise BackendError(f"login answered without a {SESSION_COOKIE} cookie", code="login")
        self._session = cookies
        self.logins += 1
        log.info("logged in to Tipsi (%d)", self.logins)
