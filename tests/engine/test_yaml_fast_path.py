"""The rapidyaml fast path of `parse_yaml` gives exactly what the PyYAML path gives, or declines.

Equal is not enough: `1 == Decimal("1") == True`, so every value is compared with its type
(and Decimals by their digits). Declining is always allowed; answering differently never is.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from reconciler import yamlio
from reconciler.errors import ConfigError
from reconciler.yamlio import _DECLINED, _DuplicateKey, _parse_fast, _parse_reference, parse_yaml

ROOT = Path(__file__).resolve().parents[2]


def _chain():
    spec = importlib.util.spec_from_file_location("bench_chain", ROOT / "tests" / "bench" / "chain.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def identical(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            identical(ka, kb) and identical(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items())
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    return repr(a) == repr(b)  # Decimal("1.0") vs Decimal("1.00"), tz-aware datetimes


DUPLICATE = "a duplicate key"  # what `check` returns when the fast path found one


def check(text: str) -> object:
    """Assert the fast path agrees with the reference; return what the fast path gave.

    A duplicate key is an answer too: the fast path read the whole document as PyYAML
    does, and `parse_yaml` must then report exactly what the reference reports.
    """
    try:
        fast = _parse_fast(text)
    except _DuplicateKey:
        fast = DUPLICATE
    try:
        reference = _parse_reference(text, "doc.yaml")
    except ConfigError as exc:
        if fast is DUPLICATE:
            with pytest.raises(ConfigError) as caught:
                parse_yaml(text, "doc.yaml")
            assert str(caught.value) == str(exc), text
            return fast
        assert fast is _DECLINED, f"fast path accepted what PyYAML rejects: {text!r} -> {fast!r}"
        return fast
    assert fast is not DUPLICATE, f"fast path found a duplicate PyYAML does not: {text!r}"
    if fast is not _DECLINED:
        assert identical(fast, reference), f"{text!r}: fast {fast!r} != reference {reference!r}"
    return fast


# Documents the fast path must read itself (and get right).
ACCEPTED = [
    "",
    "# only a comment\n",
    "\n\n",
    "---\n",
    "--- # explicit start\na: 1\n",
    "# head\n---\na: 1\n",
    "just a scalar\n",
    "'quoted scalar'\n",
    "10.005\n",
    "- a\n- 1\n- 1.5\n",
    "[1, '2', \"3\"]\n",
    "a: 10.005\nb: \"10.005\"\nc: '10.005'\nd: 1e3\ne: .5\nf: -.5\ng: 1.0\nh: 0.10\n",
    "i: 0777\nj: 0o17\nk: 0x1F\nl: 1_000\nm: 1:30\nn: -1:30\no: +5\np: 0b101\nq: 00\nr: 08\n",
    "a: yes\nb: no\nc: on\nd: off\ne: Y\nf: N\ng: True\nh: FALSE\ni: y\nj: n\n",
    "a: ~\nb: null\nc: Null\nd:\ne: ''\nf: \"\"\ng: '~'\n",
    "- \n- ~\n-\n",
    "a: 2024-01-02\nb: 2024-01-02 10:30:00\nc: 2024-01-02T10:30:00Z\nd: 2001-12-14t21:59:43.10-05:00\ne: '2024-01-02'\n",
    "name: Café ☕ 😀\n\"quoted key\": 1\n'single': 2\n3: three\n1.5: x\n",
    "a: {b: 1, c: [1, 2, {d: e}], f: {}}\ng: []\n",
    "m0-1: {type: SINGLE, name: \"item 0-1\", price: \"1.10\", quantity: {min: 0, max: 10}, "
    "overloads: {g0: {price: \"0.10\", quantity: {min: 0, max: 2}}}}\n",
    "a: b # comment\n# full-line comment\nc: d#not a comment\n",
    "a: first line\n  second line\n\n  new paragraph\nb: next\n",
    "a: 'multi\n  line'\nb: \"dq\n\n  para\"\n",
    "url: http://example.com/a?b=c#d\ntime: 12:30\n",
    "a:\n  - 1\n  - b: 2\n    c: 3\n  -\n    - nested\n",
    "a:\n- 1\n- 2\n",
    "a: it's\nb: \"it's\"\nc: 'it''s'\n",
    "a: -5\nb: -x\nc: x-y\nd: a - b\n",
    "# the document's \"basic\" sample. Its 'price' - there: [1]\na: 1\n",
    "a: {b: 1,\n    c: 2}\n",
    "- [a, b]\n- {c: d}\n",
]

# Documents the fast path must leave to PyYAML (which accepts or rejects them itself).
DECLINED = [
    "a: &x 1\nb: *x\n",
    "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n",
    "<<: {x: 1}\n",
    "a: !!str 1\n",
    "a: !custom x\n",
    "--- 1\n--- 2\n",
    "a: 1\n---\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: |\n  literal\n  block\n",
    "a: >\n  folded\n  block\n",
    "a: |-\n  x\n",
    "? [a, b]\n: c\n",
    "? a\n: b\n",
    "a:\tb\n",
    "\ufeffa: 1\n",
    "a: 1\r\nb: 2\r\n",
    "a: \"tab\\there\"\n",
    "a: x\x85b\n",
    "yes: 1\nno: 2\n",
    "~: 1\n",
    "2024-01-02: x\n",
    "a: .inf\n",
    "a: -.Inf\n",
    "a: .nan\n",
    "a: 2024-13-45\n",
    "a: =\n",
    "a: [b: 1, c:]\n",
    "- [a] - b\n",
    "- 'a' - b\n",
    "- [] ...\n",
    "b:\n- \"a\" k: v\n",
    "- b:\n  - [x]   'k': v\n",
    "- \"x\n  # y\" k: v\n",
    "a: {b: x\n\n}\n",
    "a: {b: c # comment\n}\n",
    "'multi\n  line key': 1\n",
    "a: @x\n",
    "a: `x\n",
    "k" * 300 + ": 1\n",
]


# Documents either path may read: only agreement is required.
OTHERS = [
    "a: '  padded  '\nb: \" \"\n",
    "a: x\n  # comment\n  y\n",
    "- a\n-\n  - b\n- - c\n  - d\n",
    "a: [b, {c: d}, [e]]  # trailing\n",
    "a:\n\n\n  b: 1\n\n",
    "[]\n",
    "{}\n",
    "- {}\n- []\n- ''\n",
    "a: 'x' # it's\n",
]


# Documents with a duplicate key that the fast path reads to the end and reports itself,
# at the places (and with the message) PyYAML gives; the first repetition in document
# order wins, as in PyYAML, even when an inner mapping repeats a key too.
DUPLICATES = [
    "a: 1\na: 2\n",
    "{a: 1, a: 2}\n",
    "1: x\n1.0: y\n",
    "'1': x\n1: y\n1: z\n",
    "a:\n  b: 1\n  b: 2\na: 3\n",
    "a: {x: 1}\nb: {y: [1, {z: 1, z: 2}]}\nb: 4\n",
    "a: 1\nb: {c: 1, c: 2}\na: 2\n",
    "- [1, {k: v, \"k\": w}]\n",
    "m:\n  0x1F: a\n  31: b\n",
    "m: {1.50: a, 1.5: b}\n",
]


@pytest.mark.parametrize("text", OTHERS)
def test_other_documents_agree(text):
    check(text)


@pytest.mark.parametrize("text", DUPLICATES)
def test_duplicates_are_reported_by_the_fast_path_as_pyyaml_reports_them(text):
    assert check(text) is DUPLICATE


@pytest.mark.parametrize("text", ACCEPTED)
def test_common_documents_are_read_fast_and_identically(text):
    assert check(text) is not _DECLINED, f"fast path declined {text!r}"


@pytest.mark.parametrize("text", DECLINED)
def test_unusual_documents_are_left_to_pyyaml(text):
    assert check(text) is _DECLINED


def test_types_are_exact():
    data = _parse_fast("a: 10.005\nb: \"10.005\"\nc: 7\nd: yes\ne: 2024-01-02\nf:\ng: 0x1F\n")
    assert identical(data, _parse_reference("a: 10.005\nb: \"10.005\"\nc: 7\nd: yes\ne: 2024-01-02\nf:\ng: 0x1F\n", "d"))
    assert [type(v).__name__ for v in data.values()] == ["Decimal", "str", "int", "bool", "date", "NoneType", "int"]
    assert str(data["a"]) == "10.005"


def _yaml_files():
    files = sorted(ROOT.glob("catalogs/**/*.yaml")) + sorted(ROOT.glob("tests/**/*.yaml"))
    return [path for path in files if ".reconciler" not in path.parts]


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_yaml_files(path):
    check(path.read_text(encoding="utf-8"))


def test_catalogs_are_read_by_the_fast_path():
    catalogs = [path for path in _yaml_files() if path.parts[len(ROOT.parts)] == "catalogs"]
    assert catalogs
    declined = [str(path) for path in catalogs if _parse_fast(path.read_text(encoding="utf-8")) is _DECLINED]
    assert declined == []


def test_generated_chain_files_match_and_are_accepted():
    chain = _chain()
    menu, stores = chain.menu_yaml(products_per_menu=300), chain.stores_yaml(20)
    assert check(menu) is not _DECLINED
    assert check(stores) is not _DECLINED
    assert check(chain.big_file(500)) is not _DECLINED
    # The realistic chain: a menu with inventory fields, and one store's file (full stock).
    assert check(chain.menu_yaml(products_per_menu=300, inventory=True)) is not _DECLINED
    assert check(chain.realistic_stores(8)[0].text()) is not _DECLINED


def test_the_benchmark_file_is_read_by_the_fast_path():
    data = _parse_fast(_chain().big_file())
    assert data is not _DECLINED
    products = data["menus"]["big"]["products"]
    assert len(products) == 10_000
    assert identical(products["p1234"], {"name": "product 1234", "price": "34.34",
                                         "quantity": {"min": 0, "max": 5}, "barcodes": ["10001234"]})


def test_duplicate_keys_still_name_both_places():
    text = "menus:\n  m:\n    products:\n      p1: {}\n      p1: {}\n"
    with pytest.raises(_DuplicateKey):
        _parse_fast(text)
    with pytest.raises(ConfigError) as error:
        parse_yaml(text, "menu.yaml")
    assert str(error.value) == (
        "menu.yaml:5:7: error: duplicate key 'p1' (first defined at menu.yaml:4:7); ids must be unique"
    )
    with pytest.raises(ConfigError, match=r"^m.yaml:1:15: error: duplicate key 'a' \(first defined at m.yaml:1:2\)"):
        parse_yaml("{a: 1, b: 2,  a: 3}\n", "m.yaml")


@pytest.mark.parametrize(("text", "where"), [
    ("a: [1, 2\nb: 3\n", "bad.yaml:2:2"),
    ("a: b: c\n", "bad.yaml:1:5"),
    ("a: 'unterminated\n", "bad.yaml:2:1"),
    ("- [a] - b\n", "bad.yaml:1:7"),
])
def test_syntax_errors_have_a_location_and_nothing_on_stderr(text, where, capfd):
    with pytest.raises(ConfigError) as error:
        parse_yaml(text, "bad.yaml")
    assert str(error.value).startswith(f"{where}: error: YAML syntax:")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


@pytest.mark.parametrize("value", [".inf", "-.inf", ".NaN"])
def test_non_finite_numbers_are_located(value):
    with pytest.raises(ConfigError) as error:
        parse_yaml(f"menus:\n  m: {{price: {value}}}\n", "m.yaml")
    assert str(error.value) == f"m.yaml:2:14: error: {value!r} is not a finite number"


def test_without_rapidyaml_the_pyyaml_path_answers(monkeypatch):
    monkeypatch.setattr(yamlio, "_ryml", None)
    assert _parse_fast("a: 1\n") is _DECLINED
    assert identical(parse_yaml("a: 10.005\n", "f.yaml"), {"a": Decimal("10.005")})


# A seeded random sample of small documents built from awkward pieces: whatever the fast
# path accepts must be what PyYAML gives. (Run with more seeds when changing the fast path.)
_PIECES = ["a", "b c", "1", "1.5", "0777", "0x1F", "1:30", "yes", "Off", "~", "null", "2024-01-02", "é😀",
           "'q'", "'it''s'", '"d"', '""', "-1", ".5", "1e3", "x:y", "a # c", "x#y", "[]", "{}", "[1, b]",
           "{k: v}", "{k: [1, {m: n}]}", "'m\n  l'", "p\n  q", "-", "@", "*", "&", "!", "|", ">", "?", ":"]


def _random_document(rng: random.Random, depth: int = 0, indent: str = "") -> str:
    if depth > 2 or rng.random() < 0.4:
        return rng.choice(_PIECES)
    inner = indent + rng.choice(["  ", "  ", " ", "    "])
    if rng.random() < 0.5:
        return "".join(f"\n{inner}- {_random_document(rng, depth + 1, inner)}" for _ in range(rng.randint(1, 3)))
    lines = [f"\n{inner}{rng.choice(_PIECES[:22])}:{rng.choice([' ', '  ', ''])}{_random_document(rng, depth + 1, inner)}"
             for _ in range(rng.randint(1, 3))]
    return "".join(lines) + rng.choice(["", " # c", "\n"])


def test_random_documents_match_the_reference():
    rng = random.Random(20240611)
    accepted = 0
    for _ in range(400):
        text = _random_document(rng).lstrip("\n")
        if rng.random() < 0.2:  # an odd indentation
            text = text.replace("\n ", "\n", 1)
        accepted += check(text + "\n") is not _DECLINED
    assert accepted > 100  # the sample is not all declines
