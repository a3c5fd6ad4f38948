"""PostgreSQL state, for teams and CI: many processes on many machines share one store.

Behaves exactly like the SQLite store. Concurrency: every write runs in one transaction
that first takes a transaction-scoped advisory lock for its (backend, store), so two
processes writing the same store serialize (a row lock alone cannot cover the first
insert of a row that does not exist yet); the serial check then reads under
SELECT ... FOR UPDATE. Schema creation and migration take a global advisory lock so two
jobs starting at once do not race on CREATE TABLE.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import LockHeld, ReconcilerError
from ..redaction import scrub
from .base import (
    HISTORY_COLUMNS,
    SCHEMA_VERSION,
    STORE_COLUMNS,
    Lock,
    Observation,
    StateStore,
    StoreState,
    dump_json,
    now_utc,
    Snapshots,
    SqlReads,
    to_content_addressed,
    versions_to_apply,
)
from .sqlite import StateConflict  # one exception type, whatever the store

try:  # imported lazily in effect: only PostgreSQL users need the driver to work
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
except ImportError:  # pragma: no cover - psycopg is a dependency; this is for broken installs
    psycopg = None

# The one-key (bigint) advisory lock space is separate from the two-key one per store.
_MIGRATION_LOCK = 7_311_942_001
# Writers of snapshots hold it shared, pruning of unreferenced bodies exclusively: a body a
# writer relies on (or is adding) is never deleted under it.
_BODIES_LOCK = 7_311_942_002

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS stores (
        backend TEXT NOT NULL, store TEXT NOT NULL, remote_id TEXT NOT NULL,
        meta TEXT NOT NULL, resources TEXT NOT NULL, fingerprint TEXT NOT NULL,
        serial BIGINT NOT NULL, plan_id TEXT, action_index INTEGER, unknown TEXT,
        updated_at TEXT NOT NULL, in_flight TEXT, generation BIGINT NOT NULL DEFAULT 0, plan_digest TEXT,
        PRIMARY KEY (backend, store))""",
    "CREATE TABLE IF NOT EXISTS bodies (hash TEXT PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS locks (
        backend TEXT NOT NULL, store TEXT NOT NULL, owner TEXT NOT NULL,
        acquired_at TEXT NOT NULL, expires_at TEXT NOT NULL, PRIMARY KEY (backend, store))""",
    """CREATE TABLE IF NOT EXISTS history (
        id BIGSERIAL PRIMARY KEY, backend TEXT NOT NULL, store TEXT NOT NULL,
        serial BIGINT, plan_id TEXT, action_index INTEGER, action_kind TEXT, outcome TEXT NOT NULL,
        request_bytes BIGINT, at TEXT NOT NULL, request_sha256 TEXT)""",
    """CREATE TABLE IF NOT EXISTS observations (
        backend TEXT NOT NULL, store TEXT NOT NULL, key TEXT NOT NULL, fields TEXT NOT NULL,
        observed_at TEXT NOT NULL, source TEXT NOT NULL, recorded_at TEXT NOT NULL,
        PRIMARY KEY (backend, store, key))""",
    """CREATE TABLE IF NOT EXISTS receipts (
        backend TEXT NOT NULL, token TEXT NOT NULL, expires_at TEXT NOT NULL, PRIMARY KEY (backend, token))""",
]


# Per schema version, what brings a store of the version before it up to date: SQL
# statements, or a function of the connection. stores.resources holds {key: hash} from 3.
def _to_v3(db: Any) -> None:
    rows = db.execute("SELECT backend, store, meta, resources, fingerprint FROM stores").fetchall()
    for backend, store, meta, resources, fingerprint in rows:
        hashes, new_fingerprint, bodies = to_content_addressed(meta, resources)
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO bodies VALUES (%s, %s) ON CONFLICT (hash) DO NOTHING", bodies)
        db.execute("UPDATE stores SET resources=%s, fingerprint=%s WHERE backend=%s AND store=%s",
                   (hashes, new_fingerprint if fingerprint else "", backend, store))


_MIGRATIONS = {
    2: ["ALTER TABLE stores ADD COLUMN IF NOT EXISTS in_flight TEXT"],
    3: [_to_v3],
    4: ["ALTER TABLE stores ADD COLUMN IF NOT EXISTS generation BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE stores ADD COLUMN IF NOT EXISTS plan_digest TEXT",
        "ALTER TABLE history ADD COLUMN IF NOT EXISTS request_sha256 TEXT"],
}


def describe(url: str) -> str:
    """host:port/db of a URL, for messages: never the user's password."""
    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the PostgreSQL state database (unparsable URL)"
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{host}{port}/{parts.get('dbname') or parts.get('user') or ''}"


