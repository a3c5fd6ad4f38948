"""The state store contract: a read-only view for planning, a writer for apply.

Per (backend, store) it keeps the last applied snapshot, its fingerprint and a serial
that grows by one per recorded request; whether the last outcome is unknown; the plan and
action last recorded (so re-applying the same plan resumes); and a lease lock.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from ..fingerprint import fingerprint, resource_hash, snapshot_fingerprint

# 2: stores.in_flight, the action an apply was sending (set before, cleared after).
# 3: resource bodies are kept once each in `bodies`, by content hash; stores.resources
#    maps each key to its body's hash (stores of a chain share most bodies).
# 4: stores.generation (grows with every write to the row: a plan made before any write
#    is stale), stores.plan_digest (the store plan an apply started, so a resume proves it
#    goes on with the same actions), history.request_sha256 (what was actually sent), and
#    `receipts` (one-time webhook signatures).
SCHEMA_VERSION = 4


def versions_to_apply(found: str | None, where: str) -> range | None:
    """Schema migrations a store at version `found` needs: None for a new store (write
    the current version), a range of versions to apply (often empty); a newer schema
    than this reconciler knows is refused."""
    if found is None:
        return None
    if int(found) > SCHEMA_VERSION:
        from ..errors import ReconcilerError

        raise ReconcilerError(f"state at {where} has schema {found}, newer than this reconciler knows "
                              f"({SCHEMA_VERSION}); upgrade the reconciler")
    return range(int(found) + 1, SCHEMA_VERSION + 1)


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def default_owner() -> str:
    """Who holds a lock: user@host, plus the CI run when the environment names one."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = str(os.getuid())
    owner = f"{user}@{socket.gethostname()}:{os.getpid()}"
    for variable in ("GITHUB_RUN_ID", "CI_JOB_ID", "BUILDKITE_BUILD_ID", "CIRCLE_BUILD_NUM"):
        if os.environ.get(variable):
            owner += f" ({variable}={os.environ[variable]})"
            break
    return owner


@dataclass(frozen=True)
class StoreState:
    backend: str
    store: str
    remote_id: str
    meta: dict[str, Any]
    resources: dict[str, dict[str, Any]]
    fingerprint: str
    serial: int
    plan_id: str | None
    action_index: int | None  # last action of plan_id recorded
    unknown: str | None  # why the last outcome is unknown (or an interrupted send); the next plan goes full
    updated_at: str
    in_flight: str | None = None  # the action being sent when the apply stopped, if it never returned
    resource_hashes: dict[str, str] = field(default_factory=dict)  # key -> hash of its resource
    generation: int = 0  # grows with every write to the row (records, marks, their clearing)
    plan_digest: str | None = None  # StorePlan.digest() of the plan an apply of plan_id started


def interrupted_reason(in_flight: str) -> str:
    """What an in-flight mark found at read time means: the process died mid-request."""
    return f"the apply stopped while {in_flight} was in flight; whether the backend took it is unknown"


@dataclass(frozen=True)
class Observation:
    """What a backend reported it holds for one resource (a webhook), newest per key."""

    backend: str
    store: str
    key: str
    fields: dict[str, Any]
    observed_at: str  # as the backend wrote it
    source: str  # e.g. "webhook"
    recorded_at: str


@dataclass(frozen=True)
class Lock:
    backend: str
    store: str
    owner: str
    acquired_at: str
    expires_at: str

    @property
    def expired(self) -> bool:
        return datetime.fromisoformat(self.expires_at) <= now_utc()


class StateView(ABC):
    """Read-only access, all planning needs."""

    @abstractmethod
    def get(self, backend: str, store: str) -> StoreState | None: ...

    @abstractmethod
    def all(self) -> list[StoreState]: ...

    @abstractmethod
    def locks(self) -> list[Lock]: ...

    def observations(self, backend: str, store: str) -> list[Observation]:
        """Observations recorded since the keys they name were last applied, by key."""
        return []

    def heads(self) -> dict[tuple[str, str], tuple]:
        """Per (backend, store), what a plan depends on of its row, without its snapshot:
        (remote id, serial, generation, fingerprint, unknown, in flight, plan id)."""
        return {(r.backend, r.store): (r.remote_id, r.serial, r.generation, r.fingerprint, r.unknown, r.in_flight,
                                       r.plan_id) for r in self.all()}

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoreState]:
        """The rows of these (backend, store) keys that exist, read together."""
        return {key: row for key in keys if (row := self.get(*key)) is not None}

    def observation_digests(self) -> dict[tuple[str, str], str]:
        """Per (backend, store) that has webhook reports, one hash of them all."""
        return {}

    def lock_of(self, backend: str, store: str) -> Lock | None:
        for lock in self.locks():
            if lock.backend == backend and lock.store == store and not lock.expired:
                return lock
        return None


