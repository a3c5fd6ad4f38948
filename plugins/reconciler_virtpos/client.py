"""HTTP client for VirtPOS: the apikey in the query string, the success/info envelope,
XML or JSON answers, bounded retries.

The apikey is part of every URL, and httpx puts the URL into its exception texts and
Request objects. So nothing from httpx ever leaves this module: errors are composed
here from the path, the HTTP status and the backend's `info`, and raised `from None`.
The key is registered with the redactor when the client is made, so an `info` that
echoes the request (in any encoding) is masked wherever the message is shown.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from reconciler.sdk import BackendError, OutcomeUnknown, RetrySettings, register_secret

from .mapping import GET_ONLY

log = logging.getLogger("reconciler.virtpos")

# Elements whose children repeat: in JSON they are lists.
LIST_TAGS = frozenset({"warehouses", "items", "prices"})


class _TryAgain(Exception):
    def __init__(self, message: str, processed_maybe: bool = True):
        super().__init__(message)
        self.processed_maybe = processed_maybe


def xml_to_dict(text: bytes) -> Any:
    """The XML tree as JSON would carry it; entities and DTDs are refused (defusedxml)."""
    root = ElementTree.fromstring(text)

    def convert(element: Any) -> Any:
        children = list(element)
        if element.tag in LIST_TAGS:
            return [convert(child) for child in children]
        if not children:
            return (element.text or "").strip()
        return {child.tag: convert(child) for child in children}

    return convert(root)


def parse_answer(content: bytes, fmt: str) -> dict[str, Any]:
    """The envelope of an answer in either format (whatever `format` asked for)."""
    try:
        if content.lstrip().startswith(b"<"):
            payload = xml_to_dict(content)
        else:
            payload = json.loads(content)
    except (ValueError, ElementTree.ParseError, DefusedXmlException):
        raise BackendError(f"the answer is not valid {'XML' if content.lstrip().startswith(b'<') else fmt.upper()}") from None
    if not isinstance(payload, dict) or "success" not in payload:
        raise BackendError("the answer has no success field")
    return payload


class VirtPOSClient:
    def __init__(self, base_url: str, apikey: str, fmt: str, retry: RetrySettings,
                 transport: httpx.AsyncBaseTransport | None = None):
        register_secret(apikey)
        self._apikey = apikey
        self._format = fmt
        self._retry = retry
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=retry.timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, path: str, params: dict[str, str], method: str = "GET") -> dict[str, Any]:
        """One API call; the envelope's payload when success=1. BackendError / OutcomeUnknown.

        Every VirtPOS call is safe to repeat (updateOnhand sets an absolute value,
        setZeroOnhand for one version is the same zeroing, a repeated getOnhandVersion
        only gives a newer version), so no-answer outcomes are retried with the same
        parameters.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait_exponential(multiplier=self._retry.backoff, max=self._retry.max_backoff),
            retry=retry_if_exception_type(_TryAgain),
            reraise=True,
        )
        processed_maybe = False
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._attempt(path, params, method, attempt.retry_state.attempt_number)
                    except _TryAgain as exc:
                        processed_maybe = processed_maybe or exc.processed_maybe
                        raise
        except _TryAgain as exc:
            if not processed_maybe or method == "GET":
                raise BackendError(f"{path}: {exc} (gave up after {self._retry.attempts} attempts)") from None
            raise OutcomeUnknown(f"{path}: {exc}; no final answer after {self._retry.attempts} attempts") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _attempt(self, path: str, params: dict[str, str], method: str, number: int) -> dict[str, Any]:
        query = {"apikey": self._apikey, "format": self._format}
        form: dict[str, str] = {}
        for key, value in params.items():
            (query if method == "GET" or key in GET_ONLY else form)[key] = value
        failure: _TryAgain | None = None
        try:
            response = await self._http.request(method, path, params=query, data=form or None)
        except httpx.TimeoutException:
            failure = _TryAgain("timed out waiting for VirtPOS")
        except httpx.ConnectError:
            failure = _TryAgain("cannot connect to VirtPOS", processed_maybe=False)
        except httpx.HTTPError as exc:
            failure = _TryAgain(f"connection failed ({type(exc).__name__})")
        if failure is not None:
            # Raised outside the except block, so httpx's exception (whose text holds the
            # URL and so the apikey) is not even chained as __context__.
            log.warning("%s attempt %d: %s", path, number, failure)
            raise failure
        status = response.status_code
        log.debug("%s attempt %d: HTTP %d, %d bytes", path, number, status, len(response.content))
        said = _info_of(response.content) if status >= 400 else ""
        if status == 429:
            raise _TryAgain(f"HTTP 429 from VirtPOS (rate limited){said}", processed_maybe=False)
        if status >= 500:
            raise _TryAgain(f"HTTP {status} from VirtPOS{said}")
        if status in (401, 403):
            raise BackendError(f"{path}: HTTP {status}: the apikey was refused{said}", code=str(status))
        if status >= 400:
            raise BackendError(f"{path}: HTTP {status} from VirtPOS{said}", code=str(status))
        payload = parse_answer(response.content, self._format)
        if str(payload.get("success")) != "1":
            raise BackendError(f"{path}: {payload.get('info') or 'no info given'}", code="success=0")
        return payload


def _info_of(content: bytes) -> str:
    """`: <info>` of an error answer that carries the envelope, else nothing."""
    try:
        info = parse_answer(content, "json").get("info")
    except BackendError:
        return ""
    return f": {info}" if info else ""
