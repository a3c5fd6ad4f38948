"""The type-3 stock webhook: its signature and the receiver the engine serves.

API-FACTS: `X-Signature-Request` is the lowercase hex HMAC-SHA256, keyed with the
account's client secret, of `{"url", "inventory_system_id", "store_id", "now"}` serialized
with ", " and ": " in that order. The body itself is not signed, so a replay is caught by
the pair (signature, body) and `now` must lie within a window of the receiver's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

SIGNATURE_HEADER = "X-Signature-Request"
NOW_FORMAT = "%Y-%m-%d %H:%M:%S"
STOCK_FIELDS = ("pos_id", "inventory_system_id", "current_stock", "quantity", "date", "movement_type",
                "external_id", "now", "store_id")


def signature(secret: str, url: str, inventory_system_id: Any, store_id: Any, now: str) -> str:
    signed = json.dumps({"url": url, "inventory_system_id": inventory_system_id, "store_id": store_id, "now": now},
                        separators=(", ", ": "), ensure_ascii=False)
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


def now_text(clock: Callable[[], float] = time.time) -> str:
    # The document leaves the zone of `now` open; both ends use UTC here (see docs).
    return datetime.fromtimestamp(clock(), timezone.utc).strftime(NOW_FORMAT)


class StockReceiver:
    """Verifies type-3 webhooks and hands each observed stock level to `sink`.

    sink(remote store id, item external id, fields, observed_at) returns False when the
    store is not one this project manages.
    """

    def __init__(self, secret: str, url: str, inventory_system_id: str, sink: Callable[..., bool],
                 window: float = 300.0, clock: Callable[[], float] = time.time):
        self.secret, self.url, self.inventory_system_id = secret, url, inventory_system_id
        self.sink, self.window, self.clock = sink, window, clock
        self._seen: dict[str, float] = {}  # digest of (signature, body) -> when `now` leaves the window

    def _refuse(self, status: int, message: str) -> Response:
        return JSONResponse({"message": message}, status_code=status)

    async def __call__(self, scope, receive, send) -> None:
        response = await self._handle(Request(scope, receive))
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        if request.method != "POST":
            return self._refuse(405, "Only POST is accepted.")
        raw = await request.body()
        given = request.headers.get(SIGNATURE_HEADER, "")
        try:
            body = json.loads(raw)
        except ValueError:
            return self._refuse(400, "The body is not JSON.")
        if not isinstance(body, dict) or any(k not in body for k in STOCK_FIELDS):
            return self._refuse(422, "A type-3 webhook needs " + ", ".join(STOCK_FIELDS) + ".")
        if not given:
            return self._refuse(401, f"The {SIGNATURE_HEADER} header is missing.")
        expected = signature(self.secret, self.url, body["inventory_system_id"], body["store_id"], str(body["now"]))
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            return self._refuse(401, "The signature does not match.")
        try:
            sent = datetime.strptime(str(body["now"]), NOW_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            return self._refuse(422, f"now must look like {NOW_FORMAT}.")
        current = self.clock()
        if abs(current - sent) > self.window:
            return self._refuse(401, f"now is more than {int(self.window)} s away from this receiver's clock.")
        self._seen = {k: until for k, until in self._seen.items() if until > current}
        digest = hashlib.sha256(given.encode() + b"\0" + raw).hexdigest()
        if digest in self._seen:
            return self._refuse(409, "This webhook was already received.")
        if str(body["inventory_system_id"]) != self.inventory_system_id:
            return self._refuse(403, "This inventory system is not the one configured for this POS.")
        fields = {"stock": str(body["current_stock"])}
        if not self.sink(str(body["store_id"]), str(body["external_id"]), fields, str(body["now"])):
            return self._refuse(404, f"Store {body['store_id']} is not managed by this POS.")
        self._seen[digest] = sent + self.window
        return Response(status_code=204)

