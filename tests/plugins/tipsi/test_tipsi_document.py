"""The examples of Tipsi's POS sync document, byte for byte where it shows bytes.

The document shows one batch twice: as a Python literal and as the C# sample's JSON
string (`", "` and `": "` separators). The mapping builds the same items from a catalog
(plus `pos_item_name` and `category`, which every catalog item carries), the client sends
the C# bytes unchanged, and the emulator does what the document says: "update items with
external ids 10003 and 10004, and ... create a new item with ext id 10005".
"""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from reconciler.sdk import BackendError, InProcessTransport, RetrySettings, StockEntry, StoreProduct, encode_body
from reconciler.model import Product
from reconciler_tipsi import mapping
from reconciler_tipsi.client import TipsiClient
from reconciler_tipsi.emulator import ITEM_FIELDS, TipsiEmulator

# The C# sample's StringContent, unescaped: the bytes the document sends.
CSHARP_BODY = (b'[{"external_id": 10003, "barcodes": ["00123345"], "in_stock": 12}, '
               b'{"external_id": 10004, "barcodes": ["08234123"], "in_stock": 12}, '
               b'{"external_id": 10005, "barcodes": ["08123456"], "in_stock": 33}]')
# The Python sample's `batch`, as written.
PYTHON_BATCH = [{'external_id': 10003, 'barcodes': ['00123345'], 'in_stock': 12},
                {'external_id': 10004, 'barcodes': ['08234123'], 'in_stock': 12},
                {'external_id': 10005, 'barcodes': ['08123456'], 'in_stock': 33}]
SYNC_PATH = "/api/rest/v001/store/19771/ext/sync"  # the samples' URL, without the host
# The sync answer as API-FACTS writes it.
ANSWER_KEYS = ["created_items", "updated_items", "cleared_items"]


def catalog_items() -> list[dict]:
    """The sample's three products as a catalog would have them, through the mapping."""
    products = {"10003": ("Chianti Classico 2019", "00123345", 12, "wine"),
                "10004": ("Sancerre 2021", "08234123", 12, "wine"),
                "10005": ("Sparkling Water", "08123456", 33, "drink")}
    return [mapping.item_resource(StoreProduct(pid, Product(name=name, barcodes=[barcode], category=category),
                                               None, "AVAILABLE", StockEntry(quantity=Decimal(stock))))
            for pid, (name, barcode, stock, category) in products.items()]


def test_the_python_and_csharp_samples_are_one_batch():
    assert json.loads(CSHARP_BODY) == PYTHON_BATCH
    assert mapping.sync_path("19771") == SYNC_PATH


def test_the_mapping_builds_the_document_s_batch_byte_for_byte():
    items = catalog_items()
    sample_fields = [{k: item[k] for k in ("external_id", "barcodes", "in_stock")} for item in items]
    # The document's own separators; the keys come out in the document's order.
    assert json.dumps(sample_fields, separators=(", ", ": ")).encode() == CSHARP_BODY
    # What is really sent: the same items, compact, with the fields every catalog item has.
    sent = json.loads(encode_body(items))
    assert [{k: v for k, v in item.items() if k not in ("pos_item_name", "category")} for item in sent] == PYTHON_BATCH
    assert all(set(item) <= ITEM_FIELDS and "id" not in item for item in sent)  # Tipsi's own id is never sent


class RecordingTransport(InProcessTransport):
    """The in-process emulator, keeping the exact bytes of each request and answer."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.exchanges: list[tuple[bytes, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.exchanges.append((request.content, response.content))
        return response


def sample_store(**options) -> tuple[TipsiEmulator, RecordingTransport, TipsiClient]:
    emulator = TipsiEmulator(**options)
    emulator.add_user("shop", "sample-password")
    emulator.load_seed({"stores": {"19771": [{"external_id": 10003, "barcodes": ["00123345"], "in_stock": 3},
                                              {"external_id": 10004, "barcodes": ["08234123"], "in_stock": 7}]}})
    transport = RecordingTransport(emulator.app)
    client = TipsiClient("https://integration-test.gettipsi.com", "username", "shop", "sample-password",
                         RetrySettings(attempts=1, backoff=0), transport)
    return emulator, transport, client


async def test_the_csharp_bytes_update_10003_and_10004_and_create_10005():
    # The sample creates 10005 without a category: the reading in which Tipsi allows that.
    emulator, transport, client = sample_store(require_category=False)
    try:
        answer = await client.patch(SYNC_PATH, CSHARP_BODY)
    finally:
        await client.close()
    sent, raw_answer = transport.exchanges[-1]
    assert sent == CSHARP_BODY  # the client sends the bytes it is given, unchanged
    assert answer == {"created_items": 1, "updated_items": 2, "cleared_items": 0}
    assert list(json.loads(raw_answer)) == ANSWER_KEYS  # parsed: API-FACTS writes it with spaces, Tipsi need not
    items = emulator.items(19771)
    assert {k: (v["in_stock"], v["matched"]) for k, v in items.items()} == {
        "10003": (12, True), "10004": (12, True), "10005": (33, False)}


async def test_under_the_facts_category_rule_the_sample_s_new_item_is_refused_by_name():
    emulator, _transport, client = sample_store()
    try:
        with pytest.raises(BackendError) as refused:
            await client.patch(SYNC_PATH, CSHARP_BODY, ["10003", "10004", "10005"])
    finally:
        await client.close()
    assert str(refused.value) == (
        "HTTP 400: item 10005: category: This field is required. Tipsi refused the whole batch and applied none of "
        "it: correct the items named above in the catalog and apply again.")
    assert emulator.items(19771)["10003"]["in_stock"] == 3  # nothing of the batch was applied
