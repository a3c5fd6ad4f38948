"""The Tipsi emulator on its own: every documented behaviour and every fault kind."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest

from reconciler.emulation import Fault, InProcessTransport
from reconciler_tipsi.emulator import TipsiEmulator
from reconciler_tipsi.provider import TipsiProvider
from tipsi_helpers import LOGIN, SYNC, SYNC_CLEAR

STORE = 19771


@pytest.fixture
def emulator():
    emulator = TipsiEmulator()
    emulator.add_user("shop", "pw", email="shop@example.com")
    return emulator


def http(emulator, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="http://tipsi.test", timeout=timeout)


@contextlib.asynccontextmanager
async def session(emulator, timeout: float = 5.0):
    async with http(emulator, timeout) as client:
        response = await client.post(LOGIN, json={"username": "shop", "password": "pw"})
        assert response.status_code == 200
        yield client


async def sync(client, batch, clear=False, store=STORE) -> httpx.Response:
    return await client.patch((SYNC_CLEAR if clear else SYNC).format(store), json=batch)


def item(external_id, barcode, in_stock=1, **extra):
    return {"external_id": external_id, "barcodes": [barcode], "in_stock": in_stock, **extra}


# --- login and sessions -----------------------------------------------------------------

@pytest.mark.parametrize("payload", [{"username": "shop", "password": "pw"},
                                     {"email": "shop@example.com", "password": "pw"}])
async def test_login_takes_username_or_email_and_sets_a_session_cookie(emulator, payload):
    async with http(emulator) as client:
        response = await client.post(LOGIN, json=payload)
        assert response.status_code == 200
        assert "sessionid" in response.cookies and "csrftoken" in response.cookies
        assert (await sync(client, [item(1, "a")])).status_code == 200


async def test_the_accepted_login_field_is_configurable(emulator):
    emulator.login_fields = ("email",)
    async with http(emulator) as client:
        refused = await client.post(LOGIN, json={"username": "shop", "password": "pw"})
        assert refused.status_code == 400
        assert "email and password" in refused.json()["non_field_errors"][0]
        assert (await client.post(LOGIN, json={"email": "shop@example.com", "password": "pw"})).status_code == 200


async def test_a_wrong_password_is_a_drf_400(emulator):
    async with http(emulator) as client:
        response = await client.post(LOGIN, json={"username": "shop", "password": "nope"})
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]


async def test_sync_without_a_session_is_401(emulator):
    async with http(emulator) as client:
        response = await sync(client, [item(1, "a")])
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert emulator.items(STORE) == {}


async def test_expired_sessions_are_refused_until_the_next_login(emulator):
    async with session(emulator) as client:
        assert emulator.session_count == 1
        assert emulator.expire_sessions() == 1
        assert (await sync(client, [item(1, "a")])).status_code == 401
        await client.post(LOGIN, json={"username": "shop", "password": "pw"})
        assert (await sync(client, [item(1, "a")])).status_code == 200


async def test_sessions_can_be_expired_through_the_inspection_api(emulator):
    async with session(emulator) as client:
        assert (await client.get("/_emulator/sessions")).json() == {"sessions": 1}
        assert (await client.delete("/_emulator/sessions")).json() == {"expired": 1}
        assert (await sync(client, [item(1, "a")])).status_code == 401


# --- UPSERT and sync_clear --------------------------------------------------------------

async def test_sync_upserts_by_external_id_and_creates_unmatched_items(emulator):
    emulator.load_seed({"stores": {str(STORE): [item(10003, "00123345", 1, pos_item_name="old name")]}})
    async with session(emulator) as client:
        response = await sync(client, [item(10003, "00123345", 12), item(10005, "08123456", 33)])
    assert response.json() == {"created_items": 1, "updated_items": 1, "cleared_items": 0}
    items = emulator.items(STORE)
    assert items["10003"] == {"matched": True, "external_id": "10003", "barcodes": ["00123345"],
                              "in_stock": 12, "pos_item_name": "old name"}  # omitted fields stay
    assert items["10005"]["matched"] is False


async def test_int_and_string_external_ids_are_one_item(emulator):
    async with session(emulator) as client:
        await sync(client, [item(7, "a")])
        response = await sync(client, [item("7", "a", 5)])
    assert response.json()["updated_items"] == 1
    assert list(emulator.items(STORE)) == ["7"]


async def test_sync_clear_zeroes_every_item_not_in_the_batch_without_deleting(emulator):
    async with session(emulator) as client:
        await sync(client, [item(1, "a", 4), item(2, "b", 5), item(3, "c", 0)])
        response = await sync(client, [item(1, "a", 6)], clear=True)
    assert response.json() == {"created_items": 0, "updated_items": 1, "cleared_items": 1}
    assert {k: v["in_stock"] for k, v in emulator.items(STORE).items()} == {"1": 6, "2": 0, "3": 0}


async def test_a_chunked_sync_clear_zeroes_the_other_chunks(emulator):
    # The trap the provider avoids by never chunking sync_clear.
    async with session(emulator) as client:
        await sync(client, [item(1, "a", 4), item(2, "b", 5)], clear=True)
        await sync(client, [item(2, "b", 5)], clear=True)
    assert emulator.items(STORE)["1"]["in_stock"] == 0


async def test_stores_are_separate(emulator):
    async with session(emulator) as client:
        await sync(client, [item(1, "a")], store=1)
        await sync(client, [item(1, "a")], store=2, clear=True)
    assert emulator.items(1)["1"]["in_stock"] == 1


# --- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad, field", [
    ({"id": 5}, "id"),
    ({"in_stock": "12"}, "in_stock"),
    ({"in_stock": 1.5}, "in_stock"),
    ({"in_stock": True}, "in_stock"),
    ({"in_stock": -1}, "in_stock"),
    ({"barcodes": "00123345"}, "barcodes"),
    ({"barcodes": [123]}, "barcodes"),
    ({"category": "beer"}, "category"),
    ({"price": "12.505"}, "price"),
    ({"price": "abc"}, "price"),
    ({"colour": "red"}, "colour"),
    ({"external_id": None}, "external_id"),
])
async def test_bad_fields_are_per_item_drf_errors_and_change_nothing(emulator, bad, field):
    async with session(emulator) as client:
        response = await sync(client, [item(1, "a"), {**item(2, "b"), **bad}])
    assert response.status_code == 400
    errors = response.json()
    assert errors[0] == {} and list(errors[1]) == [field]
    assert all(isinstance(m, str) for m in errors[1][field])
    assert emulator.items(STORE) == {}


async def test_a_body_that_is_not_a_list_is_a_non_field_error(emulator):
    async with session(emulator) as client:
        response = await sync(client, {"external_id": 1})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ['Expected a list of items but got type "dict".']}


async def test_a_barcode_is_unique_per_store(emulator):
    async with session(emulator) as client:
        twice = await sync(client, [item(1, "a"), item(2, "a")])
        assert twice.status_code == 400
        assert twice.json()[1] == {"barcodes": ["Barcode a is already used by item 1 in this store."]}
        await sync(client, [item(1, "a")])
        taken = await sync(client, [item(2, "a")])
        assert taken.json() == [{"barcodes": ["Barcode a is already used by item 1 in this store."]}]
        # Moving a barcode from one item to another in one batch is fine.
        moved = await sync(client, [item(1, "z"), item(2, "a")])
        assert moved.status_code == 200
        assert (await sync(client, [item(2, "a")], store=99)).status_code == 200


async def test_an_external_id_twice_in_a_batch_is_refused(emulator):
    async with session(emulator) as client:
        response = await sync(client, [item(1, "a"), item(1, "b")])
    assert response.status_code == 400
    assert "external_id" in response.json()[1]


# --- faults -----------------------------------------------------------------------------

async def test_latency_delays_but_answers(emulator):
    emulator.faults.add(Fault(kind="latency", path=SYNC.format(STORE), seconds=0.05))
    async with session(emulator) as client:
        assert (await sync(client, [item(1, "a")])).status_code == 200
    assert emulator.requests[-1]["fault"] == "latency"


@pytest.mark.parametrize("kind, status", [("http_error", 502), ("unknown", 503), ("rate_limit", 429)])
async def test_error_faults_answer_without_processing(emulator, kind, status):
    emulator.faults.add(Fault(kind=kind, path=SYNC.format(STORE), status=502))
    async with session(emulator) as client:
        assert (await sync(client, [item(1, "a")])).status_code == status
        assert emulator.items(STORE) == {}
        assert (await sync(client, [item(1, "a")])).status_code == 200  # consumed once


@pytest.mark.parametrize("kind, error", [("timeout", httpx.ReadTimeout), ("drop", httpx.RemoteProtocolError)])
@pytest.mark.parametrize("after", [False, True])
async def test_lost_answers_before_or_after_processing(emulator, kind, error, after):
    emulator.faults.add(Fault(kind=kind, path=SYNC.format(STORE), seconds=5, after_processing=after))
    async with session(emulator, timeout=0.2) as client:
        with pytest.raises(error):
            await sync(client, [item(1, "a")])
    assert ("1" in emulator.items(STORE)) is after
    assert emulator.requests[-1]["fault"] == kind


async def test_a_fault_can_match_a_body_substring(emulator):
    emulator.faults.add(Fault(kind="http_error", match='"b"', status=500))
    async with session(emulator) as client:
        assert (await sync(client, [item(1, "a")])).status_code == 200
        assert (await sync(client, [item(2, "b")])).status_code == 500


async def test_faults_through_the_inspection_api(emulator):
    async with http(emulator) as client:
        added = await client.post("/_emulator/faults", json={"kind": "unknown", "path": LOGIN})
        assert added.status_code == 201
        assert len((await client.get("/_emulator/faults")).json()) == 1
        assert (await client.post("/_emulator/faults", json={"kind": "nonsense"})).status_code == 400
        assert (await client.post(LOGIN, json={"username": "shop", "password": "pw"})).status_code == 503
        await client.post("/_emulator/faults", json={"kind": "drop"})
        assert (await client.delete("/_emulator/faults")).json() == []


# --- inspection, persistence, seeds -----------------------------------------------------

async def test_inspection_api_items_requests_and_reset(emulator):
    async with session(emulator) as client:
        await sync(client, [item(1, "a")])
        assert (await client.get(f"/_emulator/stores/{STORE}/items")).json()["1"]["in_stock"] == 1
        log = (await client.get("/_emulator/requests")).json()
        assert [(r["path"], r["status"]) for r in log] == [(LOGIN, 200), (SYNC.format(STORE), 200)]
        assert log[1]["response"] == {"created_items": 1, "updated_items": 0, "cleared_items": 0}
        assert (await client.post("/_emulator/reset")).json() == {"reset": True}
        assert emulator.items(STORE) == {} and emulator.requests == [] and emulator.session_count == 0
        assert (await client.post("/_emulator/users", json={"username": "u2", "password": "p"})).status_code == 201
        # Users survive a reset.
        assert (await client.post(LOGIN, json={"username": "shop", "password": "pw"})).status_code == 200


async def test_data_persists_in_a_file_and_the_seed_loads_only_once(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"stores": {"1": [item(10003, "x", 2)]}}))
    first = TipsiEmulator(path=tmp_path / "data.json", seed=seed)
    first.add_user("shop", "pw")
    async with session(first) as client:
        await sync(client, [item(10003, "x", 9)], store=1)
    again = TipsiEmulator(path=tmp_path / "data.json", seed=seed)
    assert again.items(1)["10003"]["in_stock"] == 9
    assert again.items(1)["10003"]["matched"] is True


async def test_reconciler_emulate_serves_a_known_demo_user(tmp_path):
    app = TipsiProvider.emulator_app(tmp_path)
    async with httpx.AsyncClient(transport=InProcessTransport(app), base_url="http://t") as client:
        response = await client.post(LOGIN, json={"email": "demo@example.com", "password": "demo"})
    assert response.status_code == 200
    assert (tmp_path / "data.json").exists()
