"""Every request and response example of the syncProduct document, round-tripped.

Request bodies are built the way an apply builds them (catalog -> provider -> the bytes
the client puts on the wire) and compared with the document: byte for byte where the
document prints compact JSON (the sample code's body, the PARAM_ILLEGAL response), and as
JSON with the same key order where the document pretty-prints with irregular indentation
(the six full-sync examples, the status updates, the success response). The document's
examples all use store `s1` named `s1-name`; `catalogs/dstore-examples` holds one store
per example, so the store is set to the document's when the body is built.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from document_examples import (
    ACCOUNT,
    DOCUMENT_EXAMPLES,
    FULL_SYNC_TEXTS,
    REQUEST_ID,
    RESPONSE_PARAM_ILLEGAL,
    RESPONSE_SUCCESS_TEXT,
    SAMPLE_BODY,
    SAMPLE_CURL,
    STATUS_MODIFIERS_TEXT,
    STATUS_SAMPLE_TEXT,
    STATUS_SINGLE_ITEMS_TEXT,
    ordered,
)
from dstore_helpers import STORE, by_id, request_body, sync_body
from project_runner import CATALOGS, ProjectRunner
from reconciler.diff import diff_resources
from reconciler.emulation import InProcessTransport
from reconciler.errors import BackendError
from reconciler.project import load_project
from reconciler.provider import CompileRequest, DesiredStore, Observed, ProviderContext, RetrySettings
from reconciler.sdk import encode_body
from reconciler.validation import validate_project
from reconciler_dstore import signing
from reconciler_dstore.client import DStoreClient
from reconciler_dstore.emulator import SYNC_PRODUCT_PATH

# catalogs/dstore-examples: document example -> its store there
EXAMPLE_STORE = {"basic": "basic", "modifier": "modifier-group", "nested": "nested-modifiers",
                 "variant": "variant", "combo": "combo", "bundle": "bundle"}
DOCUMENT_STORE = {"name": "s1-name"}  # posStoreId s1


def compile_store(provider, view, *, observed=None, full=True):
    """The provider's program for the store as the document's store s1."""
    desired = provider.desired(view)
    desired = DesiredStore(DOCUMENT_STORE, desired.resources)
    observed = observed if observed is not None else Observed({}, {}, "none")
    changes = diff_resources(desired.resources, observed.resources)
    return provider.compile(CompileRequest(
        view=view, remote_id="s1", desired=desired, observed=observed, changes=changes,
        meta_changed=observed.meta != desired.meta, full=full, full_reason="--full was given" if full else "",
        idempotency_key=lambda i: REQUEST_ID))


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    project = load_project(CATALOGS / "dstore-examples")
    return validate_project(project, ProviderContext(project.root, tmp_path_factory.mktemp("work")))


@pytest.mark.parametrize("example", sorted(FULL_SYNC_TEXTS))
def test_each_full_sync_example_is_the_body_an_apply_sends(examples, example):
    provider = examples.providers["demo"]
    view = next(v for v in examples.views if v.store_id == EXAMPLE_STORE[example])
    (action,) = compile_store(provider, view).actions
    assert action.kind == "syncProduct.full" and action.path == "/v2/pos/syncProduct"
    # Same fields, same values, same order of keys at every level as the document prints.
    assert ordered(encode_body(action.body)) == ordered(FULL_SYNC_TEXTS[example][1])


GREEN_TEA = {
    "reconciler.yaml": """\
        backends:
          demo:
            provider: dstore
            url: "https://open-region-pre.alipayplus.com"
            client_id: "375Y903U2Y45KE00600"
            private_key: "${file:client.pem}"
            pos_account_id: bk001
            owned: true
        """,
    "catalog.yaml": """\
        menus:
          m: {currency: SGD, products: {p1: {name: green tea, price: "10.00"}}}
        stores:
          s1: {name: s1-name, menu: m, backends: {demo: {store_id: s1}}}
        """,
}


@pytest.fixture
def green_tea(tmp_path):
    """The sample code's store: one green tea at 10.00 SGD, account bk001, store s1."""
    project = ProjectRunner(tmp_path / "green-tea")
    for name, text in GREEN_TEA.items():
        project.write(name, textwrap.dedent(text))
    private_pem, public_pem = signing.generate_key_pair()
    project.write("client.pem", private_pem)
    return project, signing.load_public_key(public_pem)


