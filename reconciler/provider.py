"""The provider contract: the engine fixes the steps, a provider fills narrow hooks.

A provider is told nothing about other backends and the engine is told nothing about
this one. Steps, in the order the engine calls them:

  validate_settings()          settings that cannot work (a secret that does not resolve)
  validate_store(view)        what this backend cannot represent, as Findings
  remote_id(binding)          the store's id in the backend, for display and state
  desired(view)               the store as the backend's resources: {key: JSON dict}
  observe(targets)            optional live read (backends that can be read)
  compile(request)            the fewest actions that turn observed into desired
  execute(store, action)      send one action; raise BackendError / OutcomeUnknown
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .diff import ResourceChange
from .errors import ReconcilerError, SecretError
from .expand import StoreView
from .model import StockEntry
from .plan import Action, Cost, StorePlan
from .secrets import resolve_secret


@dataclass(frozen=True)
class Finding:
    """A provider's validation finding; `path` is a catalog path the engine locates."""

    path: tuple[Any, ...]
    message: str
    at_key: bool = False
    in_project_file: bool = False  # path is inside reconciler.yaml instead of the catalog
    severity: str = "error"  # or "warning": said, but nothing is refused


@dataclass(frozen=True)
class DesiredStore:
    """A store as a backend should hold it: store-level fields and keyed resources."""

    meta: dict[str, Any]
    resources: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Observed:
    """What a backend holds for one store, as far as the reconciler knows."""

    meta: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    source: str  # "state" (last applied snapshot), "state+webhooks" (with reports laid over), "live", "none"
    unknown: str | None = None  # why the last outcome is unknown, if it is


@dataclass(frozen=True)
class ImportedProduct:
    """A product as a backend knows it, for `reconciler import` to add to a menu."""

    name: str
    price: Decimal | None = None
    cost: Decimal | None = None


@dataclass(frozen=True)
class Imported:
    """What a backend holds for one store: its products and their stock."""

    products: dict[str, ImportedProduct]
    stock: dict[str, StockEntry]


@dataclass(frozen=True)
class CompileRequest:
    """Input of `Provider.compile` for one store."""

    view: StoreView | None  # None when the store left the catalog (everything goes)
    remote_id: str
    desired: DesiredStore
    observed: Observed
    changes: list[ResourceChange]
    meta_changed: bool
    full: bool  # --full, or the engine knows the observed state cannot be trusted
    full_reason: str
    idempotency_key: Callable[[int], str]
    # The reconciler has never recorded an apply to this store and cannot read it: the
    # backend may hold things nobody told us about. A first contact must not clear them
    # (Effect.unseen) unless the store is `owned`.
    first_contact: bool = False
    owned: bool = False  # the user declared the reconciler owns the whole store there
    # The plan's clock: any time an action carries (a movement date) is taken from it, so
    # the same catalog and state always compile to the same actions (apply re-derives a
    # plan file's actions to prove it was not edited).
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))


@dataclass
class Program:
    """What `compile` returns: the chosen path, why, the actions and the full-path cost."""

    path: str  # "light" | "full" | "none"
    reason: str
    actions: list[Action]
    full_cost: Cost
    warnings: list[str] = field(default_factory=list)
    # What the backend will really hold for a key an action sets, where that differs from
    # the desired resource (a field the API cannot clear): the state records this, so a
    # drift the backend keeps stays visible instead of being recorded as converged.
    held: dict[str, dict[str, Any]] = field(default_factory=dict)


