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


async def log_in(client: httpx.AsyncClient) -> None:
    """Log in as a browser would: the cookies go back, the CSRF token in X-CSRFToken."""
    response = await client.post(LOGIN, json={"username": "shop", "password": "pw"})
    assert response.status_code == 200
    client.headers["X-CSRFToken"] = response.cookies["csrftoken"]


@contextlib.asynccontextmanager
async def session(emulator, timeout: float = 5.0):
    async with http(emulator, timeout) as client:
        await log_in(client)
        yield client


async def sync(client, batch, clear=False, store=STORE) -> httpx.Response:
    return await client.patch((SYNC_CLEAR if clear else SYNC).format(store), json=batch)


def item(external_id, barcode, in_stock=1, **extra):
    return {"external_id": external_id, "barcodes": [barcode], "in_stock": in_stock, "category": "wine", **extra}


# --- login and sessions -----------------------------------------------------------------

@pytest.mark.parametrize("payload", [{"username": "shop", "password": "pw"},
                                     {"email": "shop@example.com", "password": "pw"}])
async def test_login_takes_username_or_email_and_sets_a_session_cookie(emulator, payload):
    async with http(emulator) as client:
        response = await client.post(LOGIN, json=payload)
        assert response.status_code == 200
        assert "sessionid" in response.cookies and "csrftoken" in response.cookies
        client.headers["X-CSRFToken"] = response.cookies["csrftoken"]
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


@pytest.mark.parametrize("status", [403, 401])
async def test_sync_without_a_session_is_refused_as_drf_does(status):
    # 403 when session authentication comes first (DRF's answer), 401 with a token
    # authenticator first: configurable, the client takes both alike.
    emulator = TipsiEmulator(unauthenticated_status=status)
    async with http(emulator) as client:
        response = await sync(client, [item(1, "a")])
    assert response.status_code == status
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert emulator.items(STORE) == {}


async def test_expired_sessions_are_refused_until_the_next_login(emulator):
    async with session(emulator) as client:
        assert emulator.session_count == 1
        assert emulator.expire_sessions() == 1
        assert (await sync(client, [item(1, "a")])).status_code == 403
        await log_in(client)
        assert (await sync(client, [item(1, "a")])).status_code == 200


async def test_sessions_can_be_expired_through_the_inspection_api(emulator):
    async with session(emulator) as client:
        assert (await client.get("/_emulator/sessions")).json() == {"sessions": 1}
        assert (await client.delete("/_emulator/sessions")).json() == {"expired": 1}
        assert (await sync(client, [item(1, "a")])).status_code == 403


# --- UPSERT and sync_clear --------------------------------------------------------------

async def test_sync_upserts_by_external_id_and_creates_unmatched_items(emulator):
    emulator.load_seed({"stores": {str(STORE): [item(10003, "00123345", 1, pos_item_name="old name")]}})
    async with session(emulator) as client:
        response = await sync(client, [item(10003, "00123345", 12), item(10005, "08123456", 33)])
    assert response.json() == {"created_items": 1, "updated_items": 1, "cleared_items": 0}
    items = emulator.items(STORE)
    assert items["10003"] == {"matched": True, "external_id": "10003", "barcodes": ["00123345"],
                              "in_stock": 12, "pos_item_name": "old name", "category": "wine"}  # omitted fields stay
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
    ({"name": "Sancerre"}, "name"),  # Tipsi items have no name: pos_item_name
    ({"special_price": "1.234"}, "special_price"),
    ({"special_price_on": "yes"}, "special_price_on"),
    ({"special_price_amount": 1.5}, "special_price_amount"),
    ({"unit_size": 750}, "unit_size"),
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


async def test_a_sent_barcode_list_replaces_the_item_s_list_and_frees_what_it_left_out(emulator):
    async with session(emulator) as client:
        await sync(client, [{**item(1, "a"), "barcodes": ["a", "b"]}])
        assert (await sync(client, [item(2, "b")])).status_code == 400
        await sync(client, [item(1, "a")])
        assert (await sync(client, [item(2, "b")])).status_code == 200
    assert emulator.items(STORE)["1"]["barcodes"] == ["a"]


