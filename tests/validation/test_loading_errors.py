"""`reconciler validate` on files that cannot be loaded as they are: YAML syntax,
duplicate ids, the project file's backends, and jinja2 template catalogs.

Every problem is located in the file the user wrote (for a template: the template's
line, not a line of its rendered output), exit 1, nothing sent.
"""

from __future__ import annotations

import pytest

MENU = """\
menus:
  m:
    currency: SGD
    products:
      p1: {name: burger, price: "10.00"}
"""

STORE = """\
stores:
  s1: {name: Store one, menu: m, backends: {demo: {store_id: s1}}}
"""


# -- YAML -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, col, phrase", [
    pytest.param(
        """\
menus:
  m:
    currency: SGD: x
""", 3, len("    currency: SGD") + 1, "mapping values are not allowed", id="colon-in-plain-value"),
    pytest.param(
        """\
menus:
  m:
    currency: SGD
    products:
      p1: {name: burger, price: "10.00"
      p2: {name: fries, price: "3.00"}
""", 6, 7, "expected ',' or '}'", id="unclosed-flow-mapping"),
    pytest.param(
        """\
menus:
  m:
    currency: SGD
   products: {}
""", 4, 4, "did not find expected key", id="bad-indentation"),
])
def test_yaml_syntax_error_is_located(validate_catalog, at, text, line, col, phrase):
    outcome = validate_catalog(text)
    outcome.assert_rejected(at("catalog.yaml", text, line, col=col), "YAML syntax", phrase)


def test_duplicate_product_id_in_one_file_names_both_lines(validate_catalog, at):
    catalog = MENU + '      p1: {name: fries, price: "3.00"}\n' + STORE
    outcome = validate_catalog(catalog)
    first = at("catalog.yaml", catalog, 5, "p1")
    outcome.assert_rejected(at("catalog.yaml", catalog, 6, "p1"), "duplicate key 'p1'", f"first defined at {first}")


def test_duplicate_store_id_across_files_names_both_places(project, at):
    a = MENU + STORE
    b = "stores:\n  s1: {name: Store two, menu: m}\n"
    project.write("a.yaml", a)
    project.write("b.yaml", b)
    outcome = project.validate()
    first = at("a.yaml", a, 7, "s1")
    outcome.assert_rejected(at("b.yaml", b, 2, "s1"), "duplicate id 's1' in stores", f"first defined at {first}")


def test_duplicate_menu_id_across_files_in_catalog_folders(project, at):
    project.write("reconciler.yaml", "catalog: [menus/]\n" + project.root.joinpath("reconciler.yaml").read_text())
    a = MENU
    b = "# the same menu again\nmenus:\n  m: {currency: SGD}\n"
    project.write("menus/a.yaml", a)
    project.write("menus/b.yaml", b)
    outcome = project.validate()
    first = at("menus/a.yaml", a, 2, "m")
    outcome.assert_rejected(at("menus/b.yaml", b, 3, "m"), "duplicate id 'm' in menus", f"first defined at {first}")


# -- reconciler.yaml ------------------------------------------------------------------------

@pytest.mark.parametrize("config, line, token, phrases", [
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001}
  pos: {provider: nope, url: "https://pos.example"}
""", 3, "nope", ["unknown provider 'nope'"], id="unknown-provider"),
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "https://open.example", pos_account_id: bk001}
""", 2, "demo:", ["https://open.example needs client_id, private_key"], id="dstore-without-credentials"),
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "https://open.example", client_id: "375Y", pos_account_id: bk001}
""", 2, "demo:", ["https://open.example needs private_key"], id="dstore-without-private-key"),
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001, colour: red}
""", 2, "colour", ["unknown key 'colour'"], id="dstore-unknown-setting"),
])
def test_project_file_backend_problem(project, at, config, line, token, phrases):
    project.write("reconciler.yaml", config)
    project.write("catalog.yaml", MENU + STORE)
    outcome = project.validate()
    outcome.assert_rejected(at("reconciler.yaml", config, line, token), *phrases)


@pytest.mark.parametrize("config, line, token, message_start", [
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "https://open.example", pos_account_id: bk001}
""", 2, "demo:", "backends.demo: ", id="model-level-error"),
    pytest.param(
        """\
backends:
  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001, colour: red}
""", 2, "colour", "backends.demo.colour: unknown key 'colour'", id="unknown-setting"),
])
def test_backend_setting_messages_name_the_backend(project, at, config, line, token, message_start):
    """Like every other shape message, a backend's starts with its dotted path in the file
    (`backends.demo.provider: missing ...` already does), not with "document" or a bare key."""
    project.write("reconciler.yaml", config)
    project.write("catalog.yaml", MENU + STORE)
    outcome = project.validate()
    location = at("reconciler.yaml", config, line, token)
    outcome.assert_rejected(location)
    assert any(p.startswith(f"{location}: error: {message_start}") for p in outcome.problem_lines), outcome.report


# -- jinja2 templates -----------------------------------------------------------------------

STORES_DATA = """\
- {id: a, name: Store A, menu: m}
- {id: b, name: Store B, menu: nope}
"""

STORES_TEMPLATE = """\
stores:
{% for s in load_yaml('data/stores.yaml') %}
  {{ s.id }}:
    name: {{ s.name }}
    menu: {{ s.menu }}
    backends: {demo: {store_id: {{ s.id }}}}
{% endfor %}
"""


def test_template_problem_points_at_the_template_line(project, at):
    project.write("menus.yaml", MENU)
    project.write("data/stores.yaml", STORES_DATA)
    project.write("stores.yaml.j2", STORES_TEMPLATE)
    outcome = project.validate()
    # Store `b` (the second pass of the loop) names a menu that does not exist; the
    # template wrote that value on its line 5, column 11.
    outcome.assert_rejected(at("stores.yaml.j2", STORES_TEMPLATE, 5, "{{ s.menu }}"), "menu 'nope' is not defined")


def test_template_duplicate_generated_id_points_at_the_template(project, at):
    project.write("menus.yaml", MENU)
    project.write("data/stores.yaml", "- {id: a, name: Store A, menu: m}\n- {id: a, name: Store A2, menu: m}\n")
    project.write("stores.yaml.j2", STORES_TEMPLATE)
    outcome = project.validate()
    key = at("stores.yaml.j2", STORES_TEMPLATE, 3, "{{ s.id }}")
    outcome.assert_rejected(key, "duplicate key 'a'", f"first defined at {key}")


def test_template_undefined_variable(project):
    template = STORES_TEMPLATE.replace("name: {{ s.name }}", "name: {{ region }} {{ s.name }}")
    project.write("menus.yaml", MENU)
    project.write("data/stores.yaml", STORES_DATA)
    project.write("stores.yaml.j2", template)
    outcome = project.validate()
    # jinja2 knows the line, not the column: the location is line 4, column 1.
    outcome.assert_rejected("stores.yaml.j2:4:1", "'region' is undefined")


def test_template_syntax_error(project):
    template = STORES_TEMPLATE.replace("{% endfor %}\n", "")
    project.write("menus.yaml", MENU)
    project.write("data/stores.yaml", STORES_DATA)
    project.write("stores.yaml.j2", template)
    outcome = project.validate()
    outcome.assert_rejected("stores.yaml.j2:6:1", "template syntax", "endfor")


def test_template_data_file_missing(project):
    project.write("menus.yaml", MENU)
    project.write("stores.yaml.j2", STORES_TEMPLATE)
    outcome = project.validate()
    # Like every problem, located `file:line:col`: the line that calls load_yaml.
    outcome.assert_rejected("stores.yaml.j2:2:1", "load_yaml('data/stores.yaml')")
