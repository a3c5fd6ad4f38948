"""`reconciler webhooks serve`: each backend's webhook receiver under /webhooks/<backend>.

Receivers come from `Provider.webhook_app`; they verify requests themselves and report
what the backend says it holds through a sink that writes observations to the state
store. The next plan lays those observations over the last applied snapshot.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .state import StateStore
from .validation import Validated

PREFIX = "/webhooks/"


class StateSink:
    """Writes one backend's observations, naming stores by their catalog id.

    The state is opened per observation: receivers run on the server's thread and an
    SQLite connection belongs to the thread that opened it.
    """

    def __init__(self, open_state: Callable[[], StateStore], backend: str, stores: dict[str, str],
                 source: str = "webhook"):
        self.open_state, self.backend, self.stores, self.source = open_state, backend, stores, source

    def __call__(self, remote_id: str, key: str, fields: dict[str, Any], observed_at: str) -> bool:
        store = self.stores.get(remote_id)
        if store is None:
            return False
        state = self.open_state()
        try:
            state.record_observation(self.backend, store, key, fields, observed_at, self.source)
        finally:
            state.close()
        return True


def receivers(validated: Validated, open_state: Callable[[], StateStore]) -> dict[str, Any]:
    """Backend name -> ASGI receiver, for every backend whose provider has one."""
    apps = {}
    for name, provider in sorted(validated.providers.items()):
        stores = {provider.remote_id(v.binding): v.store_id for v in validated.views if v.backend == name}
        app = provider.webhook_app(StateSink(open_state, name, stores))
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