async def test_an_external_id_twice_in_a_batch_is_refused(emulator):
    async with session(emulator) as client:
        response = await sync(client, [item(1, "a"), item(1, "b")])
    assert response.status_code == 400
    assert "external_id" in response.json()[1]


@pytest.mark.parametrize("bad, field, message", [
    ({"price": None}, "price", "This field may not be null."),
    ({"unit_size": None}, "unit_size", "This field may not be null."),
    ({"category": None}, "category", "This field may not be null."),
    ({"unit_size": ""}, "unit_size", "This field may not be blank."),
    ({"pos_item_name": "  "}, "pos_item_name", "This field may not be blank."),
    ({"category": ""}, "category", '"" is not a valid choice.'),
    ({"pos_item_name": "x" * 256}, "pos_item_name", "Ensure this field has no more than 255 characters."),
    ({"in_stock": 2**31}, "in_stock", "Ensure this value is less than or equal to 2147483647."),
    ({"barcodes": []}, "barcodes", "This list may not be empty."),
    ({"barcodes": ["a", "a"]}, "barcodes", "A barcode is listed twice."),
])
async def test_no_value_clears_a_field_and_text_has_limits(emulator, bad, field, message):
    # Tipsi keeps what a sync leaves out, and no value clears a field: this is why the
    # provider records what Tipsi still holds when the catalog drops a field.
    async with session(emulator) as client:
        await sync(client, [item(1, "a", unit_size="750ml", price="9.00")])
        response = await sync(client, [{**item(1, "a"), **bad}])
    assert response.status_code == 400
    assert response.json() == [{field: [message]}]
    assert emulator.items(STORE)["1"]["unit_size"] == "750ml"


async def test_a_blank_barcode_is_a_nested_drf_error(emulator):
    async with session(emulator) as client:
        response = await sync(client, [{**item(1, "a"), "barcodes": ["a", ""]}])
    assert response.json() == [{"barcodes": {"1": ["This field may not be blank."]}}]


async def test_a_new_item_needs_barcodes_and_a_category_and_an_update_needs_neither(emulator):
    async with session(emulator) as client:
        bare = await sync(client, [{"external_id": 5, "in_stock": 3}])
        assert bare.status_code == 400
        assert bare.json() == [{"barcodes": ["This field is required."], "category": ["This field is required."]}]
        assert (await sync(client, [item(5, "b5")])).status_code == 200
        update = await sync(client, [{"external_id": 5, "in_stock": 7}])
    assert update.json() == {"created_items": 0, "updated_items": 1, "cleared_items": 0}
    assert emulator.items(STORE)["5"]["category"] == "wine"


async def test_the_category_rule_is_configurable(emulator):
    emulator.require_category = False  # the document's own sample creates 10005 without one
    async with session(emulator) as client:
        assert (await sync(client, [{"external_id": 5, "barcodes": ["b"], "in_stock": 3}])).status_code == 200


# --- CSRF and media types ---------------------------------------------------------------

@pytest.mark.parametrize("headers, cookie, reason", [
    ({}, True, "CSRF token missing."),
    ({"X-CSRFToken": "0" * 32}, True, "CSRF token incorrect."),
    ({"X-CSRFToken": "0" * 32}, False, "CSRF cookie not set."),
    ({"Origin": "http://evil.example"}, True, "Origin checking failed - http://evil.example does not match any trusted origins."),
])
async def test_an_unsafe_request_of_a_session_must_pass_django_s_csrf_check(emulator, headers, cookie, reason):
    async with http(emulator) as client:
        await log_in(client)
        token = client.headers.pop("X-CSRFToken")
        client.headers.update({k: (token if v is None else v) for k, v in headers.items()})
        if not cookie:
            client.cookies.delete("csrftoken")
        response = await sync(client, [item(1, "a")])
    assert response.status_code == 403
    assert response.json() == {"detail": f"CSRF Failed: {reason}"}
    assert emulator.items(STORE) == {}


