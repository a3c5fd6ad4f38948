"""Providers come from the `reconciler.providers` entry-point group; the engine never
imports one by name."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from .errors import ConfigError
from .provider import Provider

GROUP = "reconciler.providers"


@lru_cache(maxsize=None)
def provider_classes() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for entry in entry_points(group=GROUP):
        found[entry.name] = entry.load()
    return found


def provider_class(kind: str) -> type[Provider]:
    classes = provider_classes()
    if kind not in classes:
        known = ", ".join(sorted(classes)) or "none installed"
        raise ConfigError(f"unknown provider {kind!r} (installed: {known})")
    return classes[kind]
