"""State stores, chosen by URL: `sqlite:///relative/path.db`, `sqlite:////absolute.db`,
or `postgresql://user@host:port/db` (also `postgres://`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Lock, Observation, StateStore, StateView, StoreState, default_owner
from .sqlite import SQLiteStateStore, StateConflict

__all__ = ["Lock", "Observation", "StateStore", "StateView", "StoreState", "StateConflict", "default_owner", "open_state"]


def open_state(url: str, project_dir: Path) -> StateStore:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        return SQLiteStateStore(path if path.is_absolute() else project_dir / path)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStateStore  # the driver loads only when used

        return PostgresStateStore(url)
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"state URL scheme {scheme!r} is not supported; use sqlite:///PATH or postgresql://HOST/DB"
    )
