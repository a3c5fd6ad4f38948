"""`reconciler validate` rejects each broken catalog rule with a located problem.

Each case is a minimal catalog that is valid except for one thing; the test checks the
exit code, the exact `file:line:col` a user would open, a phrase of the message, and
that nothing was sent. Line numbers are those of the YAML written here.
"""

from __future__ import annotations

import pytest

# Lines 1-4; products start on line 5.
MENU_HEAD = """\
menus:
  m:
    currency: {currency}
    products:
"""

# Appended after the products: one store on menu `m`, published to `demo`.
STORE = """\
stores:
  s1:
    name: Store one
    menu: m
    backends: {demo: {store_id: s1}}
"""


def menu_catalog(products: str, currency: str = "SGD") -> str:
    return MENU_HEAD.format(currency=currency) + products + STORE


# (products written from line 5, expected line, token there, message phrases; id)
PRODUCT_CASES = [
    pytest.param(
        """\
      p1:
        name: burger
        prcie: "10.00"
""", 7, "prcie", ["unknown key 'prcie'"], id="unknown-key-typo"),
    pytest.param(
        """\
      p1:
        name: [burger, fries]
        price: "10.00"
""", 6, "[burger", ["menus.m.products.p1.name", "valid string"], id="name-is-a-list"),
    pytest.param(
        """\
      p1:
        name: burger
        price: yes
""", 7, "yes", ["menus.m.products.p1.price", "must be a decimal number"], id="price-is-a-bool"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        quantity: {min: yes, max: 2}
""", 8, "yes", ["menus.m.products.p1.quantity.min"], id="quantity-is-a-bool"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        sub_products: [fries]
""", 8, "fries", ["sub_products names 'fries'", "not a product of menu 'm'"], id="sub-product-missing"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        overloads: {g: {price: 0}}
""", 8, "g", ["overload names 'g'", "not a product of menu 'm'"], id="overload-missing"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        overloads: {p2: {price: 0}}
      p2: {name: fries, price: "3.00"}
""", 8, "p2", ["overload names 'p2'", "not a GROUP"], id="overload-not-a-group"),
    pytest.param(
        """\
      g: {type: GROUP, name: choice, sub_products: [p2]}
      p1:
        name: burger
        price: "10.00"
        overloads: {g: {price: 0}}
      p2: {name: fries, price: "3.00"}
""", 9, "g", ["overload names group 'g'", "does not list 'p1'"], id="overload-group-does-not-list-it"),
    pytest.param(
        """\
      a: {name: burger, price: "10.00", sub_products: [g]}
      g: {type: GROUP, name: choice, sub_products: [a]}
""", 5, "[g]", ["cycle in sub_products: a -> g -> a"], id="sub-product-cycle"),
    pytest.param(
        """\
      p1: {name: burger, price: "10.00"}
      g: {type: GROUP, name: choice}
""", 6, "g", ["GROUP 'g' has no sub_products"], id="group-without-sub-products"),
    pytest.param(
        """\
      p1: {name: burger, price: "10.00"}
      g: {type: GROUP, name: choice, price: "1.00", sub_products: [p1]}
""", 6, '"1.00"', ["GROUP 'g' cannot have a price"], id="group-with-price"),
    pytest.param(
        """\
      p1: {name: burger}
""", 5, "p1", ["SINGLE 'p1' needs a price"], id="single-without-price"),
    pytest.param(
        """\
      p1: {name: burger, price: "10.00"}
      ice: {type: MODIFIER, name: with ice}
""", 6, "ice", ["MODIFIER 'ice' needs a price"], id="modifier-without-price"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        quantity: {min: 3, max: 1}
""", 8, "{min", ["quantity min 3 is greater than max 1"], id="quantity-min-above-max"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        quantity: {min: -1, max: 1}
""", 8, "{min", ["must not be negative"], id="quantity-negative"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        overloads: {g: {quantity: {min: 2, max: 1}}}
      g: {type: GROUP, name: choice, sub_products: [p1]}
""", 8, "{min", ["quantity min 2 is greater than max 1"], id="overload-quantity-min-above-max"),
    pytest.param(
        f"""\
      {"p" * 65}: {{name: burger, price: "10.00"}}
""", 5, "p" * 65, ["product id", "longer than D-Store's 64 characters"], id="product-id-too-long"),
    pytest.param(
        f"""\
      p1: {{name: {"n" * 256}, price: "10.00"}}
""", 5, "n" * 256, ["name is longer than D-Store's 255 characters"], id="name-too-long"),
    pytest.param(
        """\
      p1:
        name: burger
        price: 10.005
""", 7, "10.005", ["10.005 SGD has more precision than SGD allows"], id="sgd-precision-unquoted"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.005"
""", 7, '"10.005"', ["10.005 SGD has more precision than SGD allows"], id="sgd-precision-quoted"),
    pytest.param(
        """\
      p1:
        name: burger
        price: 21474836.48
""", 7, "21474836.48", ["2147483648 minor units", "0..2147483647"], id="price-above-int32-minor-units"),
    pytest.param(
        """\
      p1:
        name: burger
        price: -1.00
""", 7, "-1.00", ["price -1.00 is negative"], id="negative-price"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        unit: kg
""", 8, "kg", ["unit 'kg' is not defined in units"], id="unit-undefined"),
    pytest.param(
        """\
      p1:
        name: burger
        price: "10.00"
        supplier: sup9
""", 8, "sup9", ["supplier 'sup9' is not defined in suppliers"], id="supplier-undefined"),
]


@pytest.mark.parametrize("products, line, token, phrases", PRODUCT_CASES)
def test_product_rule(validate_catalog, at, products, line, token, phrases):
    catalog = menu_catalog(products)
    outcome = validate_catalog(catalog)
    # One mistake, one problem.
    outcome.assert_rejected(at("catalog.yaml", catalog, line, token), *phrases, count=1)


@pytest.mark.parametrize("price, token", [("10.5", "10.5"), ('"10.5"', '"10.5"')], ids=["unquoted", "quoted"])
def test_jpy_has_no_decimal_places(validate_catalog, at, price, token):
    catalog = menu_catalog(f"      p1: {{name: ramen, price: {price}}}\n", currency="JPY")
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, 5, token),
                            "10.5 JPY has more precision than JPY allows", "no decimal places")


def test_unknown_currency(validate_catalog, at):
    catalog = menu_catalog('      p1: {name: burger, price: "10.00"}\n', currency="XYZ")
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, 3, "XYZ"), "unknown currency 'XYZ'")


@pytest.mark.parametrize("products", [
    pytest.param(f'      {"p" * 64}: {{name: burger, price: "10.00"}}\n', id="id-of-64-chars"),
    pytest.param(f'      p1: {{name: {"n" * 255}, price: "10.00"}}\n', id="name-of-255-chars"),
    pytest.param('      p1: {name: burger, price: 21474836.47}\n', id="price-of-2147483647-minor-units"),
    pytest.param('      p1: {name: ramen, price: 1050}\n', id="whole-price"),
    pytest.param('      p1: {name: burger, price: 0, quantity: {min: 0, max: 0}}\n', id="zero-price-and-quantity"),
])
def test_limits_themselves_are_accepted(validate_catalog, products):
    outcome = validate_catalog(menu_catalog(products))
    assert outcome.exit_code == 0, outcome.report
    assert outcome.stdout.startswith("ok: 1 menus, 1 stores, 1 store bindings"), outcome.report
    outcome.assert_nothing_sent()


def test_more_than_1500_products_for_one_store(validate_catalog, at):
    products = "".join(f'      p{i:04}: {{name: item {i}, price: "1.00"}}\n' for i in range(1501))
    catalog = menu_catalog(products)
    menu_line = 5 + 1501 + 3  # products, then `stores:`, `s1:`, `name:`, then `menu: m`
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, menu_line, "m"),
                            "has 1501 products", "at most 1500")


def test_1500_products_are_accepted(validate_catalog):
    products = "".join(f'      p{i:04}: {{name: item {i}, price: "1.00"}}\n' for i in range(1500))
    outcome = validate_catalog(menu_catalog(products))
    assert outcome.exit_code == 0, outcome.report
    outcome.assert_nothing_sent()


# -- stores ---------------------------------------------------------------------------------

# Lines 1-8; the store's remaining keys start on line 9.
STORE_HEAD = """\
menus:
  m:
    currency: SGD
    products:
      p1: {name: burger, price: "10.00"}
stores:
  s1:
    name: Store one
"""

STORE_CASES = [
    pytest.param(
        """\
    menu: nope
    backends: {demo: {store_id: s1}}
""", 9, "nope", ["menu 'nope' is not defined in menus"], id="menu-missing"),
    pytest.param(
        """\
    menu: m
    backends: {demo: {store_id: s1}}
    prices: {fries: "2.00"}
""", 11, "fries", ["prices names 'fries'", "not a product of menu 'm'"], id="prices-names-missing-product"),
    pytest.param(
        """\
    menu: m
    backends: {demo: {store_id: s1}}
    status: {fries: SOLDOUT}
""", 11, "fries", ["status names 'fries'", "not a product of menu 'm'"], id="status-names-missing-product"),
    pytest.param(
        """\
    menu: m
    backends: {tipsi: {store_id: s1}}
""", 10, "tipsi", ["backend 'tipsi' is not defined in reconciler.yaml"], id="backend-not-in-project"),
    pytest.param(
        """\
    menu: m
    backends: {demo: {store_id: s1, shop: 2}}
""", 10, "shop", ["unknown key 'shop'"], id="binding-unknown-key"),
    pytest.param(
        """\
    menu: m
    backends: {demo: {}}
""", 10, "demo: {}", ["missing required key 'store_id'"], id="binding-without-store-id"),
]


@pytest.mark.parametrize("rest, line, token, phrases", STORE_CASES)
def test_store_rule(validate_catalog, at, rest, line, token, phrases):
    catalog = STORE_HEAD + rest
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, line, token), *phrases, count=1)


def test_binding_with_wrong_key_also_reports_missing_store_id(validate_catalog, at):
    catalog = STORE_HEAD + """\
    menu: m
    backends:
      demo:
        name: s1
"""
    outcome = validate_catalog(catalog)
    # Two problems by nature: the unknown key on line 12, and the missing store_id
    # located at the binding's own key, `demo:` on line 11.
    outcome.assert_rejected(at("catalog.yaml", catalog, 12, "name"), "unknown key 'name'", count=2)
    outcome.assert_rejected(at("catalog.yaml", catalog, 11, "demo"), "missing required key 'store_id'", count=2)


def test_store_price_override_is_checked_like_a_menu_price(validate_catalog, at):
    catalog = STORE_HEAD + """\
    menu: m
    backends: {demo: {store_id: s1}}
    prices: {p1: 9.999}
"""
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, 11, "9.999"), "9.999 SGD has more precision than SGD allows")


def test_negative_price_is_one_problem_not_two(validate_catalog, at):
    """One mistake, one message: the engine's "is negative" rule already covers it, so the
    D-Store range check should not report the same value again at the same place."""
    catalog = menu_catalog('      p1:\n        name: burger\n        price: -1.00\n')
    outcome = validate_catalog(catalog)
    outcome.assert_rejected(at("catalog.yaml", catalog, 7, "-1.00"), "is negative", count=1)


# Messages start with the dotted path of the offending value, as shape errors of products
# do (`menus.m.products.p1.prcie: unknown key ...`). For a store binding the path must be
# the binding's place in the catalog, not the word "document" or a bare key.
@pytest.mark.parametrize("backends, line, token, message_start", [
    pytest.param("{demo: {store_id: s1, shop: 2}}", 10, "shop",
                 "stores.s1.backends.demo.shop: unknown key 'shop'", id="unknown-key"),
    pytest.param("{demo: {}}", 10, "demo",
                 "stores.s1.backends.demo: missing required key 'store_id'", id="missing-store-id"),
])
def test_binding_messages_name_the_binding(validate_catalog, at, backends, line, token, message_start):
    catalog = STORE_HEAD + f"    menu: m\n    backends: {backends}\n"
    outcome = validate_catalog(catalog)
    location = at("catalog.yaml", catalog, line, token)
    outcome.assert_rejected(location, count=1)
    assert any(p.startswith(f"{location}: error: {message_start}") for p in outcome.problem_lines), outcome.report
