"""SQLite state: embedded, zero set-up, the default at `.reconciler/state.db`."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
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


# Per schema version, what brings a store of the version before it up to date: SQL
# statements, or a function of the connection.
def _to_v3(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT backend, store, meta, resources, fingerprint FROM stores").fetchall()
    for backend, store, meta, resources, fingerprint in rows:
        hashes, new_fingerprint, bodies = to_content_addressed(meta, resources)
        db.executemany("INSERT OR IGNORE INTO bodies VALUES (?, ?)", bodies)
        db.execute("UPDATE stores SET resources=?, fingerprint=? WHERE backend=? AND store=?",
                   (hashes, new_fingerprint if fingerprint else "", backend, store))


_MIGRATIONS = {
    2: ["ALTER TABLE stores ADD COLUMN in_flight TEXT"],
    3: [_to_v3],
    4: ["ALTER TABLE stores ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE stores ADD COLUMN plan_digest TEXT",
        "ALTER TABLE history ADD COLUMN request_sha256 TEXT"],
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- resources: {key: hash}, each body kept once in `bodies` (schema 3)
CREATE TABLE IF NOT EXISTS stores (
    backend TEXT NOT NULL, store TEXT NOT NULL, remote_id TEXT NOT NULL,
    meta TEXT NOT NULL, resources TEXT NOT NULL, fingerprint TEXT NOT NULL,
    serial INTEGER NOT NULL, plan_id TEXT, action_index INTEGER, unknown TEXT,
    updated_at TEXT NOT NULL, in_flight TEXT, generation INTEGER NOT NULL DEFAULT 0, plan_digest TEXT,
    PRIMARY KEY (backend, store));
CREATE TABLE IF NOT EXISTS bodies (hash TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locks (
    backend TEXT NOT NULL, store TEXT NOT NULL, owner TEXT NOT NULL,
    acquired_at TEXT NOT NULL, expires_at TEXT NOT NULL, PRIMARY KEY (backend, store));
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, backend TEXT NOT NULL, store TEXT NOT NULL,
    serial INTEGER, plan_id TEXT, action_index INTEGER, action_kind TEXT, outcome TEXT NOT NULL,
    request_bytes INTEGER, at TEXT NOT NULL, request_sha256 TEXT);
CREATE TABLE IF NOT EXISTS observations (
    backend TEXT NOT NULL, store TEXT NOT NULL, key TEXT NOT NULL, fields TEXT NOT NULL,
    observed_at TEXT NOT NULL, source TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (backend, store, key));
CREATE TABLE IF NOT EXISTS receipts (
    backend TEXT NOT NULL, token TEXT NOT NULL, expires_at TEXT NOT NULL, PRIMARY KEY (backend, token));
"""


# The columns a plan reads of every row, without the snapshot: a scan of the table would
# walk each row's snapshot pages to reach the columns stored after it (0.15 s at 2,000
# stores, against 5 ms through this index). Made after the migrations, which add columns.
_HEADS_INDEX = ("CREATE INDEX IF NOT EXISTS stores_heads ON stores ("
                "backend, store, remote_id, serial, generation, fingerprint, unknown, in_flight, plan_id)")


class StateConflict(ReconcilerError):
    """The stored serial is not the one the plan was made from."""