def validated(project: ProjectRunner, app=None):
    loaded = load_project(project.root)
    transports = {"demo": InProcessTransport(app)} if app else {}
    return validate_project(loaded, ProviderContext(loaded.root, loaded.work_dir), transports)


class Recorder:
    """A gateway that records what arrives and answers with the document's success body."""

    def __init__(self, answer: bytes = RESPONSE_SUCCESS_TEXT.encode()) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    async def __call__(self, scope, receive, send):
        body = await request_body(receive)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append((scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.answer})


async def test_the_sample_code_body_goes_on_the_wire_byte_for_byte_signed_as_the_curl_sample(green_tea):
    project, public_key = green_tea
    gateway = Recorder()
    checked = validated(project, gateway)
    provider = checked.providers["demo"]
    (action,) = compile_store(provider, checked.views[0]).actions
    assert encode_body(action.body) == SAMPLE_BODY
    try:
        assert await provider.execute(None, action) == {"requestId": REQUEST_ID, "resultCode": "SUCCESS"}
    finally:
        await provider.close()
    [(path, headers, body)] = gateway.requests
    assert body == SAMPLE_BODY
    # The curl sample's URL path and headers, in the same forms.
    curl_path = re.search(r"alipayplus\.com(/\S+)'", SAMPLE_CURL).group(1)
    assert path == curl_path == SYNC_PRODUCT_PATH
    curl_headers = dict(re.findall(r"--header '([^:]+): ([^']*)'", SAMPLE_CURL))
    assert set(curl_headers) <= set(headers)
    assert headers["content-type"].startswith(curl_headers["content-type"])
    assert headers["client-id"] == curl_headers["client-id"]
    shape = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
    assert re.fullmatch(shape, curl_headers["request-time"]) and re.fullmatch(shape, headers["request-time"])
    sample_parts, sent_parts = (signing.parse_signature_header(h["signature"]) for h in (curl_headers, headers))
    assert [k for k in sent_parts] == [k for k in sample_parts] == ["algorithm", "keyVersion", "signature"]
    assert (sent_parts["algorithm"], sent_parts["keyVersion"]) == (sample_parts["algorithm"], sample_parts["keyVersion"])
    content = signing.signed_content("POST", path, headers["client-id"], headers["request-time"], body)
    assert signing.verify(public_key, content, sent_parts["signature"])


@pytest.mark.parametrize(("text", "catalog_status", "held_status"), [
    pytest.param(STATUS_SINGLE_ITEMS_TEXT, "SOLDOUT", "AVAILABLE", id="single-items-example"),
    pytest.param(STATUS_SAMPLE_TEXT, "AVAILABLE", "SOLDOUT", id="sample-code"),
])
def test_each_status_update_example_is_the_body_a_light_apply_sends(green_tea, text, catalog_status, held_status):
    project, _ = green_tea
    project.edit("catalog.yaml", 'price: "10.00"', f'price: "10.00", status: {catalog_status}')
    checked = validated(project)
    provider, view = checked.providers["demo"], checked.views[0]
    held = {key: {**resource, "status": held_status} for key, resource in provider.desired(view).resources.items()}
    program = compile_store(provider, view, observed=Observed(DOCUMENT_STORE, held, "state"), full=False)
    assert program.path == "light"
    (action,) = program.actions
    assert ordered(encode_body(action.body)) == ordered(text)


def repaired(text: str) -> str:
    """The "Modifiers" example made valid JSON: its trailing comma gone, its brace closed."""
    return re.sub(r",(\s*})", r"\1", text) + "}"


def test_the_modifiers_status_example_is_not_json_as_printed_and_carries_store_name():
    with pytest.raises(json.JSONDecodeError):
        json.loads(STATUS_MODIFIERS_TEXT)
    body = json.loads(repaired(STATUS_MODIFIERS_TEXT))
    assert body["store"] == {"posStoreId": "s1", "name": "s1-name"}
    assert body["products"] == [{"posProductId": "M1", "status": "SOLDOUT"}]


