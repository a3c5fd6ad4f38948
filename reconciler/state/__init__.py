"""State stores, chosen by URL: `sqlite:///relative/path.db` or `sqlite:////absolute.db`."""

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
    scheme = url.split(":", 1)[0]
    raise ConfigError(
        f"state URL scheme {scheme!r} is not supported; use sqlite:///PATH "
        "(PostgreSQL state is tracked as its own issue)"
    )
