"""Providers are loaded one by one from entry points; a broken one harms nobody else."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from reconciler import registry
from reconciler.errors import ConfigError


@pytest.fixture
def fake_entry_points(monkeypatch):
    entries = [
        EntryPoint(name="dstore", value="reconciler_dstore.provider:DStoreProvider", group=registry.GROUP),
        EntryPoint(name="broken", value="no_such_plugin_module.provider:Nope", group=registry.GROUP),
        EntryPoint(name="notaprovider", value="reconciler.errors:Location", group=registry.GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [e for e in entries if e.group == group])
    registry.provider_class.cache_clear()
    yield
    registry.provider_class.cache_clear()


def test_a_broken_plugin_does_not_stop_the_others(fake_entry_points):
    assert registry.provider_class("dstore").kind == "dstore"
    with pytest.raises(ConfigError, match="provider 'broken' .* cannot be loaded: No module named 'no_such_plugin_module'"):
        registry.provider_class("broken")


def test_unknown_and_wrong_providers_are_clear_errors(fake_entry_points):
    with pytest.raises(ConfigError, match=r"unknown provider 'shopify' \(installed: broken, dstore, notaprovider\)"):
        registry.provider_class("shopify")
    with pytest.raises(ConfigError, match="is not a reconciler Provider"):
        registry.provider_class("notaprovider")