async def test_the_modifiers_status_example_is_refused_as_printed_and_repaired_is_a_full_sync(emulator, caller):
    """store.name is optional (the other two status examples leave it out), and "including
    optional parameters results in D-Store processing the request as a full product
    information synchronization": sent to a store holding the combo meal, the repaired
    example leaves M1 alone in it. The client never sends store.name in a status update."""
    combo = [*DOCUMENT_EXAMPLES["combo"], {"posProductId": "M1", "type": "MODIFIER", "status": "AVAILABLE",
                                         "name": "with ice", "price": {"currency": "SGD", "value": 0}}]
    assert (await caller.result(sync_body(combo, "r-combo")))["resultStatus"] == "S"
    as_printed = await caller.result(STATUS_MODIFIERS_TEXT.encode())
    assert (as_printed["resultCode"], as_printed["resultMessage"]) == (
        "PARAM_ILLEGAL", "the request body must be a JSON object")
    assert len(emulator.products(ACCOUNT, STORE)) == 8
    result = await caller.result(repaired(STATUS_MODIFIERS_TEXT).encode())
    assert result["resultStatus"] == "S"
    assert emulator.requests[-1]["mode"] == "full"
    assert emulator.products(ACCOUNT, STORE) == {"M1": {"posProductId": "M1", "status": "SOLDOUT"}}


async def test_the_success_response_is_the_documents_body(emulator, caller):
    response = await caller.post(sync_body(DOCUMENT_EXAMPLES["combo"]))
    # The document pretty-prints it; the gateway's bytes are the same JSON, compact.
    assert ordered(response.content) == ordered(RESPONSE_SUCCESS_TEXT)
    assert response.content == json.dumps(json.loads(RESPONSE_SUCCESS_TEXT), separators=(",", ":")).encode()
    assert emulator.products(ACCOUNT, STORE) == by_id(DOCUMENT_EXAMPLES["combo"])


async def test_the_param_illegal_response_is_the_documents_body_for_non_numeric_input(emulator, caller):
    products = json.loads(FULL_SYNC_TEXTS["basic"][1])["products"]
    products[0]["price"]["value"] = "1000"  # a string: non-numeric input
    response = await caller.post(sync_body(products))
    assert response.content == RESPONSE_PARAM_ILLEGAL
    assert emulator.products(ACCOUNT, STORE) == {}


def client_for(app) -> DStoreClient:
    private_pem, _ = signing.generate_key_pair()
    return DStoreClient("http://dstore.test", "375Y903U2Y45KE00600", signing.load_private_key(private_pem), None,
                        RetrySettings(attempts=3, backoff=0, max_backoff=0, timeout=2), InProcessTransport(app))


async def test_the_client_reads_the_documents_success_body_as_done():
    gateway = Recorder(RESPONSE_SUCCESS_TEXT.encode())
    client = client_for(gateway)
    try:
        result = await client.call(SYNC_PRODUCT_PATH, SAMPLE_BODY, REQUEST_ID)
    finally:
        await client.close()
    assert result == json.loads(RESPONSE_SUCCESS_TEXT)["result"]
    assert len(gateway.requests) == 1


async def test_the_client_reports_the_documents_param_illegal_body_once_with_what_to_do():
    gateway = Recorder(RESPONSE_PARAM_ILLEGAL)
    client = client_for(gateway)
    try:
        with pytest.raises(BackendError) as failure:
            await client.call(SYNC_PRODUCT_PATH, SAMPLE_BODY, REQUEST_ID)
    finally:
        await client.close()
    assert failure.value.code == "PARAM_ILLEGAL" and not failure.value.retryable
    assert str(failure.value).startswith(
        "PARAM_ILLEGAL: Illegal parameters. For example, non-numeric input, invalid date. "
        f"(requestId {REQUEST_ID}): not retried; check the request parameters")
    assert len(gateway.requests) == 1  # F: never retried blindly