class PostgresStateStore(SqlReads, StateStore):
    _param = "%s"

    def __init__(self, url: str):
        if psycopg is None:
            raise ReconcilerError("PostgreSQL state needs the psycopg package: pip install 'psycopg[binary]'")
        self.where = describe(url)
        try:
            # autocommit: reads see the latest committed rows; writes open explicit transactions.
            self._db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            # The driver's text names host, port and user but may echo the conninfo; keep
            # only its first line and scrub the password to be sure.
            raise ReconcilerError(
                f"cannot connect to the PostgreSQL state at {self.where}: {_scrub(str(exc), url)}"
            ) from None
        self._snapshots = Snapshots(self._fetch_bodies)
        self._migrate()

    def _schema_version(self) -> str | None:
        if self._db.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return row[0] if row else None

    def _migrate(self) -> None:
        # A store already at this schema needs no DDL, so a role that may only read (a
        # pull-request plan job's) can open it: CREATE TABLE IF NOT EXISTS alone needs the
        # right to create in the schema even when the table exists.
        found = self._schema_version()
        if found is not None and not versions_to_apply(found, self.where):
            return
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                for statement in _SCHEMA:
                    self._db.execute(statement)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
                pending = versions_to_apply(row[0] if row else None, self.where)
                if pending is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))
                elif pending:
                    for version in pending:
                        for step in _MIGRATIONS.get(version, []):
                            step(self._db) if callable(step) else self._db.execute(step)
                    self._db.execute("UPDATE meta SET value=%s WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise ReconcilerError(
                f"the state at {self.where} needs its tables created or migrated to schema {SCHEMA_VERSION} "
                f"(found {found or 'none'}), and this role may not ({_first_line(exc)}); run one command "
                "with a role that may write (the apply job's) first"
            ) from None

    def batch(self):
        # psycopg nests transaction() blocks as savepoints of the outer one.
        return self._db.transaction()

    def _store_tx(self, backend: str, store: str):
        """A transaction holding the (backend, store) write lock until it ends."""
        db = self._db

        class _Tx:
            def __enter__(self):
                self._tx = db.transaction()
                self._tx.__enter__()
                db.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (backend, store))

            def __exit__(self, kind, exc, tb):
                handled = self._tx.__exit__(kind, exc, tb)
                if isinstance(exc, psycopg.errors.InsufficientPrivilege):
                    # A read-only role (the one a plan job gets) reached a write: say so, not a traceback.
                    raise ReconcilerError(
                        f"the state at {where} is read-only for this role ({_first_line(exc)}): "
                        "plan can work with it; apply needs a role that may write"
                    ) from None
                return handled

        where = self.where
        return _Tx()

    # -- view ---------------------------------------------------------------------------------
    def get(self, backend: str, store: str) -> StoreState | None:
        row = self._db.execute(
            f"SELECT {STORE_COLUMNS} FROM stores WHERE backend=%s AND store=%s", (backend, store)
        ).fetchone()
        return self._snapshots.rows([row], share_hashes=False)[0] if row else None

    def all(self) -> list[StoreState]:
        rows = self._db.execute(f"SELECT {STORE_COLUMNS} FROM stores ORDER BY backend, store").fetchall()
        return self._snapshots.rows(rows)

    def _fetch_bodies(self, hashes: list[str]) -> list[tuple[str, str]]:
        return self._db.execute("SELECT hash, body FROM bodies WHERE hash = ANY(%s)", (hashes,)).fetchall()

    def locks(self) -> list[Lock]:
        rows = self._db.execute(
            "SELECT backend, store, owner, acquired_at, expires_at FROM locks ORDER BY backend, store"
        ).fetchall()
        return [Lock(*r) for r in rows]

    # -- locks --------------------------------------------------------------------------------
    def acquire(self, backend: str, store: str, owner: str, ttl: timedelta) -> Lock | None:
        now = now_utc()
        with self._store_tx(backend, store):
            row = self._db.execute(
                "SELECT backend, store, owner, acquired_at, expires_at FROM locks"
                " WHERE backend=%s AND store=%s FOR UPDATE", (backend, store),
            ).fetchone()
            if row is not None:
                held = Lock(*row)
                if not held.expired and held.owner != owner:
                    return held
            self._db.execute(
                "INSERT INTO locks VALUES (%s, %s, %s, %s, %s) ON CONFLICT (backend, store) DO UPDATE"
                " SET owner=EXCLUDED.owner, acquired_at=EXCLUDED.acquired_at, expires_at=EXCLUDED.expires_at",
                (backend, store, owner, now.isoformat(), (now + ttl).isoformat()),
            )
        return None

    def renew(self, backend: str, store: str, owner: str, ttl: timedelta) -> bool:
        with self._store_tx(backend, store):
            cursor = self._db.execute(
                "UPDATE locks SET expires_at=%s WHERE backend=%s AND store=%s AND owner=%s",
                ((now_utc() + ttl).isoformat(), backend, store, owner),
            )
        return cursor.rowcount == 1

    def release(self, backend: str, store: str, owner: str | None = None) -> bool:
        with self._store_tx(backend, store):
            if owner is None:
                cursor = self._db.execute("DELETE FROM locks WHERE backend=%s AND store=%s", (backend, store))
            else:
                cursor = self._db.execute(
                    "DELETE FROM locks WHERE backend=%s AND store=%s AND owner=%s", (backend, store, owner)
                )
        return cursor.rowcount == 1

    # -- writes -------------------------------------------------------------------------------
    def record(self, backend, store, remote_id, meta, resources, fingerprint, expected_serial,
               plan_id, action_index, action_kind, request_bytes, request_sha256=None, hashes=None,
               held=None) -> int:
        now = now_utc().isoformat()
        with self._store_tx(backend, store):
            self._db.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_BODIES_LOCK,))
            row = self._db.execute(
                f"SELECT serial{', resources' if held is None else ''} FROM stores WHERE backend=%s AND store=%s"
                " FOR UPDATE", (backend, store)).fetchone()
            current = row[0] if row else 0
            if current != expected_serial:
                raise StateConflict(
                    f"state of {backend}/{store} moved to serial {current} while this apply "
                    f"expected {expected_serial}; someone else applied it. Plan again."
                )
            serial = current + 1
            stored, bodies = Snapshots.encode(resources, row[1] if row and held is None else None, hashes, held)
            if bodies:
                with self._db.cursor() as cursor:
                    cursor.executemany("INSERT INTO bodies VALUES (%s, %s) ON CONFLICT (hash) DO NOTHING", bodies)
            self._db.execute(
                "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                " action_index, updated_at, generation) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1)"
                " ON CONFLICT (backend, store) DO UPDATE SET remote_id=EXCLUDED.remote_id, meta=EXCLUDED.meta,"
                " resources=EXCLUDED.resources, fingerprint=EXCLUDED.fingerprint, serial=EXCLUDED.serial,"
                " plan_id=EXCLUDED.plan_id, action_index=EXCLUDED.action_index, unknown=NULL, in_flight=NULL,"
                " updated_at=EXCLUDED.updated_at, generation=stores.generation + 1",
                (backend, store, remote_id, dump_json(meta), stored, fingerprint, serial, plan_id, action_index, now),
            )
            self._history(backend, store, serial, plan_id, action_index, action_kind, "applied", request_bytes,
                          now, request_sha256)
        return serial

    def mark_unknown(self, backend, store, remote_id, reason, plan_id, action_index) -> None:
        now = now_utc().isoformat()
        reason = scrub(reason)
        with self._store_tx(backend, store):
            cursor = self._db.execute(
                "UPDATE stores SET unknown=%s, in_flight=NULL, plan_id=%s, action_index=%s, updated_at=%s,"
                " generation=generation + 1 WHERE backend=%s AND store=%s",
                (reason, plan_id, action_index - 1, now, backend, store),
            )
            if cursor.rowcount == 0:
                self._db.execute(
                    "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                    " action_index, unknown, updated_at, generation)"
                    " VALUES (%s, %s, %s, '{}', '{}', '', 0, %s, %s, %s, %s, 1)",
                    (backend, store, remote_id, plan_id, action_index - 1, reason, now),
                )
            self._history(backend, store, None, plan_id, action_index, None, f"unknown: {reason}", None, now)

    def mark_in_flight(self, backend, store, remote_id, plan_id, action_index, action_kind, plan_digest=None) -> None:
        now = now_utc().isoformat()
        mark = f"action {action_index} ({action_kind}) of plan {plan_id}, sent at {now}"
        with self._store_tx(backend, store):
            # plan_id and action_index move as mark_unknown moves them, so a resume of the
            # same plan sees this action as the next one and checks it is safe to re-send.
            cursor = self._db.execute(
                "UPDATE stores SET in_flight=%s, plan_id=%s, action_index=%s, plan_digest=COALESCE(%s, plan_digest),"
                " generation=generation + 1 WHERE backend=%s AND store=%s",
                (mark, plan_id, action_index - 1, plan_digest, backend, store),
            )
            if cursor.rowcount == 0:
                self._db.execute(
                    "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                    " action_index, updated_at, in_flight, generation, plan_digest)"
                    " VALUES (%s, %s, %s, '{}', '{}', '', 0, %s, %s, %s, %s, 1, %s)",
                    (backend, store, remote_id, plan_id, action_index - 1, now, mark, plan_digest),
                )

    def clear_in_flight(self, backend, store) -> None:
        with self._store_tx(backend, store):
            # A row the mark itself created (nothing ever recorded) goes: no row means "never applied".
            self._db.execute("DELETE FROM stores WHERE backend=%s AND store=%s AND serial=0 AND unknown IS NULL"
                             " AND fingerprint=''", (backend, store))
            self._db.execute("UPDATE stores SET in_flight=NULL, generation=generation + 1"
                             " WHERE backend=%s AND store=%s", (backend, store))

    def _history(self, backend, store, serial, plan_id, action_index, action_kind, outcome, request_bytes, at,
                 request_sha256=None) -> None:
        self._db.execute(
            "INSERT INTO history (backend, store, serial, plan_id, action_index, action_kind, outcome,"
            " request_bytes, at, request_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (backend, store, serial, plan_id, action_index, action_kind, outcome, request_bytes, at, request_sha256),
        )

    def _refuse_if_locked(self, backend: str, store: str) -> None:
        row = self._db.execute("SELECT backend, store, owner, acquired_at, expires_at FROM locks"
                               " WHERE backend=%s AND store=%s FOR UPDATE", (backend, store)).fetchone()
        if row is not None and not Lock(*row).expired:
            raise LockHeld(f"{backend}/{store} is locked by {row[2]} until {row[4]}; "
                           "wait for that apply, or `reconciler state unlock` if it is dead")

    def forget(self, backend: str, store: str) -> bool:
        with self._store_tx(backend, store):
            self._refuse_if_locked(backend, store)
            cursor = self._db.execute("DELETE FROM stores WHERE backend=%s AND store=%s", (backend, store))
            self._db.execute("DELETE FROM observations WHERE backend=%s AND store=%s", (backend, store))
            if cursor.rowcount:
                self._history(backend, store, None, None, None, "state rm", "forgotten", None, now_utc().isoformat())
        return cursor.rowcount == 1

    def rename(self, backend: str, store: str, new_store: str) -> None:
        with self._store_tx(backend, store):
            self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))", (backend, new_store))
            for name in (store, new_store):
                self._refuse_if_locked(backend, name)
            if self._db.execute("SELECT 1 FROM stores WHERE backend=%s AND store=%s", (backend, new_store)).fetchone():
                raise ReconcilerError(f"{backend}/{new_store} already has a state row; `state rm` it first")
            cursor = self._db.execute(
                "UPDATE stores SET store=%s, generation=generation + 1 WHERE backend=%s AND store=%s",
                (new_store, backend, store))
            if cursor.rowcount == 0:
                raise ReconcilerError(f"no state recorded for {backend}/{store}")
            for table in ("observations", "history"):
                self._db.execute(f"UPDATE {table} SET store=%s WHERE backend=%s AND store=%s",
                                 (new_store, backend, store))
            self._history(backend, new_store, None, None, None, "state mv", f"renamed from {store}",
                          None, now_utc().isoformat())

    def claim_receipt(self, backend: str, token: str, expires_at: datetime) -> bool:
        now = now_utc().isoformat()
        with self._db.transaction():
            self._db.execute("DELETE FROM receipts WHERE backend=%s AND expires_at<=%s", (backend, now))
            cursor = self._db.execute(
                "INSERT INTO receipts VALUES (%s, %s, %s) ON CONFLICT (backend, token) DO NOTHING",
                (backend, token, expires_at.astimezone(timezone.utc).isoformat()))
        return cursor.rowcount == 1

    # -- observations ---------------------------------------------------------------------------
    def observations(self, backend: str, store: str) -> list[Observation]:
        rows = self._db.execute(
            "SELECT backend, store, key, fields, observed_at, source, recorded_at FROM observations"
            " WHERE backend=%s AND store=%s ORDER BY key", (backend, store),
        ).fetchall()
        return [Observation(b, s, k, json.loads(f), o, src, r) for b, s, k, f, o, src, r in rows]

    def record_observation(self, backend, store, key, fields, observed_at, source) -> None:
        with self._store_tx(backend, store):
            row = self._db.execute(
                "SELECT fields FROM observations WHERE backend=%s AND store=%s AND key=%s FOR UPDATE",
                (backend, store, key),
            ).fetchone()
            merged = {**(json.loads(row[0]) if row else {}), **fields}
            self._db.execute(
                "INSERT INTO observations VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (backend, store, key)"
                " DO UPDATE SET fields=EXCLUDED.fields, observed_at=EXCLUDED.observed_at,"
                " source=EXCLUDED.source, recorded_at=EXCLUDED.recorded_at",
                (backend, store, key, dump_json(merged), observed_at, source, now_utc().isoformat()),
            )

    def clear_observations(self, backend, store, keys) -> None:
        with self._store_tx(backend, store):
            if keys is None:
                self._db.execute("DELETE FROM observations WHERE backend=%s AND store=%s", (backend, store))
            elif keys:
                self._db.execute("DELETE FROM observations WHERE backend=%s AND store=%s AND key = ANY(%s)",
                                 (backend, store, list(keys)))

    def history(self, backend: str, store: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE backend=%s AND store=%s ORDER BY id",
            (backend, store),
        ).fetchall()
        return [dict(zip(HISTORY_COLUMNS, r)) for r in rows]

    def prune(self) -> int:
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_BODIES_LOCK,))
            cursor = self._db.execute(
                "DELETE FROM bodies WHERE hash NOT IN"
                " (SELECT DISTINCT j.value FROM stores, jsonb_each_text(stores.resources::jsonb) j)")
        return cursor.rowcount

    def close(self) -> None:
        self._db.close()




def _first_line(exc: Exception) -> str:
    """The server's own words (permission denied for table locks), which carry no secret."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _scrub(message: str, url: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "connection failed"
    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:
        password = None
    return first.replace(password, "***") if password else first


