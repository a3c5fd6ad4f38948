"""Validation parity: what D-Store rejects for a reason the catalog already shows is refused
by `reconciler validate` at its file:line:col, before anything is sent.

Each case is checked both ways: `validate` refuses the catalog at the line of the
mistake, and the body that catalog maps to, sent without validation, is PARAM_ILLEGAL at
the emulator. The limits themselves pass both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from dstore_helpers import ACCOUNT, SUCCESS
from project_runner import ProjectRunner
from reconciler.expand import expand_store
from reconciler.project import load_project
from reconciler.provider import ProviderContext
from reconciler_dstore import mapping
from reconciler_dstore.provider import DStoreBinding, DStoreProvider, DStoreSettings

CONFIG = 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001}\n'
CHOICE = (  # a cola whose group g1 offers p2
    '      p1: {name: cola, price: "3.00", sub_products: [g1]}\n'
    "      g1: {type: GROUP, name: size, sub_products: [p2]}\n"
)


def catalog(products: str, store: str = "", store_id: str = "s1", store_name: str = "s1-name") -> str:
    return ("menus:\n  m:\n    currency: SGD\n    products:\n" + products
            + f"stores:\n  s1:\n    name: {store_name}\n    menu: m\n    backends: {{demo: {{store_id: {store_id}}}}}\n"
            + store)


@dataclass
class Case:
    text: str
    line: int  # 1-based line of the mistake in catalog.yaml
    token: str  # where on that line the problem is located
    phrase: str  # what `validate` says
    emulator_says: str  # what D-Store answers for the same catalog
    nth: int = 1  # which occurrence of token on the line
    store_id: str = "s1"

    @property
    def location(self) -> str:
        content = self.text.split("\n")[self.line - 1]
        starts = [m.start() for m in re.finditer(rf"(?<![\w-]){re.escape(self.token)}(?![\w-])", content)]
        return f"catalog.yaml:{self.line}:{starts[self.nth - 1] + 1}"


CASES = [
    pytest.param(Case(
        catalog(CHOICE.replace("[p2]", "[p2, p2]") + "      p2: {type: MODIFIER, name: large, price: 0}\n"),
        6, "p2", "sub_products lists 'p2' twice", "products[1].subProducts[1] 'p2' is listed twice", nth=2),
        id="sub-product-listed-twice"),
    pytest.param(Case(
        catalog('      p1: {name: cola, price: "3.00", quantity: {min: 0, max: 2147483648}}\n'),
        5, "2147483648", "quantity max 2147483648 is over D-Store's limit of 2147483647",
        "products[0].quantityRule.max must be an integer between 0 and 2147483647"),
        id="quantity-max-over-int32"),
    pytest.param(Case(
        catalog(CHOICE + '      p2: {name: tall, price: "2.00", overloads: {g1: {quantity: {min: 0, max: 2147483648}}}}\n'),
        7, "2147483648", "quantity max 2147483648 is over D-Store's limit",
        "products[2].overloads[0].quantityRule.max must be an integer between 0 and 2147483647"),
        id="overload-quantity-max-over-int32"),
    pytest.param(Case(
        catalog('      p1: {name: cola, price: 21474836.48}\n'),
        5, "21474836.48", "2147483648 minor units; D-Store takes 0..2147483647",
        "products[0].price.value must be an integer between 0 and 2147483647"),
        id="price-over-int32"),
    pytest.param(Case(
        catalog(CHOICE + '      p2: {name: tall, price: "2.00", overloads: {g1: {price: "2.00"}}}\n'),
        7, '"2.00"', "'p2' costs 2.00 in group 'g1' and 2.00 on its own; D-Store takes an overload price only below",
        "products[2].overloads[0].price.value 200 must be lower than products[2].price.value 200", nth=2),
        id="overload-price-not-lower"),
    pytest.param(Case(
        catalog(CHOICE + '      p2: {name: tall, price: "2.00", overloads: {g1: {price: "1.00"}}}\n',
                store="    prices: {p2: \"0.50\"}\n"),
        13, '"0.50"', "'p2' costs 1.00 in group 'g1' and 0.50 on its own",
        "products[2].overloads[0].price.value 100 must be lower than products[2].price.value 50"),
        id="store-price-below-the-overload-price"),
    pytest.param(Case(
        catalog(CHOICE + '      p2: {name: tall, price: "2.00", quantity: {min: 0, max: 5}, '
                         "overloads: {g1: {quantity: {min: 0, max: 5}}}}\n"),
        7, "{min", "the quantity of 'p2' in group 'g1' is the same as its own",
        "products[2].overloads[0].quantityRule must differ from products[2].quantityRule", nth=2),
        id="overload-quantity-same-as-own"),
    pytest.param(Case(
        catalog(CHOICE.replace("[p2]", "[g2]") + "      g2: {type: GROUP, name: ice, sub_products: [p2]}\n"
                + "      p2: {type: MODIFIER, name: with ice, price: 0}\n"),
        6, "g2", "GROUP 'g1' lists GROUP 'g2'; in D-Store a group offers SINGLE or MODIFIER products",
        "products[1].subProducts[0] 'g2' is a GROUP"),
        id="group-lists-a-group"),
    pytest.param(Case(
        catalog('      p1: {name: cola, price: "3.00", sub_products: [p2]}\n      p2: {name: ice, price: 0}\n'),
        5, "p2", "SINGLE 'p1' lists SINGLE 'p2'; in D-Store a product offers choices through GROUPs",
        "products[0].subProducts[0] 'p2' is not a GROUP"),
        id="item-lists-an-item"),
    pytest.param(Case(
        catalog(CHOICE.replace("[p2]}", "[p2], overloads: {g1: {quantity: {min: 0, max: 1}}}}")
                + "      p2: {name: tall, price: 0}\n"),
        6, "{g1", "GROUP 'g1' cannot have overloads", "products[1] is a GROUP and must not have overloads"),
        id="group-with-overloads"),
    pytest.param(Case(
        catalog('      p1: {name: "", price: "3.00"}\n'),
        5, '""', "name is empty", "products[0].name must be a non-empty string"),
        id="empty-name"),
    pytest.param(Case(
        catalog(f'      {"p" * 65}: {{name: cola, price: "3.00"}}\n'),
        5, "p" * 65, "longer than D-Store's 64 characters", "products[0].posProductId must be at most 64 characters"),
        id="product-id-too-long"),
    pytest.param(Case(
        catalog(f'      p1: {{name: {"n" * 256}, price: "3.00"}}\n'),
        5, "n" * 256, "name is longer than D-Store's 255 characters", "products[0].name must be at most 255 characters"),
        id="name-too-long"),
    pytest.param(Case(
        catalog('      p1: {name: cola, price: "3.00"}\n', store_name="n" * 256),
        8, "n" * 256, "store name is longer than D-Store's 255 characters", "store.name must be at most 255 characters"),
        id="store-name-too-long"),
    pytest.param(Case(
        catalog('      p1: {name: cola, price: "3.00"}\n', store_id="s" * 65),
        10, "s" * 65, "posStoreId", "store.posStoreId must be at most 64 characters", store_id="s" * 65),
        id="store-id-too-long"),
]


def project_with(tmp_path, text: str) -> ProjectRunner:
    project = ProjectRunner(tmp_path / "project")
    project.write("reconciler.yaml", CONFIG)
    project.write("catalog.yaml", text)
    return project


def body_without_validation(project: ProjectRunner, store_id: str) -> bytes:
    """The full sync this catalog maps to, built as an apply would if validate let it by."""
    loaded = load_project(project.root)
    provider = DStoreProvider("demo", DStoreSettings(url="emulator://", pos_account_id=ACCOUNT),
                              ProviderContext(loaded.root, loaded.work_dir))
    view = expand_store(loaded.catalog, "s1", "demo", DStoreBinding(store_id=store_id), {})
    desired = provider.desired(view)
    body = mapping.full_sync_body("r-parity", ACCOUNT, store_id, desired.meta, list(desired.resources.values()))
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("case", CASES)
async def test_validate_refuses_at_its_line_what_dstore_rejects(tmp_path, caller, emulator, case):
    project = project_with(tmp_path, case.text)
    result = project.run("validate")
    assert result.exit_code == 1, result.output
    problems = [line for line in result.output.splitlines() if line.startswith(f"{case.location}: error: ")]
    assert any(case.phrase in line for line in problems), result.output
    assert not (project.root / ".reconciler" / "emulators").exists()  # nothing sent
    # The same catalog, sent anyway: D-Store says no.
    answer = await caller.result(body_without_validation(project, case.store_id))
    assert answer["resultCode"] == "PARAM_ILLEGAL", answer
    assert case.emulator_says in answer["resultMessage"]
    assert emulator.products(ACCOUNT, case.store_id) == {}


AT_THE_LIMITS = catalog(
    f'      p1: {{name: {"n" * 255}, price: "3.00", sub_products: [{"g" * 64}]}}\n'
    f'      {"g" * 64}: {{type: GROUP, name: size, quantity: {{min: 0, max: 2147483647}}, sub_products: [p2]}}\n'
    f'      p2: {{name: tall, price: 21474836.47, quantity: {{min: 0, max: 2147483647}},\n'
    f'            overloads: {{{"g" * 64}: {{price: 21474836.46, quantity: {{min: 0, max: 2147483646}}}}}}}}\n',
    store_id="s" * 64, store_name="n" * 255)


async def test_a_catalog_at_every_limit_passes_validate_and_dstore(tmp_path, caller, emulator):
    project = project_with(tmp_path, AT_THE_LIMITS)
    result = project.run("validate")
    assert result.exit_code == 0, result.output
    assert await caller.result(body_without_validation(project, "s" * 64)) == SUCCESS
    assert len(emulator.products(ACCOUNT, "s" * 64)) == 3


async def test_a_free_item_may_be_free_in_a_group_too(tmp_path, caller, emulator):
    """"Always lower" cannot hold for an item that costs nothing: its overload may be free."""
    project = project_with(tmp_path, catalog(CHOICE + '      p2: {name: tall, price: 0, overloads: {g1: {price: 0}}}\n'))
    result = project.run("validate")
    assert result.exit_code == 0, result.output
    assert await caller.result(body_without_validation(project, "s1")) == SUCCESS


def test_a_pos_account_id_over_syncstores_64_characters_is_refused_at_its_value(tmp_path):
    """syncProduct takes 255, but syncStore, which creates the account's stores, takes 64."""
    project = project_with(tmp_path, catalog('      p1: {name: cola, price: "3.00"}\n'))
    project.write("reconciler.yaml", CONFIG.replace("bk001", "a" * 65))
    result = project.run("validate")
    assert result.exit_code == 1
    assert ("reconciler.yaml:2:64: error: backends.demo.pos_account_id: pos_account_id is longer "
            "than D-Store's 64 characters") in result.output
