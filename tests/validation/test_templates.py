"""Templates (`*.yaml.j2`) cannot silently corrupt data: every `{{ ... }}` value reads back
as exactly what it was, `|raw` writes YAML as it is, and a problem with a value from a
CSV file names the CSV line and column as well as the template line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciler.errors import ConfigError
from reconciler.project import load_project
from reconciler.templates import render_template
from reconciler.yamlio import parse_yaml

MENU = """\
menus:
  m:
    currency: SGD
    products:
      set-meal: {name: set meal, price: "20.00"}
      cola: {name: cola, price: "3.00"}
"""

TEMPLATE = """\
stores:
{% for s in load_csv("data/stores.csv") %}
  {{ s.id }}:
    name: {{ s.name }}
    menu: m
    backends: {demo: {store_id: {{ s.dstore_id }}}}
    prices: {set-meal: {{ s.price }}}
{% endfor %}
"""

CSV = """\
id,name,dstore_id,price
jurong,Jurong #1 Point,sg-003,19.50
orchard,no,123,20.00
"""


def chain(project, csv: str = CSV, template: str = TEMPLATE):
    project.write("menu.yaml", MENU)
    project.write("data/stores.csv", csv)
    project.write("stores.yaml.j2", template)
    return project


def stores_of(project) -> dict:
    return {key: store for key, store in load_project(project.root).catalog.stores.items()}


def test_csv_values_read_back_exactly(project):
    outcome = chain(project).validate()
    assert outcome.exit_code == 0, outcome.report
    stores = stores_of(project)
    assert stores["jurong"].name == "Jurong #1 Point"  # not "Jurong": '#' starts no comment
    assert stores["orchard"].name == "no"  # not False
    assert stores["orchard"].backends["demo"] == {"store_id": "123"}  # the CSV's text
    assert stores["jurong"].prices["set-meal"] == Decimal("19.50")  # a quoted decimal is a decimal
    assert str(stores["jurong"].prices["set-meal"]) == "19.50"


def test_strings_with_quotes_backslashes_and_control_characters_survive(tmp_path):
    template = tmp_path / "t.yaml.j2"
    template.write_text("values:\n{% for v in vars.texts %}\n  - {{ v }}\n{% endfor %}\n")
    tricky = ['say "hi"', "back\\slash", "tab\there", "line\nbreak", "bell\x07", "nel\x85", "ls\u2028",
              "'single'", "# not a comment", "- not a list", "{not: a map}", "*alias", "&anchor", "!tag",
              "", " padded ", "yes", "~", "null", "0x1F", "1e3", "2024-01-02", "\ue000marker\ue001", "é😀"]
    text, line_map = render_template(template, "t.yaml.j2", {"vars": {"texts": tricky}}, tmp_path)
    assert parse_yaml(text, "t.yaml.j2", line_map) == {"values": tricky}


def test_numbers_booleans_and_collections_from_vars_keep_their_type(tmp_path):
    template = tmp_path / "t.yaml.j2"
    template.write_text("a: {{ vars.price }}\nb: {{ vars.count }}\nc: {{ vars.flag }}\nd: {{ vars.none }}\n"
                        "e: {{ vars.list }}\nf: {{ vars.map }}\ng: {{ vars.big }}\nh: Store {{ vars.count }}\n")
    context = {"vars": {"price": Decimal("10.005"), "count": 3, "flag": True, "none": None,
                        "list": ["x", 1, Decimal("1.50")], "map": {"k": "v #1", "n": 2}, "big": Decimal("1E+3")}}
    text, line_map = render_template(template, "t.yaml.j2", context, tmp_path)
    data = parse_yaml(text, "t.yaml.j2", line_map)
    assert data == {"a": Decimal("10.005"), "b": 3, "c": True, "d": None, "e": ["x", 1, Decimal("1.50")],
                    "f": {"k": "v #1", "n": 2}, "g": "1E+3", "h": "Store 3"}
    assert str(data["a"]) == "10.005"


def test_raw_writes_the_value_as_it_is(project):
    template = TEMPLATE.replace("    menu: m\n", "    menu: m\n    {{ vars.extra | raw }}\n")
    project.write("reconciler.yaml", project.root.joinpath("reconciler.yaml").read_text()
                  + "vars:\n  extra: 'status: {cola: SOLDOUT}'\n")
    outcome = chain(project, template=template).validate()
    assert outcome.exit_code == 0, outcome.report
    assert stores_of(project)["jurong"].status == {"cola": "SOLDOUT"}


def test_a_value_the_catalog_rejects_names_the_csv_row(project, at):
    csv = CSV.replace("orchard,no,123,20.00", "orchard,Orchard,sg-001,20.0O")
    outcome = chain(project, csv=csv).validate()
    line = outcome.assert_rejected(at("stores.yaml.j2", TEMPLATE, 7, "{{ s.price }}"), "stores.orchard.prices.set-meal")
    assert line.endswith("(value from data/stores.csv:3, column 'price')"), line


def test_invalid_yaml_from_a_raw_value_names_the_csv_row(project, at):
    template = TEMPLATE.replace("name: {{ s.name }}", "name: {{ s.name | raw }}")
    # Written raw, "Jurong #1 Point" would be "Jurong" and a comment; "a: b" is no YAML there.
    outcome = chain(project, csv=CSV.replace("Jurong #1 Point", "a: b"), template=template).validate()
    line = outcome.assert_rejected(at("stores.yaml.j2", template, 4, col=12), "YAML syntax")
    assert line.endswith("(value from data/stores.csv:2, column 'name')"), line


def test_a_quoted_value_is_refused_with_a_hint(project, at):
    template = TEMPLATE.replace("{{ s.price }}}", '"{{ s.price }}"}')
    outcome = chain(project, template=template).validate()
    line = outcome.assert_rejected(at("stores.yaml.j2", template, 7, col=25), "quoted for you; remove the quotes")
    assert "(value from data/stores.csv:2, column 'price')" in line


def test_a_value_inside_longer_text_is_refused(project, at):
    template = TEMPLATE.replace("name: {{ s.name }}", "name: Store {{ s.name }}")
    outcome = chain(project, template=template).validate()
    outcome.assert_rejected(at("stores.yaml.j2", template, 4, col=17), "would become part of a longer text",
                            '{{ "Store " ~ s.name }}')
    fixed = TEMPLATE.replace("name: {{ s.name }}", 'name: {{ "Store " ~ s.name }}')
    assert chain(project, template=fixed).validate().exit_code == 0
    assert stores_of(project)["jurong"].name == "Store Jurong #1 Point"


@pytest.mark.parametrize("line", [
    "    # {{ s.name }} in a comment",
    "    name: {{ s.name }}  # a comment after it",
    "    backends: {demo: {store_id: {{ s.dstore_id }}}, other: [{{ s.id }}, {{ s.name }}]}",
])
def test_values_standing_alone_or_in_comments_are_accepted(tmp_path, line):
    template = tmp_path / "t.yaml.j2"
    template.write_bytes((line.strip() + "\r\n" + line.strip() + "\n").encode())  # Windows line ends too
    render_template(template, "t.yaml.j2", {"s": {"name": "n", "dstore_id": "d", "id": "i"}}, tmp_path)


def test_a_csv_row_without_a_value_per_column_is_located_in_the_csv(project):
    outcome = chain(project, csv=CSV.replace("orchard,no,123,20.00", "orchard,no,123")).validate()
    outcome.assert_rejected("data/stores.csv:3:1", "one value per column of the header (4 columns)")


def test_a_csv_that_is_not_utf8_is_located_in_the_csv(project):
    chain(project)
    (project.root / "data/stores.csv").write_bytes(CSV.encode().replace(b"Orchard", b"Orch\xe9rd").replace(b",no,", b",n\xe9,"))
    outcome = project.validate()
    outcome.assert_rejected("data/stores.csv:3:10", "byte 0xe9 is not UTF-8 text")


def test_an_undefined_name_in_a_template_still_raises(tmp_path):
    template = tmp_path / "t.yaml.j2"
    template.write_text("a: {{ nope }}\n")
    with pytest.raises(ConfigError, match=r"t.yaml.j2:1:1: error: template: 'nope' is undefined"):
        render_template(template, "t.yaml.j2", {"vars": {}}, tmp_path)
