"""The type-3 stock webhook: its signature and the receiver the engine serves.

API-FACTS: `X-Signature-Request` is the lowercase hex HMAC-SHA256, keyed with the
account's client secret, of `{"url", "inventory_system_id", "store_id", "now"}` serialized
with ", " and ": " in that order, each value as the body carries it.

That signature covers no field of the movement itself: whoever captures one request can
post any stock for that store, with the same signature, for as long as its `now` is
accepted. A limitation of the backend's scheme (docs/providers/mipos.md); what the
receiver does about it:

- `now` must lie within `webhook_window` seconds of the receiver's clock, read on the
  wall clock of the configured time zone;
- each (store, now, signature) is accepted once, through the state store, so every
  receiver process shares it and a restart does not forget it;
- only a store the project binds and an item that store has are recorded;
- what it records is an untrusted observation: the plan shows it as drift but never
  takes a desired value from it.

Every refusal records nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reconciler.sdk import ObservationSink

from .rules import DATE_FORMAT, STOCK_WEBHOOK_FIELDS, field_errors

SIGNATURE_HEADER = "X-Signature-Request"
# A type-3 body is about 300 bytes; anything much larger did not come from miPOS.
MAX_BODY_BYTES = 4096


def signature(secret: str, url: str, inventory_system_id: Any, store_id: Any, now: str) -> str:
    signed = json.dumps({"url": url, "inventory_system_id": inventory_system_id, "store_id": store_id, "now": now},
                        separators=(", ", ": "), ensure_ascii=False)
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra

    def response(self) -> Response:
        return JSONResponse({"message": self.message, **self.extra}, status_code=self.status)


class StockReceiver:
    """Verifies type-3 webhooks and records each reported stock level through `sink`."""

    def __init__(self, secret: str, url: str, inventory_system_id: str, sink: ObservationSink, zone: ZoneInfo,
                 window: float = 120.0, clock: Callable[[], float] = time.time, max_bytes: int = MAX_BODY_BYTES):
        self.secret, self.url, self.inventory_system_id = secret, url, inventory_system_id
        self.sink, self.zone, self.window, self.clock, self.max_bytes = sink, zone, window, clock, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self._receive(Request(scope, receive))
            response = Response(status_code=204)
        except _Refused as refused:
            response = refused.response()
        await response(scope, receive, send)

    async def _receive(self, request: Request) -> None:
        if request.method != "POST":
            raise _Refused(405, "Only POST is accepted.")
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise _Refused(415, "The body must be JSON (Content-Type: application/json).")
        body = await self._body(request)
        errors = field_errors(body, STOCK_WEBHOOK_FIELDS)
        if errors:
            raise _Refused(422, " ".join(m for messages in errors.values() for m in messages), errors=errors)
        given = request.headers.get(SIGNATURE_HEADER, "").strip().lower()
        if not given:
            raise _Refused(401, f"The {SIGNATURE_HEADER} header is missing.")
        expected = signature(self.secret, self.url, body["inventory_system_id"], body["store_id"], body["now"])
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise _Refused(401, "The signature does not match.")
        if body["inventory_system_id"] != self.inventory_system_id:
            raise _Refused(403, "This inventory system is not the one configured for this POS.")
        store, item = str(body["store_id"]), body["external_id"]
        if not self.sink.knows(store):
            raise _Refused(404, f"Store {store} is not a store of this POS.")
        sent = self._sent_at(body["now"])
        if not self.sink.knows(store, item):
            raise _Refused(404, f"Item {item} is not in the catalog of store {store}.")
        # The signature is the same for any body of this (store, now): accepted once.
        expires = datetime.fromtimestamp(sent + self.window, timezone.utc)
        if not self.sink.first_receipt(store, f"{body['now']}\n{given}", expires):
            raise _Refused(409, "This webhook was already received.")
        if not self.sink(store, item, {"stock": body["current_stock"]}, f"{body['now']} {self.zone.key}"):
            raise _Refused(404, f"Store {store} is not a store of this POS.")

    async def _body(self, request: Request) -> Any:
        """The JSON body, read up to the size limit and no further."""
        declared = request.headers.get("content-length")
        if declared is not None and not declared.isdigit():
            raise _Refused(400, "The Content-Length header is not a number.")
        if declared is not None and int(declared) > self.max_bytes:
            raise _Refused(413, f"The body is larger than {self.max_bytes} bytes.")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > self.max_bytes:
                raise _Refused(413, f"The body is larger than {self.max_bytes} bytes.")
        try:
            return json.loads(raw)
        except ValueError:  # UnicodeDecodeError included
            raise _Refused(400, "The body is not JSON.") from None

    def _sent_at(self, now: str) -> float:
        """`now` as a timestamp, read on the configured zone's wall clock; refused outside the window."""
        sent = datetime.strptime(now, DATE_FORMAT).replace(tzinfo=self.zone).timestamp()
        off = self.clock() - sent
        if abs(off) > self.window:
            raise _Refused(401, f"now ({now} {self.zone.key}) is {abs(off):.0f} s away from this receiver's clock; "
                                f"at most {self.window:g} s are accepted (webhook_window, timezone).")
        return sent
