"""Tipsi's pure parts: item mapping, compile, settings, DRF error text, and the client's
re-login rule against the emulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from reconciler.sdk import (BackendError, CompileRequest, DesiredStore, InProcessTransport, Observed,
                            ProviderContext, ResourceChange, RetrySettings)
from reconciler_tipsi import mapping
from reconciler_tipsi.client import TipsiClient, drf_error_text
from reconciler_tipsi.emulator import TipsiEmulator
from reconciler_tipsi.provider import TipsiProvider, TipsiSettings


@pytest.mark.parametrize("value, text", [("12.5", "12.50"), ("12", "12.00"), ("0", "0.00"), ("1.005", "1.005")])
def test_prices_are_decimal_strings(value, text):
    assert mapping.price_text(Decimal(value)) == text


def provider(tmp_path: Path, chunk_size: int = 300) -> TipsiProvider:
    settings = TipsiSettings(url="emulator://", chunk_size=chunk_size)
    return TipsiProvider("tipsi", settings, ProviderContext(tmp_path, tmp_path / ".reconciler"))


def res(key: str, stock: int = 1) -> dict:
    return {"external_id": key, "barcodes": [f"b{key}"], "in_stock": stock, "pos_item_name": key}


def request(desired: dict, observed: dict, full: bool = False, owned: bool = False,
            first_contact: bool = False) -> CompileRequest:
    changes = []
    for key, new in desired.items():
        if key not in observed:
            changes.append(ResourceChange(key=key, op="create", new=new))
        elif observed[key] != new:
            changes.append(ResourceChange(key=key, op="update", old=observed[key], new=new))
    changes += [ResourceChange(key=k, op="delete", old=v) for k, v in observed.items() if k not in desired]
    return CompileRequest(view=None, remote_id="7", desired=DesiredStore({}, desired),
                          observed=Observed({}, observed, "state"), changes=changes, meta_changed=False,
                          full=full, full_reason="--full was given" if full else "",
                          idempotency_key=lambda i: f"key-{i}", owned=owned, first_contact=first_contact)


def test_light_path_sends_full_changed_items_and_zeroes_removed_ones(tmp_path):
    observed = {"a": res("a"), "b": res("b"), "gone": res("gone")}
    desired = {"a": res("a"), "b": res("b", 5), "new": res("new")}
    program = provider(tmp_path).compile(request(desired, observed))
    assert program.path == "light"
    [action] = program.actions
    assert action.path == "/api/rest/v001/store/7/ext/sync" and action.method == "PATCH"
    assert action.body == [res("b", 5), {"external_id": "gone", "in_stock": 0}, res("new")]
    assert action.effect.set == ["b", "new"] and action.effect.remove == ["gone"]
    assert action.retry_safe and not action.effect.replace
    assert "key-0" not in str(action.body)


def test_light_path_chunks_and_full_path_never_does(tmp_path):
    desired = {f"k{i}": res(f"k{i}") for i in range(7)}
    tipsi = provider(tmp_path, chunk_size=3)
    light = tipsi.compile(request(desired, {}))
    assert [len(a.body) for a in light.actions] == [3, 3, 1]
    assert [a.idempotency_key for a in light.actions] == ["key-0", "key-1", "key-2"]
    full = tipsi.compile(request(desired, {}, full=True, owned=True))
    [action] = full.actions
    assert (full.path, action.kind, len(action.body)) == ("full", "ext/sync_clear", 7)
    assert action.effect.replace and action.effect.set == sorted(desired)
    assert light.full_cost == full.full_cost


def test_the_full_path_of_a_store_not_owned_upserts_every_item_and_clears_nothing(tmp_path):
    desired = {f"k{i}": res(f"k{i}") for i in range(7)}
    full = provider(tmp_path, chunk_size=3).compile(request(desired, {"old": res("old")}, full=True))
    assert full.path == "full"
    assert [a.kind for a in full.actions] == ["ext/sync"] * 3
    sent = [item for action in full.actions for item in action.body]
    assert sorted(i["external_id"] for i in sent) == sorted([*desired, "old"])
    assert {"external_id": "old", "in_stock": 0} in sent  # only what the reconciler applied before is zeroed
    assert all(a.effect.unseen == "kept" and not a.effect.replace for a in full.actions)


def test_a_full_resync_of_an_owned_store_says_it_zeroes_barcode_keyed_items_too(tmp_path):
    full = provider(tmp_path).compile(request({"a": res("a")}, {}, full=True, owned=True))
    [action] = full.actions
    assert action.effect.unseen == "cleared"
    assert action.summary == ("sync_clear of 1 item: every other item of the store goes out of stock, items "
                              "without an external_id (Tipsi's older barcode-keyed ones) included")
    assert full.reason == "--full was given; one ext/sync_clear with the whole catalog, never chunked (the store is declared owned)"


def test_the_full_path_of_a_store_not_owned_says_it_clears_nothing_else(tmp_path):
    full = provider(tmp_path).compile(request({"a": res("a")}, {"a": res("a"), "old": res("old")}, full=True))
    assert full.reason == ("--full was given; every item is upserted with ext/sync in 1 ext/sync request and nothing "
                           "the catalog does not name is cleared (the store is not declared owned); 1 item the "
                           "reconciler applied before and the catalog dropped goes to in_stock 0")


@pytest.mark.parametrize("pid, sent", [("10003", 10003), ("0", 0), ("999999999", 999999999), ("1234567890", "1234567890"),
                                       ("0042", "0042"), ("house-red", "house-red"), ("-5", "-5"), ("1e3", "1e3")])
def test_ids_that_read_as_integers_are_sent_as_the_document_s_integers(pid, sent):
    assert mapping.external_id(pid) == sent and type(mapping.external_id(pid)) is type(sent)
    assert mapping.zeroed(pid) == {"external_id": sent, "in_stock": 0}


def with_fields(key: str, stock: int = 1, **fields) -> dict:
    return {**res(key, stock), **fields}


def test_a_field_the_catalog_drops_is_held_and_nothing_is_sent_for_it_alone(tmp_path):
    applied = {"a": with_fields("a", unit_size="750ml", price="9.00", category="wine"), "b": res("b")}
    desired = {"a": with_fields("a", category="wine"), "b": res("b")}
    program = provider(tmp_path).compile(request(desired, applied))
    assert (program.path, program.actions) == ("none", [])
    assert program.reason == "nothing to send: Tipsi cannot clear what the catalog dropped from 1 item (see the note)"
    assert program.held == {"a": applied["a"]}
    assert program.warnings == [
        "Tipsi keeps the price of 1 item the catalog no longer sets: a (9.00). ext/sync cannot clear a field (omitted "
        "fields are not updated, and no documented value clears one); set a price in the catalog, or clear it in "
        "Tipsi. The plan shows this drift until then.",
        "Tipsi keeps the unit_size of 1 item the catalog no longer sets: a (750ml). ext/sync cannot clear a field "
        "(omitted fields are not updated, and no documented value clears one); set a unit_size in the catalog, or "
        "clear it in Tipsi. The plan shows this drift until then."]


def test_a_changed_item_that_drops_a_field_is_sent_and_the_state_keeps_what_tipsi_holds(tmp_path):
    applied = {"a": with_fields("a", unit_size="750ml")}
    desired = {"a": with_fields("a", 5)}
    program = provider(tmp_path).compile(request(desired, applied))
    [action] = program.actions
    assert action.body == [desired["a"]]  # nothing is sent to clear unit_size: nothing can
    assert program.held == {"a": with_fields("a", 5, unit_size="750ml")}
    assert len(program.warnings) == 1 and "Tipsi keeps the unit_size of 1 item" in program.warnings[0]
    owned = provider(tmp_path).compile(request(desired, applied, full=True, owned=True))
    assert owned.held == program.held and owned.actions[0].kind == "ext/sync_clear"


def test_a_first_contact_says_which_fields_it_leaves_to_tipsi(tmp_path):
    desired = {"a": with_fields("a", price="2.00", category="wine"), "b": with_fields("b", category="wine")}
    program = provider(tmp_path).compile(request(desired, {}, full=True, first_contact=True))
    assert program.warnings == ["the catalog leaves out price of 1 item, unit_size of 2 items: where Tipsi already "
                                "holds such an item it keeps its own value (Tipsi is not read, and ext/sync cannot "
                                "clear a field)"]
    assert provider(tmp_path).compile(request(desired, {}, full=True)).warnings == []


def test_no_changes_is_no_action(tmp_path):
    program = provider(tmp_path).compile(request({"a": res("a")}, {"a": res("a")}))
    assert (program.path, program.actions) == ("none", [])


def test_availability_is_stock_above_zero(tmp_path):
    tipsi = provider(tmp_path)
    assert tipsi.available(res("a", 1)) and not tipsi.available(res("a", 0))


def test_a_real_backend_needs_credentials_and_takes_no_seed():
    with pytest.raises(ValidationError, match="needs username, password"):
        TipsiSettings(url="https://integration-test.gettipsi.com")
    with pytest.raises(ValidationError, match="emulator_seed is only for emulator"):
        TipsiSettings(url="https://x", username="u", password="p", emulator_seed="seed.json")
    with pytest.raises(ValidationError):
        TipsiSettings(url="emulator://", login_field="phone")


@pytest.mark.parametrize("body, text", [
    ({"detail": "Not found."}, "Not found."),
    ({"non_field_errors": ["Bad."]}, "Bad."),
    ({"in_stock": ["A valid integer is required."]}, "in_stock: A valid integer is required."),
    ([{}, {"barcodes": ["Taken."], "id": ["No."]}], "[1].barcodes: Taken.; [1].id: No."),
    ("plain text", "plain text"),
])
def test_drf_errors_read_as_one_line(body, text):
    assert drf_error_text(body) == text


async def test_the_client_logs_in_again_only_once_per_attempt():
    emulator = TipsiEmulator()
    emulator.add_user("u", "p")
    emulator.session_user = lambda token: None  # every session is refused at once
    client = TipsiClient("http://t", "username", "u", "p", RetrySettings(attempts=1, backoff=0),
                         InProcessTransport(emulator.app))
    try:
        with pytest.raises(BackendError, match=r"HTTP 403: Authentication credentials were not provided. Tipsi "
                                               r"refused the session again after a fresh login: check that this user "
                                               r"may sync the store."):
            await client.patch("/api/rest/v001/store/1/ext/sync", b"[]")
    finally:
        await client.close()
    assert client.logins == 2
    assert [r["path"].rsplit("/", 1)[-1] for r in emulator.requests] == ["login", "sync", "login", "sync"]


async def test_a_refused_csrf_token_costs_one_fresh_login_and_then_says_what_to_do(monkeypatch):
    from reconciler_tipsi import emulator as tipsi_emulator

    emulator = TipsiEmulator()
    emulator.add_user("u", "secret-pw")
    refusals = iter(["CSRF token incorrect."])
    monkeypatch.setattr(tipsi_emulator, "csrf_failure", lambda request: next(refusals, None))
    client = TipsiClient("http://t", "username", "u", "secret-pw", RetrySettings(attempts=1, backoff=0),
                         InProcessTransport(emulator.app))
    try:
        assert (await client.patch("/api/rest/v001/store/1/ext/sync", b"[]")) == {
            "created_items": 0, "updated_items": 0, "cleared_items": 0}
        assert client.logins == 2
        monkeypatch.setattr(tipsi_emulator, "csrf_failure", lambda request: "CSRF cookie not set.")
        with pytest.raises(BackendError) as refused:
            await client.patch("/api/rest/v001/store/1/ext/sync", b"[]")
    finally:
        await client.close()
    assert str(refused.value) == (
        "HTTP 403: CSRF Failed: CSRF cookie not set. Tipsi refused the CSRF token again after a fresh login: check "
        "that the backend's url is the address Tipsi serves (Django compares the Referer with its own host).")


async def refusal_of(answer: httpx.Response) -> str:
    """What the client says when a Tipsi that logs anyone in answers a sync with `answer`."""
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, json={"detail": "logged in"}, headers={"set-cookie": "sessionid=s-123456789"})
        if request.url.path.endswith("/login") else answer)
    client = TipsiClient("http://t", "username", "u", "p", RetrySettings(attempts=1, backoff=0), transport)
    try:
        with pytest.raises(BackendError) as refused:
            await client.patch("/api/rest/v001/store/1/ext/sync", b"[]")
    finally:
        await client.close()
    return str(refused.value)


@pytest.mark.parametrize("body, said", [
    (b"<html>Bad Request</html>", "HTTP 400: <html>Bad Request</html>"),
    (b"<html>" + b"x" * 400 + b"</html>", "HTTP 400: a non-JSON answer of 413 bytes"),
])
async def test_a_non_json_error_is_quoted_only_when_short_and_never_cut(body, said):
    # A cut text could cut an echoed secret in two, which the redactor would not recognise.
    assert await refusal_of(httpx.Response(400, content=body)) == said


async def test_a_missing_store_says_to_check_the_binding():
    assert await refusal_of(httpx.Response(404, json={"detail": "Not found."})) == (
        "HTTP 404: Not found. Check the store_id of the store's Tipsi binding.")