async def test_over_https_the_referer_must_be_tipsi_itself(emulator):
    async with httpx.AsyncClient(transport=InProcessTransport(emulator.app), base_url="https://tipsi.test") as client:
        await log_in(client)
        assert (await sync(client, [item(1, "a")])).json() == {"detail": "CSRF Failed: Referer checking failed - no Referer."}
        client.headers["Referer"] = "https://elsewhere.test/"
        foreign = await sync(client, [item(1, "a")])
        assert foreign.json() == {"detail": "CSRF Failed: Referer checking failed - https://elsewhere.test/ "
                                            "does not match any trusted origins."}
        client.headers["Referer"] = "https://tipsi.test/"
        assert (await sync(client, [item(1, "a")])).status_code == 200


async def test_a_login_is_csrf_checked_only_when_it_carries_a_live_session(emulator):
    async with http(emulator) as client:
        await log_in(client)
        del client.headers["X-CSRFToken"]
        again = await client.post(LOGIN, json={"username": "shop", "password": "pw"})
        assert again.json() == {"detail": "CSRF Failed: CSRF token missing."}
        emulator.expire_sessions()
        assert (await client.post(LOGIN, json={"username": "shop", "password": "pw"})).status_code == 200


@pytest.mark.parametrize("path", [LOGIN, SYNC.format(STORE)])
async def test_bodies_are_json_only(emulator, path):
    async with session(emulator) as client:
        method = client.post if path == LOGIN else client.patch
        form = await method(path, content=b"username=shop&password=pw",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415
        assert form.json() == {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}
        broken = await method(path, content=b"[{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["detail"].startswith("JSON parse error - ")


# --- older barcode-keyed items ----------------------------------------------------------

OLD_ITEMS = {"stores": {str(STORE): [
    {"external_id": 10003, "barcodes": ["00123345"], "in_stock": 3},
    {"id": 17, "barcodes": ["08123456"], "in_stock": 9, "pos_item_name": "Sparkling Water"},
]}}


async def test_a_barcode_keyed_item_keeps_its_barcode_until_it_is_migrated(emulator):
    emulator.load_seed(OLD_ITEMS)
    async with session(emulator) as client:
        response = await sync(client, [item(10003, "00123345", 12), item(10005, "08123456", 33)])
    assert response.status_code == 400
    assert response.json() == [{}, {"barcodes": ["Barcode 08123456 is already used by item 17 (no external_id) "
                                                 "in this store."]}]
    assert emulator.items(STORE)["10003"]["in_stock"] == 3
    assert emulator.barcode_items_of(STORE) == [{"matched": True, "id": 17, "barcodes": ["08123456"], "in_stock": 9,
                                                 "pos_item_name": "Sparkling Water"}]


async def test_a_barcode_keyed_item_can_be_adopted_by_a_new_external_id_when_configured(emulator):
    emulator.adopt_barcode_items = True
    emulator.load_seed(OLD_ITEMS)
    async with session(emulator) as client:
        response = await sync(client, [item(10005, "08123456", 33)])
    assert response.json() == {"created_items": 0, "updated_items": 1, "cleared_items": 0}
    assert emulator.barcode_items_of(STORE) == []
    assert emulator.items(STORE)["10005"] == {"matched": True, "external_id": "10005", "barcodes": ["08123456"],
                                              "in_stock": 33, "pos_item_name": "Sparkling Water", "category": "wine"}


async def test_sync_clear_zeroes_barcode_keyed_items_too_and_sync_leaves_them(emulator):
    emulator.load_seed(OLD_ITEMS)
    async with session(emulator) as client:
        kept = await sync(client, [item(10003, "00123345", 12)])
        assert kept.json()["cleared_items"] == 0 and emulator.barcode_items_of(STORE)[0]["in_stock"] == 9
        cleared = await sync(client, [item(10003, "00123345", 12)], clear=True)
    assert cleared.json() == {"created_items": 0, "updated_items": 1, "cleared_items": 1}
    assert emulator.barcode_items_of(STORE)[0]["in_stock"] == 0


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