class ObservationSink(Protocol):
    """Where a webhook receiver reports what a backend says it holds now.

    A receiver first asks `knows` (a store of the project with this remote id, and with
    `key`, a resource that store has in the catalog or last applied snapshot) and refuses
    what it does not know; `first_receipt` keeps a one-time token (a signature) until it
    expires, shared by every receiver process through the state store, and says False
    for a replay. Calling the sink records the observation: the store's id in the
    backend, a resource key, the fields observed and when the backend observed them (as
    the backend wrote it). Observations are untrusted input: plans show them as drift but
    never take a desired value from them. Returns False when the store is unknown.
    """

    def knows(self, remote_id: str, key: str | None = None) -> bool: ...

    def first_receipt(self, remote_id: str, token: str, expires_at: datetime) -> bool: ...

    def __call__(self, remote_id: str, key: str, fields: dict[str, Any], observed_at: str) -> bool: ...


EMULATOR_URL = "emulator://"


class RetrySettings(BaseModel):
    """How hard a client tries before an outcome is called unknown. Bounded by design."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    attempts: int = Field(5, ge=1, le=20)
    backoff: float = Field(0.5, ge=0, le=60)  # first wait, doubled each time
    max_backoff: float = Field(8.0, ge=0, le=300)
    timeout: float = Field(30.0, gt=0, le=600)  # per request


class BackendSettings(BaseModel):
    """Base of a provider's settings: a URL (or `emulator://`), retries, and the settings
    a real backend needs but the in-process emulator does not (`needed_unless_emulated`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend_title: ClassVar[str] = "backend"  # for messages: "a D-Store backend at ..."
    needed_unless_emulated: ClassVar[tuple[str, ...]] = ()
    url: str
    retry: RetrySettings = RetrySettings()
    # Stores applied at once on this backend (the provider's default when unset), and
    # requests per second across all of them: a chain of hundreds of stores must not
    # trip the backend's own traffic limit.
    concurrency: int | None = Field(default=None, ge=1, le=64)
    rate_limit: float | None = Field(default=None, gt=0)

    @property
    def emulated(self) -> bool:
        return self.url.startswith(EMULATOR_URL)

    @model_validator(mode="after")
    def _needed_settings(self) -> "BackendSettings":
        if not self.emulated:
            missing = [k for k in self.needed_unless_emulated if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a {self.backend_title} at {self.url} needs {', '.join(missing)}")
        return self


@dataclass
class ProviderContext:
    """What the engine hands a provider: where it lives and the transport seam."""

    project_dir: Path
    work_dir: Path
    transport: httpx.AsyncBaseTransport | None = None  # tests inject emulators here

    def secret(self, reference: str | None, what: str) -> str | None:
        return resolve_secret(reference, self.project_dir, what)

    def emulator_dir(self, backend: str) -> Path:
        path = self.work_dir / "emulators" / backend
        path.mkdir(parents=True, exist_ok=True)
        return path


class Provider(ABC):
    """Base of every backend plugin. Subclasses set the class attributes and hooks."""

    kind: ClassVar[str]  # the entry-point name, e.g. "dstore"
    Settings: ClassVar[type[BaseModel]]  # keys of the backend in reconciler.yaml
    Binding: ClassVar[type[BaseModel]]  # keys of stores.<id>.backends.<backend>
    max_concurrency: ClassVar[int] = 4  # stores applied at once on this backend
    # What the mapping reads of a store's own values of a product ("price", "status",
    # "stock"); None: all of them. A store overriding only what no backend of it reads
    # keeps the menu's product objects (a chain's stock is most of its overrides).
    store_fields: ClassVar[tuple[str, ...] | None] = None
    # Resource fields the backend owns (`owned_fields` in reconciler.yaml); the engine sets it.
    owned_fields: tuple[str, ...] = ()
    # The reconciler owns every store of this backend (`owned: true` in reconciler.yaml);
    # the engine sets it. A store binding can say the same for one store.
    owns_stores: bool = False
    # Resource fields a live read (`observe`) cannot return: the engine compares them with
    # the last applied snapshot instead, so a write-only field is not drift on every plan.
    write_only_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, settings: BaseModel, context: ProviderContext):
        self.name = name
        self.settings = settings
        self.context = context
        self._client: Any = None  # the backend client made in open(); closed by close()

    # -- validation and mapping (pure) ----------------------------------------------------
    def validate_settings(self) -> Iterable[Finding]:
        """What is wrong with this backend's settings beyond their shape, as Findings in
        reconciler.yaml: a secret that does not resolve, a key that does not load. Called by
        `validate` for every backend, so a bad credential is found before an apply.
        Messages name the setting and the reference, never a value."""
        return ()

    def secret_findings(self, *names: str) -> Iterator[Finding]:
        """A Finding for each of the settings `names` whose secret reference does not resolve
        (an unset environment variable, an unreadable file); for `validate_settings`.
        Nothing for an emulated backend, which is configured with no credentials."""
        if getattr(self.settings, "emulated", False):
            return
        for name in names:
            try:
                self.context.secret(getattr(self.settings, name), f"backend {self.name} {name}")
            except SecretError as exc:
                yield self.secret_finding(name, exc)

    def secret_finding(self, name: str, exc: SecretError) -> Finding:
        """A secret that is not here is a warning (a plan of a write-only backend needs no
        credentials; apply does, and says so then); one that is here but unusable, an error."""
        if exc.unavailable:
            return self.setting_finding(name, f"{exc}; apply needs it", severity="warning")
        return self.setting_finding(name, str(exc))

    def setting_finding(self, name: str, message: str, severity: str = "error") -> Finding:
        """A Finding located at this backend's setting `name` in reconciler.yaml."""
        return Finding(("backends", self.name, name), message, in_project_file=True, severity=severity)

    def validate_store(self, view: StoreView) -> Iterable[Finding]:
        return ()

    @abstractmethod
    def remote_id(self, binding: BaseModel) -> str: ...

    @abstractmethod
    def desired(self, view: StoreView) -> DesiredStore: ...

    def available(self, resource: dict[str, Any]) -> bool:
        """Whether a resource is offered to customers; drives the unavailable-share check."""
        return True

    def label(self, resource: dict[str, Any]) -> str:
        """A human name of the resource for plans (the product name, usually)."""
        name = resource.get("name")
        return name if isinstance(name, str) else ""

    def price(self, resource: dict[str, Any]) -> Decimal | None:
        """The resource's price in major units, for reviewers (price moves in a plan)."""
        return None

    # -- reading ----------------------------------------------------------------------------
    async def observe(self, remote_ids: list[str]) -> dict[str, Observed] | None:
        """Live state per remote store id, or None for write-only backends."""
        return None

    async def import_store(self, binding: BaseModel) -> Imported:
        """The live state of the store `binding` names, for `reconciler import`."""
        raise ReconcilerError(f"backend {self.name} ({self.kind}) cannot be read; there is nothing to import")

    # -- planning ---------------------------------------------------------------------------
    @abstractmethod
    def compile(self, request: CompileRequest) -> Program: ...

    # -- applying ---------------------------------------------------------------------------
    async def open(self) -> None:
        """Prepare clients before the first request of an apply or a live read."""

    async def close(self) -> None:
        """Close the client `open()` made, if any; safe to call more than once."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @abstractmethod
    async def execute(self, store: StorePlan, action: Action) -> dict[str, Any]:
        """Send one action. Return a small JSON summary of the backend's answer.

        Raise BackendError for a definite failure and OutcomeUnknown when the backend
        may or may not have applied it after the client's bounded retries.
        """

    # -- webhooks ---------------------------------------------------------------------------
    def webhook_app(self, sink: "ObservationSink") -> Any:
        """An ASGI app receiving this backend's webhooks, or None when it sends none.

        The app verifies each request itself and reports what it learnt through `sink`.
        """
        return None

    # -- emulation --------------------------------------------------------------------------
    @classmethod
    def emulator_app(cls, data_dir: Path | None) -> Any:
        """An ASGI app emulating this backend, for `reconciler emulate`."""
        raise NotImplementedError(f"{cls.kind} has no emulator")
