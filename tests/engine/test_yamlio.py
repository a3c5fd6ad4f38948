"""YAML reading: exact decimals, duplicate keys, lazy locations, template line maps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler.errors import ConfigError
from reconciler.templates import render_template
from reconciler.yamlio import SourceFile, parse_yaml


def test_numbers_are_exact_decimals():
    data = parse_yaml("a: 10.005\nb: 0.1\nc: 7\n", "f.yaml")
    assert data == {"a": Decimal("10.005"), "b": Decimal("0.1"), "c": 7}
    assert isinstance(data["b"], Decimal)


def test_duplicate_keys_name_both_lines():
    with pytest.raises(ConfigError) as error:
        parse_yaml("menus:\n  m:\n    products:\n      p1: {}\n      p1: {}\n", "menu.yaml")
    assert str(error.value) == "menu.yaml:5:7: error: duplicate key 'p1' (first defined at menu.yaml:4:7); ids must be unique"


def test_syntax_error_has_a_location():
    with pytest.raises(ConfigError, match=r"^bad.yaml:2:"):
        parse_yaml("a: [1, 2\nb: 3\n", "bad.yaml")


def test_a_date_that_is_no_date_is_a_located_error_not_a_crash():
    with pytest.raises(ConfigError) as caught:
        parse_yaml("menus:\n  m:\n    since: 2024-13-45\n", "menu.yaml")
    assert str(caught.value.location) == "menu.yaml:3:12"
    assert "'2024-13-45' reads as a timestamp but is not a valid one; quote it" in str(caught.value)


def test_locate_walks_keys_and_points_at_keys_or_values():
    text = "menus:\n  m:\n    products:\n      p1:\n        name: x\n        price: 1\n"
    source = SourceFile(path=None, display="m.yaml", text=text, data=parse_yaml(text, "m.yaml"))
    assert str(source.locate(("menus", "m", "products", "p1", "price"))) == "m.yaml:6:16"
    assert str(source.locate(("menus", "m", "products", "p1", "price"), at_key=True)) == "m.yaml:6:9"
    # A path that does not exist points at the deepest part that does.
    assert str(source.locate(("menus", "m", "products", "p1", "cost"))) == "m.yaml:5:9"


def test_template_lines_map_back_to_the_template(tmp_path):
    template = tmp_path / "stores.yaml.j2"
    template.write_text(
        "stores:\n"
        "{% for s in vars.stores %}\n"
        "  {{ s }}:\n"
        "    name: {{ 'Store ' ~ s }}\n"
        "    menu: m\n"
        "{% endfor %}\n"
    )
    text, line_map = render_template(template, "stores.yaml.j2", {"vars": {"stores": ["a", "b"]}}, tmp_path)
    data = parse_yaml(text, "stores.yaml.j2", line_map)
    assert list(data["stores"]) == ["a", "b"]
    source = SourceFile(template, "stores.yaml.j2", text, data, line_map)
    assert str(source.locate(("stores", "b", "menu"))) == "stores.yaml.j2:5:11"
    assert str(source.locate(("stores", "a", "name"))) == "stores.yaml.j2:4:11"


def test_template_undefined_name_is_located(tmp_path):
    template = tmp_path / "t.yaml.j2"
    template.write_text("stores:\n  a:\n    name: {{ nope }}\n")
    with pytest.raises(ConfigError, match=r"t.yaml.j2:3.*'nope' is undefined"):
        render_template(template, "t.yaml.j2", {"vars": {}}, tmp_path)
