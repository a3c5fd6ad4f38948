"""`reconciler webhooks serve`: each backend's webhook receiver under /webhooks/<backend>.

Receivers come from `Provider.webhook_app`; they verify requests themselves and report
what the backend says it holds through a sink that writes observations to the state
store. The next plan lays those observations over the last applied snapshot.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable

from .state import StateStore
from .validation import Validated

PREFIX = "/webhooks/"


class StateSink:
    """Writes one backend's observations, naming stores by their catalog id.

    The state is opened per call: receivers run on the server's thread and an SQLite
    connection belongs to the thread that opened it. `keys` are the resources each store
    is known to have (its catalog and its last applied snapshot): a report about anything
    else is refused, not recorded.
    """

    def __init__(self, open_state: Callable[[], StateStore], backend: str, stores: dict[str, str],
                 keys: dict[str, frozenset[str]], source: str = "webhook"):
        self.open_state, self.backend, self.stores, self.keys, self.source = open_state, backend, stores, keys, source

    def knows(self, remote_id: str, key: str | None = None) -> bool:
        return remote_id in self.stores and (key is None or key in self.keys.get(remote_id, frozenset()))

    def first_receipt(self, remote_id: str, token: str, expires_at: datetime) -> bool:
        state = self.open_state()
        try:
            return state.claim_receipt(self.backend, f"{remote_id}\n{token}", expires_at)
        finally:
            state.close()

    def __call__(self, remote_id: str, key: str, fields: dict[str, Any], observed_at: str) -> bool:
        if not self.knows(remote_id, key):
            return False
        state = self.open_state()
        try:
            state.record_observation(self.backend, self.stores[remote_id], key, fields, observed_at, self.source)
        finally:
            state.close()
        return True


def receivers(validated: Validated, open_state: Callable[[], StateStore]) -> dict[str, Any]:
    """Backend name -> ASGI receiver, for every backend whose provider has one."""
    apps = {}
    state = open_state()
    try:
        applied = {(row.backend, row.store): set(row.resources) for row in state.all()}
    finally:
        state.close()
    for name, provider in sorted(validated.providers.items()):
        views = [v for v in validated.views if v.backend == name]
        stores = {provider.remote_id(v.binding): v.store_id for v in views}
        keys = {provider.remote_id(v.binding): frozenset(provider.desired(v).resources)
                | frozenset(applied.get((name, v.store_id), ())) for v in views}
        app = provider.webhook_app(StateSink(open_state, name, stores, keys))
        if app is not None:
            apps[name] = app
    return apps


def webhooks_app(apps: dict[str, Any]) -> Callable:
    """One ASGI app: /webhooks/<backend> goes to that backend's receiver, as its root path."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        name, _, rest = path[len(PREFIX):].partition("/") if path.startswith(PREFIX) else ("", "", "")
        target = apps.get(name)
        if target is None:
            body = json.dumps({"message": f"no webhook receiver at {path}"}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await target({**scope, "path": "/" + rest, "root_path": scope.get("root_path", "") + PREFIX + name},
                     receive, send)

    return app
