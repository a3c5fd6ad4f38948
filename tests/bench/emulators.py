"""The three emulators a generated chain is applied to, on loopback, with a record of
when each request that carries a change arrived (logins and tokens are not changes)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from loopback import serve

from reconciler_dstore.emulator import DStoreEmulator
from reconciler_mipos.emulator import MiPOSEmulator
from reconciler_tipsi.emulator import TipsiEmulator

# Per backend: does a request to this path carry changes?
CHANGES = {
    "dstore": lambda path: path == "/v2/pos/syncProduct",
    "tipsi": lambda path: "/ext/sync" in path,
    "mipos": lambda path: "/system/" in path or path.endswith("/webhook/manage"),
}


class Arrivals:
    """ASGI middleware: the monotonic time each counted request arrived, counted where it
    arrives rather than where it was sent."""

    def __init__(self, app: Any, counted: Callable[[str], bool]):
        self.app, self.counted, self.times = app, counted, []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.counted(scope["path"]):
            self.times.append(time.monotonic())
        await self.app(scope, receive, send)


class Emulators:
    """Fresh emulators for one chain, with the credentials the generated project uses."""

    def __init__(self, private_pem: str, public_pem: str, mipos_account: dict[str, str]):
        self.dstore = DStoreEmulator()
        self.dstore.register_client("bench-client", public_pem)
        self.tipsi = TipsiEmulator()
        self.tipsi.add_user("bench", "bench-password")
        self.mipos = MiPOSEmulator(account=dict(mipos_account))
        self.private_pem = private_pem
        self.arrivals = {name: Arrivals(app, CHANGES[name]) for name, app in
                         (("dstore", self.dstore.app), ("tipsi", self.tipsi.app), ("mipos", self.mipos.app))}

    @contextlib.contextmanager
    def serving(self) -> Iterator[dict[str, str]]:
        with serve(self.arrivals["dstore"]) as dstore, serve(self.arrivals["tipsi"]) as tipsi, \
                serve(self.arrivals["mipos"]) as mipos:
            yield {"dstore": dstore, "tipsi": tipsi, "mipos": mipos}

    def write_keys(self, project: Path) -> None:
        """The secrets the generated reconciler.yaml refers to."""
        keys = project / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        (keys / "client.pem").write_text(self.private_pem)
        (keys / "gateway.pem").write_text(self.dstore.gateway_public_key_pem)
        (keys / "tipsi-password").write_text("bench-password")
        (keys / "mipos-secret").write_text(self.mipos.account["client_secret"])
        (keys / "mipos-password").write_text(self.mipos.account["password"])

    def mark(self) -> dict[str, int]:
        return {name: len(a.times) for name, a in self.arrivals.items()}

    def since(self, mark: dict[str, int]) -> dict[str, list[float]]:
        return {name: a.times[mark[name]:] for name, a in self.arrivals.items()}