class StateStore(StateView):
    """The writer, used by apply and the state commands."""

    def batch(self) -> Any:
        """A transaction that the writes made inside it join (each in a savepoint of its
        own): one commit for many writes. Nested, it is a savepoint. The default makes
        every write commit on its own."""
        return contextlib.nullcontext()

    @abstractmethod
    def acquire(self, backend: str, store: str, owner: str, ttl: timedelta) -> Lock | None:
        """Take the lease, or return the live lock someone else holds."""

    @abstractmethod
    def renew(self, backend: str, store: str, owner: str, ttl: timedelta) -> bool: ...

    @abstractmethod
    def release(self, backend: str, store: str, owner: str | None = None) -> bool:
        """Drop a lease; with owner None, whoever holds it (a deliberate unlock)."""

    @abstractmethod
    def record(
        self,
        backend: str,
        store: str,
        remote_id: str,
        meta: dict[str, Any],
        resources: dict[str, dict[str, Any]],
        fingerprint: str,
        expected_serial: int,
        plan_id: str,
        action_index: int,
        action_kind: str,
        request_bytes: int,
        request_sha256: str | None = None,
        hashes: dict[str, str] | None = None,
        held: set[str] | None = None,
    ) -> int:
        """Write the snapshot after a successful request; return the new serial.

        Fails (StateConflict) when the serial moved since the plan: someone else wrote.
        `hashes`: the resources' hashes, where the caller has them; `held`: the hashes of
        the snapshot at `expected_serial`, where the caller holds it (then the stored one
        is not read again: the serial check proves they are the same).
        """

    def record_observation(self, backend: str, store: str, key: str, fields: dict[str, Any],
                           observed_at: str, source: str) -> None:
        """Keep what a backend reported for one resource; fields merge into the key's last report."""
        raise NotImplementedError(f"{type(self).__name__} does not keep observations")

    def clear_observations(self, backend: str, store: str, keys: list[str] | None) -> None:
        """Forget observations an apply superseded: of `keys`, or of the whole store (None)."""

    @abstractmethod
    def mark_unknown(self, backend: str, store: str, remote_id: str, reason: str, plan_id: str, action_index: int) -> None: ...

    @abstractmethod
    def mark_in_flight(self, backend: str, store: str, remote_id: str, plan_id: str, action_index: int,
                       action_kind: str, plan_digest: str | None = None) -> None:
        """Say an action is about to be sent. Kept until `record`, `mark_unknown` or
        `clear_in_flight`: a process killed mid-request leaves it, and readers then see
        the store as unknown (the next plan takes the full path; a resume of the same
        plan refuses an action that is not safe to re-send)."""

    @abstractmethod
    def clear_in_flight(self, backend: str, store: str) -> None:
        """The action came back with a definite failure: nothing changed in the backend."""

    def prune(self) -> int:
        """Drop resource bodies no snapshot refers to any more; how many went."""
        return 0

    @abstractmethod
    def forget(self, backend: str, store: str) -> bool:
        """Drop a store's row and its observations (`state rm`): the next plan treats the
        store as never applied. False when there was no row. Refused while a live lease
        is held (LockHeld)."""

    @abstractmethod
    def rename(self, backend: str, store: str, new_store: str) -> None:
        """Give a store's row, observations and history a new catalog id (`state mv`,
        after renaming the store in the catalog). Refused when there is no row, when the
        new id has one, or while a live lease is held."""

    @abstractmethod
    def claim_receipt(self, backend: str, token: str, expires_at: datetime) -> bool:
        """Keep a one-time token (a webhook signature) until it expires: True the first
        time, False when it was claimed before (a replay), whichever process claimed it."""

    @abstractmethod
    def close(self) -> None: ...


HISTORY_COLUMNS = ("serial", "plan_id", "action_index", "action_kind", "outcome", "request_bytes", "at",
                   "request_sha256")


