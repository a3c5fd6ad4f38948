"""Shared machinery for backend emulators.

Every plugin ships an ASGI emulator of its backend. Two things are the same for all of
them and live here: a queue of injected faults, and the in-process transport that lets an
httpx client talk to an emulator without a port while still seeing the failures a real
network produces (read timeouts, connections dropped mid-response).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import httpx

from .atomic import write_atomically

FAULT_KINDS = ("latency", "unknown", "http_error", "rate_limit", "timeout", "drop", "result")


class ConnectionDropped(Exception):
    """Raised by an emulator to cut the connection without a complete response.

    Over loopback uvicorn closes the socket; in-process `InProcessTransport` turns it into
    the same `httpx.RemoteProtocolError` a client would see from a real server.
    """


@dataclass
class Fault:
    """One injected failure, consumed by the next matching request.

    kind: latency | unknown | http_error | rate_limit | timeout | drop | result
    after_processing: for timeout and drop, whether the emulator first processes the
      request (so the change happened but the caller never learns it) or not.
    code: for result, the backend's own result code to answer with (an emulator that
      knows the code answers as its document describes it; a case that cannot be
      produced honestly, such as a backend's internal failure).
    """

    kind: str
    path: str | None = None  # None matches any path
    match: str | None = None  # a substring the request body must contain (None: any body)
    seconds: float = 0.0  # latency: delay; timeout: how long to hang
    status: int = 500  # http_error: the status code
    after_processing: bool = False
    times: int = 1
    code: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if (self.kind == "result") != (self.code is not None):
            raise ValueError("a result fault needs a code, and only a result fault has one")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "match": self.match,
            "seconds": self.seconds,
            "status": self.status,
            "after_processing": self.after_processing,
            "times": self.times,
            "code": self.code,
        }


@dataclass
class FaultQueue:
    """Faults waiting for requests, first in first out."""

    pending: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def take(self, path: str, body: bytes = b"") -> Fault | None:
        for i, fault in enumerate(self.pending):
            if (fault.path is None or fault.path == path) and (
                fault.match is None or fault.match.encode("utf-8") in body
            ):
                fault.times -= 1
                if fault.times <= 0:
                    del self.pending[i]
                return fault
        return None

    def clear(self) -> None:
        self.pending.clear()


class InProcessTransport(httpx.AsyncBaseTransport):
    """An ASGI transport that behaves like a network for the failures tests care about.

    httpx's own ASGITransport neither enforces timeouts nor has a notion of a dropped
    connection; this wrapper adds both, so client retry logic is exercised the same way
    in-process as over loopback.
    """

    def __init__(self, app: Any) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        read_timeout = timeouts.get("read")
        try:
            if read_timeout is None:
                response = await self._inner.handle_async_request(request)
            else:
                response = await asyncio.wait_for(
                    self._inner.handle_async_request(request), timeout=read_timeout
                )
            await response.aread()
            return response
        except asyncio.TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the emulator", request=request) from exc
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- ASGI pieces every emulator uses to misbehave like a network ------------------------


async def _until_disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class DroppedConnection:
    """An ASGI answer that starts a 200, sends half of `body` and cuts the connection."""

    def __init__(self, body: bytes = b"", content_type: bytes = b"application/json") -> None:
        self.body = body
        self.content_type = content_type

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        partial = self.body[: len(self.body) // 2]
        promised = max(len(self.body), len(partial) + 1)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", self.content_type), (b"content-length", str(promised).encode("ascii"))]})
        if partial:
            await send({"type": "http.response.body", "body": partial, "more_body": True})
        raise ConnectionDropped("injected fault: connection dropped mid-response")


class Hang:
    """An ASGI answer that says nothing for `seconds`, then drops the connection.

    Over a socket a client hanging up ends the wait early; in-process the transport's
    read timeout cancels it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.wait_for(_until_disconnected(receive), timeout=self.seconds)
        except asyncio.TimeoutError:
            await DroppedConnection()(scope, receive, send)


def faults_endpoint(queue: FaultQueue) -> Callable[[Any], Awaitable[Any]]:
    """A Starlette endpoint for `/_emulator/faults`: GET lists, POST adds, DELETE clears."""
    from starlette.responses import JSONResponse

    async def endpoint(request: Any) -> Any:
        if request.method == "POST":
            try:
                fault = Fault(**json.loads(await request.body()))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            queue.add(fault)
            return JSONResponse(fault.to_dict(), status_code=201)
        if request.method == "DELETE":
            queue.clear()
        return JSONResponse([f.to_dict() for f in queue.pending])

    return endpoint


class JsonFile:
    """An emulator's data file, shared by the processes of one project (plan, apply,
    `emulate`): atomic saves (mode 0600, it may hold keys), and a reload whenever another
    process has saved since (os.replace gives every save a new inode)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._stamp: tuple[int, int] | None = None

    def load_if_changed(self) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_ino, stat.st_mtime_ns)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        return json.loads(self.path.read_text("utf-8"))

    def save(self, data: dict[str, Any]) -> None:
        if self.path is None:
            return
        write_atomically(self.path, json.dumps(data, ensure_ascii=False))
        stat = self.path.stat()
        self._stamp = (stat.st_ino, stat.st_mtime_ns)

