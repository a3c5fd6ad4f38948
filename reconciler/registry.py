"""Providers come from the `reconciler.providers` entry-point group; the engine never
imports one by name, and loads only the providers a project uses, so one broken plugin
cannot break projects that do not use it."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from .errors import ConfigError
from .provider import Provider

GROUP = "reconciler.providers"


def installed_providers() -> list[str]:
    return sorted({entry.name for entry in entry_points(group=GROUP)})


@lru_cache(maxsize=None)
def provider_class(kind: str) -> type[Provider]:
    matches = [entry for entry in entry_points(group=GROUP) if entry.name == kind]
    if not matches:
        known = ", ".join(installed_providers()) or "none installed"
        raise ConfigError(f"unknown provider {kind!r} (installed: {known})")
    try:
        cls = matches[0].load()
    except Exception as exc:  # a plugin is third-party code; report, do not crash
        raise ConfigError(f"provider {kind!r} ({matches[0].value}) cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"provider {kind!r} ({matches[0].value}) is not a reconciler Provider")
    return cls
