"""`validate` and `fmt --check` never crash, hang or lose the location, whatever the files hold.

A seeded sample of mutated example catalogs (tests/support/fuzz.py), then the cases that
once broke, each as a test of its own. Every run: exit 0 or 1, no traceback, every error at a
`file:line:col`, within a time and memory guard (sanity bounds against hangs and
blow-ups, not performance assertions).
"""

from __future__ import annotations

import os

import pytest
import yaml

from fuzz import Run, problems_with, run_case, run_cli
from reconciler import yamlio
from reconciler.errors import ConfigError
from reconciler.yamlio import MAX_ALIAS_VALUES, MAX_DEPTH, SourceFile, _parse_fast, parse_yaml

CASES = int(os.environ.get("RECONCILER_FUZZ_CASES", "40"))


def assert_behaved(run: Run, context: str = "") -> None:
    found = problems_with(run)
    assert not found, f"{context}\n{' '.join(run.args)}: {found}\n--- stderr\n{run.stderr}"


def test_mutated_examples_are_rejected_cleanly(tmp_path):
    failures = []
    rejected = 0
    for seed in range(CASES):
        what, runs = run_case(seed, tmp_path)
        for run in runs:
            rejected += run.exit_code == 1
            found = problems_with(run)
            if found:
                failures.append(f"{what}: {' '.join(run.args)}: {found}\n{run.stderr}")
    assert not failures, "\n\n".join(failures)
    assert rejected > CASES // 2  # the mutations do break things


# -- the cases that once broke ------------------------------------------------------------

DEMO = 'backends:\n  demo: {provider: dstore, url: "emulator://", pos_account_id: bk001}\n'
MENU = """\
menus:
  m:
    currency: SGD
    products:
      p1: {name: burger, price: PRICE}
stores:
  s1: {name: Store one, menu: m, backends: {demo: {store_id: s1}}}
"""


def write_project(root, files: dict[str, str | bytes]):
    root.mkdir(parents=True, exist_ok=True)
    (root / "reconciler.yaml").write_text(DEMO)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def validate(root) -> Run:
    run = run_cli(root, "validate")
    assert_behaved(run)
    return run


@pytest.mark.parametrize("price, phrase", [
    pytest.param("1" * 5000, "a number of 5,000 characters; numbers have at most 100", id="plain-int"),
    pytest.param("1" * 5000 + ".5", "a number of 5,002 characters", id="plain-decimal"),
    pytest.param('"' + "1" * 5000 + '"', "price: must be below 10^15 and have at most 30 digits", id="quoted"),
    pytest.param('"1e5000"', "price: must be below 10^15", id="quoted-exponent"),
])
def test_a_price_of_thousands_of_digits_is_located(tmp_path, price, phrase):
    root = write_project(tmp_path / "p", {"catalog.yaml": MENU.replace("PRICE", price)})
    run = validate(root)
    assert run.exit_code == 1
    assert "catalog.yaml:5:33: error: " in run.stderr and phrase in run.stderr, run.stderr


def test_prices_keep_exact_decimals(tmp_path):
    root = write_project(tmp_path / "p", {"catalog.yaml": MENU.replace("PRICE", "10.005")})
    run = validate(root)
    assert "catalog.yaml:5:33: error: price 10.005 SGD has more precision than SGD allows" in run.stderr


@pytest.mark.parametrize("name", ["catalog.yaml", "catalog.yaml.j2"])
def test_a_byte_that_is_not_utf8_is_located(tmp_path, name):
    root = write_project(tmp_path / "p", {name: MENU.replace("PRICE", '"1.00"').encode().replace(b"burger", b"burg\xe9r")})
    run = validate(root)
    column = len("      p1: {name: burg") + 1
    assert run.stderr.startswith(f"{name}:5:{column}: error: byte 0xe9 is not UTF-8 text; save the file as UTF-8"), run.stderr


@pytest.mark.parametrize("char", ["\x07", "\x00", "\x1b"])
def test_a_control_character_is_located(tmp_path, char):
    root = write_project(tmp_path / "p", {"catalog.yaml": MENU.replace("PRICE", '"1.00"').replace("burger", f"bur{char}ger")})
    run = validate(root)
    column = len("      p1: {name: bur") + 1
    assert run.stderr.startswith(f"catalog.yaml:5:{column}: error: character U+{ord(char):04X} is not allowed in YAML"), run.stderr
    assert "position" not in run.stderr


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["lols:", f"  x0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    root = write_project(tmp_path / "p", {"catalog.yaml": alias_bomb()})
    run = validate(root)
    # a0 stands for 10 values, a1 for 91, ... a5 for 597,871: the aliases of lines 3-7
    # repeat 672,588 values, and the first alias of a5 on line 8 passes the limit.
    assert run.stderr.startswith(
        f"catalog.yaml:8:12: error: this document has aliases that repeat more than {MAX_ALIAS_VALUES:,} values "
        "('a5' stands for 597,871)"), run.stderr
    assert "alias bomb" in run.stderr


def test_the_fast_path_reads_no_alias_and_the_reference_counts_them_on_events(monkeypatch):
    assert _parse_fast(alias_bomb()) is yamlio._DECLINED
    # Refused while counting events: the node tree is never composed.
    monkeypatch.setattr(yamlio._Loader, "get_single_node", lambda self: pytest.fail("composed an alias bomb"))
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_yaml(alias_bomb(), "bomb.yaml")


def test_ordinary_aliases_are_read():
    text = "defaults: &d {name: x, price: '1.00'}\nmenus:\n  m:\n    products:\n      a: *d\n      b: {<<: *d, name: y}\n"
    data = parse_yaml(text, "m.yaml")
    assert data["menus"]["m"]["products"] == {"a": {"name": "x", "price": "1.00"}, "b": {"name": "y", "price": "1.00"}}


def test_deep_nesting_is_refused_at_its_place():
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    assert _parse_fast(text) is yamlio._DECLINED
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "deep.yaml")
    assert str(caught.value) == f"deep.yaml:1:{4 + MAX_DEPTH - 1}: error: nested more than {MAX_DEPTH} levels deep; a catalog needs far fewer"


