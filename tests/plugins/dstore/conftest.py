"""Fixtures for the D-Store plugin tests: one emulator with a registered client key, reset
for every test, and a signed caller talking to it in-process."""

from __future__ import annotations

import httpx
import pytest

from dstore_helpers import CLIENT_ID, Caller
from reconciler.emulation import InProcessTransport
from reconciler_dstore import signing
from reconciler_dstore.emulator import DStoreEmulator


@pytest.fixture(scope="module")
def client_key():
    private_pem, _ = signing.generate_key_pair()
    return signing.load_private_key(private_pem)


@pytest.fixture(scope="module")
def shared_emulator(client_key):
    # One instance per test module: each emulator makes a gateway key pair, which is slow.
    emulator = DStoreEmulator()
    emulator.register_client(CLIENT_ID, signing.public_key_pem(client_key.public_key()))
    return emulator


@pytest.fixture
def emulator(shared_emulator):
    shared_emulator.reset()
    shared_emulator.verify_signatures = True
    shared_emulator.clock_skew_seconds = 300
    shared_emulator.store_name_makes_full_sync = True
    return shared_emulator


@pytest.fixture
async def http(emulator):
    async with httpx.AsyncClient(
        transport=InProcessTransport(emulator.app), base_url="http://dstore.test", timeout=5
    ) as client:
        yield client


@pytest.fixture
def caller(http, client_key):
    return Caller(http, client_key)