class SQLiteStateStore(SqlReads, StateStore):
    _param = "?"

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection, used by one thread at a time: the CLI's, or an apply's state writer.
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._depth = 0  # nesting of _tx: the outermost is a transaction, the others savepoints
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._snapshots = Snapshots(self._fetch_bodies)
        self._migrate()

    def _migrate(self) -> None:
        with self._tx():
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            pending = versions_to_apply(row[0] if row else None, str(self.path))
            if pending is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif pending:
                for version in pending:
                    for step in _MIGRATIONS.get(version, []):
                        step(self._db) if callable(step) else self._db.execute(step)
                self._db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            self._db.execute(_HEADS_INDEX)

    def _tx(self):
        """A transaction, or inside one a savepoint: writes in a `batch` share one commit."""
        store, db = self, self._db

        class _Tx:
            def __enter__(self):
                self.depth = store._depth
                db.execute("BEGIN IMMEDIATE" if self.depth == 0 else f"SAVEPOINT sp{self.depth}")
                store._depth += 1

            def __exit__(self, kind, exc, tb):
                store._depth = self.depth
                if self.depth == 0:
                    db.execute("ROLLBACK" if kind else "COMMIT")
                elif kind:
                    db.execute(f"ROLLBACK TO sp{self.depth}")
                    db.execute(f"RELEASE sp{self.depth}")
                else:
                    db.execute(f"RELEASE sp{self.depth}")

        return _Tx()

    def batch(self):
        return self._tx()

    # -- view ---------------------------------------------------------------------------------
    def get(self, backend: str, store: str) -> StoreState | None:
        row = self._db.execute(
            f"SELECT {STORE_COLUMNS} FROM stores WHERE backend=? AND store=?", (backend, store)
        ).fetchone()
        return self._snapshots.rows([row], share_hashes=False)[0] if row else None

    def all(self) -> list[StoreState]:
        rows = self._db.execute(f"SELECT {STORE_COLUMNS} FROM stores ORDER BY backend, store").fetchall()
        return self._snapshots.rows(rows)

    def _fetch_bodies(self, hashes: list[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for start in range(0, len(hashes), 500):  # under SQLite's bound-parameter limit
            chunk = hashes[start:start + 500]
            found += self._db.execute(
                f"SELECT hash, body FROM bodies WHERE hash IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        return found

    def locks(self) -> list[Lock]:
        rows = self._db.execute("SELECT backend, store, owner, acquired_at, expires_at FROM locks ORDER BY backend, store")
        return [Lock(*r) for r in rows.fetchall()]


    # -- locks --------------------------------------------------------------------------------
    def acquire(self, backend: str, store: str, owner: str, ttl: timedelta) -> Lock | None:
        now = now_utc()
        with self._tx():
            row = self._db.execute(
                "SELECT backend, store, owner, acquired_at, expires_at FROM locks WHERE backend=? AND store=?",
                (backend, store),
            ).fetchone()
            if row is not None:
                held = Lock(*row)
                if not held.expired and held.owner != owner:
                    return held
            self._db.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?)",
                (backend, store, owner, now.isoformat(), (now + ttl).isoformat()),
            )
        return None

    def renew(self, backend: str, store: str, owner: str, ttl: timedelta) -> bool:
        with self._tx():
            cursor = self._db.execute(
                "UPDATE locks SET expires_at=? WHERE backend=? AND store=? AND owner=?",
                ((now_utc() + ttl).isoformat(), backend, store, owner),
            )
        return cursor.rowcount == 1

    def release(self, backend: str, store: str, owner: str | None = None) -> bool:
        with self._tx():
            if owner is None:
                cursor = self._db.execute("DELETE FROM locks WHERE backend=? AND store=?", (backend, store))
            else:
                cursor = self._db.execute(
                    "DELETE FROM locks WHERE backend=? AND store=? AND owner=?", (backend, store, owner)
                )
        return cursor.rowcount == 1

    # -- writes -------------------------------------------------------------------------------
    def record(self, backend, store, remote_id, meta, resources, fingerprint, expected_serial,
               plan_id, action_index, action_kind, request_bytes, request_sha256=None, hashes=None,
               held=None) -> int:
        now = now_utc().isoformat()
        with self._tx():
            # The serial alone comes from the heads index; the stored map only when needed.
            row = self._db.execute(
                f"SELECT serial{', resources' if held is None else ''} FROM stores WHERE backend=? AND store=?",
                (backend, store)).fetchone()
            current = row[0] if row else 0
            if current != expected_serial:
                raise StateConflict(
                    f"state of {backend}/{store} moved to serial {current} while this apply "
                    f"expected {expected_serial}; someone else applied it. Plan again."
                )
            serial = current + 1
            stored, bodies = Snapshots.encode(resources, row[1] if row and held is None else None, hashes, held)
            self._db.executemany("INSERT OR IGNORE INTO bodies VALUES (?, ?)", bodies)
            self._db.execute(
                "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                " action_index, updated_at, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (backend, store) DO UPDATE SET remote_id=excluded.remote_id, meta=excluded.meta,"
                " resources=excluded.resources, fingerprint=excluded.fingerprint, serial=excluded.serial,"
                " plan_id=excluded.plan_id, action_index=excluded.action_index, unknown=NULL, in_flight=NULL,"
                " updated_at=excluded.updated_at, generation=generation + 1",
                (backend, store, remote_id, dump_json(meta), stored, fingerprint, serial, plan_id, action_index, now),
            )
            self._history(backend, store, serial, plan_id, action_index, action_kind, "applied", request_bytes,
                          now, request_sha256)
        return serial

    def mark_unknown(self, backend, store, remote_id, reason, plan_id, action_index) -> None:
        now = now_utc().isoformat()
        reason = scrub(reason)
        with self._tx():
            cursor = self._db.execute(
                "UPDATE stores SET unknown=?, in_flight=NULL, plan_id=?, action_index=?, updated_at=?,"
                " generation=generation + 1 WHERE backend=? AND store=?",
                (reason, plan_id, action_index - 1, now, backend, store),
            )
            if cursor.rowcount == 0:
                self._db.execute(
                    "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                    " action_index, unknown, updated_at, generation) VALUES (?, ?, ?, '{}', '{}', '', 0, ?, ?, ?, ?, 1)",
                    (backend, store, remote_id, plan_id, action_index - 1, reason, now),
                )
            self._history(backend, store, None, plan_id, action_index, None, f"unknown: {reason}", None, now)

    def mark_in_flight(self, backend, store, remote_id, plan_id, action_index, action_kind, plan_digest=None) -> None:
        now = now_utc().isoformat()
        mark = f"action {action_index} ({action_kind}) of plan {plan_id}, sent at {now}"
        with self._tx():
            # plan_id and action_index move as mark_unknown moves them, so a resume of the
            # same plan sees this action as the next one and checks it is safe to re-send.
            cursor = self._db.execute(
                "UPDATE stores SET in_flight=?, plan_id=?, action_index=?, plan_digest=COALESCE(?, plan_digest),"
                " generation=generation + 1 WHERE backend=? AND store=?",
                (mark, plan_id, action_index - 1, plan_digest, backend, store),
            )
            if cursor.rowcount == 0:
                self._db.execute(
                    "INSERT INTO stores (backend, store, remote_id, meta, resources, fingerprint, serial, plan_id,"
                    " action_index, updated_at, in_flight, generation, plan_digest)"
                    " VALUES (?, ?, ?, '{}', '{}', '', 0, ?, ?, ?, ?, 1, ?)",
                    (backend, store, remote_id, plan_id, action_index - 1, now, mark, plan_digest),
                )

    def clear_in_flight(self, backend, store) -> None:
        with self._tx():
            # A row the mark itself created (nothing ever recorded) goes: no row means "never applied".
            self._db.execute("DELETE FROM stores WHERE backend=? AND store=? AND serial=0 AND unknown IS NULL"
                             " AND fingerprint=''", (backend, store))
            self._db.execute("UPDATE stores SET in_flight=NULL, generation=generation + 1"
                             " WHERE backend=? AND store=?", (backend, store))

    def _history(self, backend, store, serial, plan_id, action_index, action_kind, outcome, request_bytes, at,
                 request_sha256=None) -> None:
        self._db.execute(
            "INSERT INTO history (backend, store, serial, plan_id, action_index, action_kind, outcome,"
            " request_bytes, at, request_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (backend, store, serial, plan_id, action_index, action_kind, outcome, request_bytes, at, request_sha256),
        )

    def _refuse_if_locked(self, backend: str, store: str) -> None:
        row = self._db.execute("SELECT backend, store, owner, acquired_at, expires_at FROM locks"
                               " WHERE backend=? AND store=?", (backend, store)).fetchone()
        if row is not None and not Lock(*row).expired:
            raise LockHeld(f"{backend}/{store} is locked by {row[2]} until {row[4]}; "
                           "wait for that apply, or `reconciler state unlock` if it is dead")

    def forget(self, backend: str, store: str) -> bool:
        with self._tx():
            self._refuse_if_locked(backend, store)
            cursor = self._db.execute("DELETE FROM stores WHERE backend=? AND store=?", (backend, store))
            self._db.execute("DELETE FROM observations WHERE backend=? AND store=?", (backend, store))
            if cursor.rowcount:
                self._history(backend, store, None, None, None, "state rm", "forgotten", None, now_utc().isoformat())
        return cursor.rowcount == 1

    def rename(self, backend: str, store: str, new_store: str) -> None:
        with self._tx():
            for name in (store, new_store):
                self._refuse_if_locked(backend, name)
            if self._db.execute("SELECT 1 FROM stores WHERE backend=? AND store=?", (backend, new_store)).fetchone():
                raise ReconcilerError(f"{backend}/{new_store} already has a state row; `state rm` it first")
            cursor = self._db.execute("UPDATE stores SET store=?, generation=generation + 1 WHERE backend=? AND store=?",
                                      (new_store, backend, store))
            if cursor.rowcount == 0:
                raise ReconcilerError(f"no state recorded for {backend}/{store}")
            for table in ("observations", "history"):
                self._db.execute(f"UPDATE {table} SET store=? WHERE backend=? AND store=?", (new_store, backend, store))
            self._history(backend, new_store, None, None, None, "state mv", f"renamed from {store}",
                          None, now_utc().isoformat())

    def claim_receipt(self, backend: str, token: str, expires_at: datetime) -> bool:
        now = now_utc().isoformat()
        with self._tx():
            self._db.execute("DELETE FROM receipts WHERE backend=? AND expires_at<=?", (backend, now))
            cursor = self._db.execute("INSERT OR IGNORE INTO receipts VALUES (?, ?, ?)",
                                      (backend, token, expires_at.astimezone(timezone.utc).isoformat()))
        return cursor.rowcount == 1

    # -- observations ---------------------------------------------------------------------------
    def observations(self, backend: str, store: str) -> list[Observation]:
        rows = self._db.execute(
            "SELECT backend, store, key, fields, observed_at, source, recorded_at FROM observations"
            " WHERE backend=? AND store=? ORDER BY key", (backend, store),
        ).fetchall()
        return [Observation(b, s, k, json.loads(f), o, src, r) for b, s, k, f, o, src, r in rows]

    def record_observation(self, backend, store, key, fields, observed_at, source) -> None:
        with self._tx():
            row = self._db.execute(
                "SELECT fields FROM observations WHERE backend=? AND store=? AND key=?", (backend, store, key)
            ).fetchone()
            merged = {**(json.loads(row[0]) if row else {}), **fields}
            self._db.execute(
                "INSERT OR REPLACE INTO observations VALUES (?, ?, ?, ?, ?, ?, ?)",
                (backend, store, key, dump_json(merged), observed_at, source, now_utc().isoformat()),
            )

    def clear_observations(self, backend, store, keys) -> None:
        with self._tx():
            if keys is None:
                self._db.execute("DELETE FROM observations WHERE backend=? AND store=?", (backend, store))
            else:
                self._db.executemany("DELETE FROM observations WHERE backend=? AND store=? AND key=?",
                                     [(backend, store, key) for key in keys])

    def history(self, backend: str, store: str) -> list[dict[str, Any]]:
        rows = self._db.execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM history WHERE backend=? AND store=? ORDER BY id",
            (backend, store),
        ).fetchall()
        return [dict(zip(HISTORY_COLUMNS, r)) for r in rows]

    def prune(self) -> int:
        with self._tx():
            cursor = self._db.execute(
                "DELETE FROM bodies WHERE hash NOT IN (SELECT DISTINCT j.value FROM stores, json_each(stores.resources) j)")
        return cursor.rowcount

    def close(self) -> None:
        self._db.close()