def big_menu(products: int) -> str:
    lines = ["menus:", "  big:", "    currency: SGD", "    products:"]
    lines += [f'      p{i}: {{name: "product {i}", price: "{i % 50}.{i % 100:02d}"}}' for i in range(products)]
    return "\n".join(lines) + "\n"


def test_a_duplicate_in_a_big_file_is_located_without_a_second_full_parse(monkeypatch):
    lines = big_menu(3000).split("\n")
    lines.insert(2500, '      p1000: {name: "again", price: "1.00"}')
    text = "\n".join(lines)
    reference = yamlio._parse_reference
    monkeypatch.setattr(yamlio, "_parse_reference", lambda *a: pytest.fail("read the file a second time"))
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: pytest.fail("composed the file"))
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "menu.yaml")
    assert str(caught.value) == ("menu.yaml:2501:7: error: duplicate key 'p1000' (first defined at "
                                 "menu.yaml:1005:7); ids must be unique")
    monkeypatch.setattr(yamlio, "_parse_reference", reference)
    with pytest.raises(ConfigError) as again:
        reference(text, "menu.yaml")
    assert str(again.value) == str(caught.value)  # what PyYAML itself says


def test_locating_a_few_problems_walks_events_and_many_compose_once(monkeypatch):
    text = big_menu(200)
    lines = text.split("\n")
    expected = [f"menu.yaml:{5 + i}:{lines[4 + i].index('price: ') + 8}" for i in range(0, 200, 10)]
    composed = []
    real_compose = yaml.compose
    monkeypatch.setattr(yaml, "compose", lambda *a, **k: composed.append(1) or real_compose(*a, **k))
    source = SourceFile(None, "menu.yaml", text, parse_yaml(text, "menu.yaml"))
    where = []
    for n, i in enumerate(range(0, 200, 10)):
        where.append(str(source.locate(("menus", "big", "products", f"p{i}", "price"))))
        assert len(composed) == (0 if n < SourceFile.WALKS_BEFORE_COMPOSING else 1)
    assert where == expected


@pytest.mark.parametrize("text, phrase, where", [
    pytest.param("menus:\n  m: [1\n", "YAML", "catalog.yaml:3:1", id="syntax"),
    pytest.param("menus:\n  m: {a: 1, a: 2}\n", "duplicate key 'a'", "catalog.yaml:2:13", id="duplicate"),
    pytest.param(MENU.replace("PRICE", "1" * 5000), "a number of 5,000 characters", "catalog.yaml:5:33", id="long-number"),
])
def test_fmt_check_on_a_file_it_cannot_read_says_where(tmp_path, text, phrase, where):
    root = write_project(tmp_path / "p", {"catalog.yaml": text})
    # As the pre-commit hook runs it: file names, from the repository root.
    run = run_cli(root, "fmt", "--check", str(root / "catalog.yaml"))
    assert_behaved(run)
    assert run.exit_code == 1
    assert f"{root / where}: error: " in run.stderr and phrase in run.stderr, run.stderr
    assert "cannot be read as YAML and were not formatted" in run.stderr


def test_fmt_leaves_templates_alone(tmp_path):
    template = "stores:\n{% for s in [] %}\n  {{ s }}: {name: x}\n{% endfor %}\n"
    root = write_project(tmp_path / "p", {"stores.yaml.j2": template})
    run = run_cli(root, "fmt", "--check", str(root / "stores.yaml.j2"))
    assert_behaved(run)
    assert run.exit_code == 0 and "templates are not formatted" in run.stderr
    assert (root / "stores.yaml.j2").read_text() == template


def test_fmt_orders_sections_that_are_of_the_wrong_kind_without_crashing(tmp_path):
    # validate says what is wrong with them; fmt only puts the sections in order.
    root = write_project(tmp_path / "p", {"catalog.yaml": "stores: [a]\nmenus:\n  m: {products: [x]}\n"})
    run = run_cli(root, "fmt", str(root / "catalog.yaml"))
    assert_behaved(run)
    assert run.exit_code == 0
    assert (root / "catalog.yaml").read_text() == "menus:\n  m: {products: [x]}\nstores: [a]\n"


def test_a_project_file_that_cannot_be_read_is_a_located_problem(tmp_path):
    root = write_project(tmp_path / "p", {"catalog.yaml": "menus: {}\n"})
    (root / "reconciler.yaml").write_text(DEMO + "backends: {}\n")
    run = validate(root)
    assert run.stderr.splitlines() == [
        "reconciler.yaml:3:1: error: duplicate key 'backends' (first defined at reconciler.yaml:1:1); ids must be unique",
        "error: 1 problem found; nothing was sent",
    ]
