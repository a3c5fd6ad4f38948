"""HTTP client for Tipsi: cookie-session login, one re-login on 401/403, retries.

Both sync calls are idempotent UPSERTs (sync_clear too: the same full set gives the same
result), so timeouts, 5xx and broken connections are retried with the same body. 4xx
answers are final and carry Django REST framework error bodies, shown with the items
they name and what to do. The session cookie and CSRF token are credentials: they are
registered with the redactor the moment the login answer is read.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings, register_secret

from .mapping import LOGIN_PATH

log = logging.getLogger("reconciler.tipsi")

SESSION_COOKIE = "sessionid"
CSRF_COOKIE = "csrftoken"


class _TryAgain(Exception):
    def __init__(self, message: str, processed_maybe: bool = True):
        super().__init__(message)
        self.processed_maybe = processed_maybe


def drf_error_text(body: Any, items: list[str] | None = None) -> str:
    """Django REST framework errors as one line: `item 10005: in_stock: A valid integer is required.`

    `items` names the batch's items (their external ids), so per-item errors say which
    item they are about rather than its index.
    """
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

    if isinstance(body, list) and items is not None and len(body) == len(items):
        for name, inner in zip(items, body):
            if inner:
                start = len(parts)
                walk(inner, "")
                parts[start:] = [f"item {name}: {part}" for part in parts[start:]]
    else:
        walk(body, "")
    return "; ".join(parts) or "request rejected"


def what_to_do(status: int, body: Any, text: str) -> str:
    """The next step after a final refusal, in sentences a catalog author can act on."""
    if status == 400 and isinstance(body, list):
        advice = ("Tipsi refused the whole batch and applied none of it: correct the items named above in the "
                  "catalog and apply again.")
        if "(no external_id)" in text:
            advice += (" An item Tipsi holds without an external_id (an older barcode-keyed item) keeps its "
                       "barcodes until it gets its external_id through Tipsi's old barcode sync, as the migration "
                       "section of Tipsi's POS sync document says.")
        return advice
    if status in (401, 403) and "CSRF" in text:
        return ("Tipsi refused the CSRF token again after a fresh login: check that the backend's url is the "
                "address Tipsi serves (Django compares the Referer with its own host).")
    if status in (401, 403):
        return "Tipsi refused the session again after a fresh login: check that this user may sync the store."
    if status == 404:
        return "Check the store_id of the store's Tipsi binding."
    return ""


def _with_advice(message: str, advice: str) -> str:
    if not advice:
        return message
    return f"{message}{'' if message.endswith('.') else '.'} {advice}"


def _payload(response: httpx.Response) -> Any:
    """The answer's JSON; a short text as it is; else a description. Never a cut text: a
    secret echoed by the server and cut in two would no longer be recognised and masked."""
    try:
        return json.loads(response.content) if response.content else {}
    except ValueError:
        text = response.text.strip()
        return text if len(text) <= 300 else f"a non-JSON answer of {len(response.content)} bytes"


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

    async def patch(self, path: str, body: bytes, items: list[str] | None = None) -> dict[str, Any]:
        """PATCH a JSON array; return the answer's counts. BackendError / OutcomeUnknown.

        `items` are the batch's external ids, to name them in Tipsi's per-item errors."""
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
                        return await self._attempt(path, body, items, attempt.retry_state.attempt_number)
                    except _TryAgain as exc:
                        processed_maybe = processed_maybe or exc.processed_maybe
                        raise
        except _TryAgain as exc:
            if not processed_maybe:
                raise BackendError(f"{exc} (gave up after {self._retry.attempts} attempts; nothing was applied)") from None
            raise OutcomeUnknown(f"{exc}; no final answer after {self._retry.attempts} attempts") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, path: str, body: bytes, items: list[str] | None, number: int) -> dict[str, Any]:
        if not self._session:
            await self._log_in()
        response = await self._send(path, body, number)
        if response.status_code in (401, 403):
            # Sessions expire; one fresh login per attempt, then the answer stands.
            log.info("%s attempt %d: HTTP %d, logging in again", path, number, response.status_code)
            self._session = {}
            await self._log_in()
            response = await self._send(path, body, number)
        return self._answer(path, response, items, number)

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

    def _answer(self, path: str, response: httpx.Response, items: list[str] | None, number: int) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            raise _TryAgain("HTTP 429 from Tipsi (rate limited)", processed_maybe=False)
        if status >= 500:
            log.warning("%s attempt %d: HTTP %d", path, number, status)
            raise _TryAgain(f"HTTP {status} from Tipsi")
        payload = _payload(response)
        if status >= 400:
            text = drf_error_text(payload, items)
            advice = what_to_do(status, payload, text)
            raise BackendError(_with_advice(f"HTTP {status}: {text}", advice))
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
        cookies = {name: value for name, value in response.cookies.items()}
        self._http.cookies.clear()
        for value in cookies.values():  # before anything can quote them, refusals included
            register_secret(value)
        if response.status_code == 429 or response.status_code >= 500:
            raise _TryAgain(f"login: HTTP {response.status_code} from Tipsi", processed_maybe=False)
        if response.status_code >= 400:
            detail = drf_error_text(_payload(response))
            raise BackendError(_with_advice(f"login refused (HTTP {response.status_code}): {detail}",
                                            f"Check the backend's {self._login_field} and password."))
        if SESSION_COOKIE not in cookies:
            raise BackendError(f"login answered without a {SESSION_COOKIE} cookie")
        self._session = cookies
        self.logins += 1
        log.info("logged in to Tipsi (%d)", self.logins)