def dump_json(value: Any) -> str:
    """How snapshots are stored: canonical JSON, so equal snapshots are equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Snapshots:
    """Stored snapshots as key -> hash maps over one table of bodies, shared by both
    state stores.

    A body is decoded once per process however many stores hold it, and the decoded
    object is shared between their snapshots (with its hash remembered, so the planner
    never hashes it again). `fetch` reads (hash, body) rows of the given hashes.
    """

    def __init__(self, fetch: Callable[[list[str]], Iterable[tuple[str, str]]]):
        self._fetch = fetch
        self._bodies: dict[str, dict[str, Any]] = {}
        self._digests: dict[str, str] = {}  # each hash, as one shared string

    def rows(self, rows: list[tuple], share_hashes: bool = True) -> list[StoreState]:
        """`stores` rows (columns in table order) as StoreStates; an in-flight mark left
        by a killed apply reads as an unknown outcome. `share_hashes`: each hash as one
        string however many rows hold it (worth it when reading many rows)."""
        # One decode for all rows: the decoder then shares the product keys between rows.
        maps = json.loads("[" + ",".join(row[4] for row in rows) + "]") if rows else []
        self._load({h for hashes in maps for h in hashes.values()})
        bodies, digests = self._bodies, self._digests
        out = []
        for row, decoded in zip(rows, maps):
            (backend, store, remote_id, meta, _, fingerprint, serial, plan_id,
             action_index, unknown, updated_at, in_flight, generation, plan_digest) = row
            if in_flight and not unknown:
                unknown = interrupted_reason(in_flight)
            # Every store that holds a body refers to one copy of its hash, not its own.
            hashes = {key: digests[h] for key, h in decoded.items()} if share_hashes else decoded
            resources = {key: bodies[h] for key, h in hashes.items()}
            out.append(StoreState(backend, store, remote_id, json.loads(meta), resources, fingerprint, serial,
                                  plan_id, action_index, unknown, updated_at, in_flight, hashes,
                                  generation, plan_digest))
        return out

    def _load(self, wanted: set[str]) -> None:
        bodies = self._bodies
        # Not `wanted - bodies.keys()`: that walks every body held, once per row read.
        missing = sorted(h for h in wanted if h not in bodies)
        if not missing:
            return
        found = self._fetch(missing)
        # One decode of all bodies as a JSON array: a chain whose stores carry their own
        # stock has hundreds of thousands of small bodies, and a decode call each costs
        # more than the decoding.
        decoded = json.loads("[" + ",".join(text for _, text in found) + "]")
        for (digest, _), body in zip(found, decoded):
            resource_hash.remember(body, digest)
            self._bodies[digest] = body
            self._digests[digest] = digest
        lost = [h for h in missing if h not in self._bodies]
        if lost:
            from ..errors import ReconcilerError

            raise ReconcilerError(f"the state is damaged: {len(lost)} resource bodies it refers to are missing "
                                  f"(first {lost[0]}); restore it from a backup or re-import the stores")

    @staticmethod
    def encode(resources: dict[str, dict[str, Any]], before: str | None, hashes: dict[str, str] | None = None,
               held: set[str] | None = None) -> tuple[str, list[tuple[str, str]]]:
        """The key -> hash map to store, and the (hash, body) rows it needs that the
        previous map (`held`, its hashes; or `before`, as stored) did not already hold.
        `hashes`: the resources' hashes, where the caller has them."""
        if hashes is None:
            hashes = resource_hash.many(resources)
        if held is None:
            held = set(json.loads(before).values()) if before else set()
        new = {h: dump_json(resources[key]) for key, h in hashes.items() if h not in held}
        return dump_json(hashes), sorted(new.items())


def to_content_addressed(meta: str, resources: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Schema 3 migration of one row: (key -> hash map, new fingerprint, bodies)."""
    decoded = json.loads(resources)
    hashes, bodies = Snapshots.encode(decoded, None)
    return hashes, snapshot_fingerprint(json.loads(meta), decoded), bodies


STORE_COLUMNS = ("backend, store, remote_id, meta, resources, fingerprint, serial, plan_id, "
                 "action_index, unknown, updated_at, in_flight, generation, plan_digest")


class SqlReads:
    """The reads a plan makes of every row, in SQL both state stores speak: `_db` is a
    connection whose `execute(sql, params)` returns a cursor, `_param` its placeholder."""

    _db: Any
    _param: str
    _snapshots: Snapshots

    def heads(self) -> dict[tuple[str, str], tuple]:
        rows = self._db.execute("SELECT backend, store, remote_id, serial, generation, fingerprint, unknown,"
                                " in_flight, plan_id FROM stores").fetchall()
        return {(row[0], row[1]): tuple(row[2:]) for row in rows}

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], StoreState]:
        keys = list(keys)
        found: list[tuple] = []
        pair = f"({self._param}, {self._param})"
        for start in range(0, len(keys), 400):  # under SQLite's bound-parameter limit
            chunk = keys[start:start + 400]
            found += self._db.execute(
                f"SELECT {STORE_COLUMNS} FROM stores WHERE (backend, store) IN "
                f"(VALUES {', '.join([pair] * len(chunk))})", [v for key in chunk for v in key]).fetchall()
        return {(state.backend, state.store): state for state in self._snapshots.rows(found)}

    def observation_digests(self) -> dict[tuple[str, str], str]:
        rows = self._db.execute("SELECT backend, store, key, fields, observed_at, source FROM observations"
                                " ORDER BY backend, store, key").fetchall()
        by_store: dict[tuple[str, str], list] = {}
        for backend, store, *rest in rows:
            by_store.setdefault((backend, store), []).append(rest)
        return {key: fingerprint(value) for key, value in by_store.items()}
