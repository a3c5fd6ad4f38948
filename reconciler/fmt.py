"""`reconciler fmt`: catalog files rewritten canonically, comments kept.

Canonical means: sections in the order menus, units, suppliers, stores; a product's keys
in the order of the catalog model; two-space indentation; no line wrapping. Values,
quoting and comments are left as written (ruamel's round-trip writer).

A file is first read as `validate` reads it, so one that cannot be read gets the same
located message (and the same limits) rather than a ruamel traceback; templates
(`*.yaml.j2`) are not YAML until rendered, and are left alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import ConfigError, Location, Problem
from .model import Product, Store
from .yamlio import parse_yaml, read_text

SECTION_ORDER = ("menus", "units", "suppliers", "stores")
MENU_ORDER = ("currency", "products")
PRODUCT_ORDER = tuple(Product.model_fields)
STORE_ORDER = tuple(Store.model_fields)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _reorder(mapping: Any, order: tuple[str, ...]) -> None:
    if not isinstance(mapping, CommentedMap):
        return
    rank = {key: i for i, key in enumerate(order)}
    for key in sorted(mapping, key=lambda k: rank.get(k, len(rank))):
        mapping.move_to_end(key)


def canonical_text(text: str) -> str:
    yaml = _yaml()
    data = yaml.load(text)
    if isinstance(data, CommentedMap):
        _reorder(data, SECTION_ORDER)
        for menu in _values(data.get("menus")):
            _reorder(menu, MENU_ORDER)
            if isinstance(menu, CommentedMap):
                for product in _values(menu.get("products")):
                    _reorder(product, PRODUCT_ORDER)
        for store in _values(data.get("stores")):
            _reorder(store, STORE_ORDER)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _values(section: Any) -> list[Any]:
    """The entries of a section; none when it is not a mapping (validate says so)."""
    return list(section.values()) if isinstance(section, CommentedMap) else []


@dataclass
class Formatted:
    changed: list[Path] = field(default_factory=list)  # not canonical (rewritten unless checking)
    skipped: list[Path] = field(default_factory=list)  # templates
    problems: list[Problem] = field(default_factory=list)  # files that cannot be read


def format_files(paths: list[Path], check: bool) -> Formatted:
    """Files whose text is not canonical are rewritten unless `check`."""
    result = Formatted()
    for path in paths:
        if path.name.endswith(".j2"):
            result.skipped.append(path)
            continue
        name = str(path)
        try:
            text = read_text(path, name)
            parse_yaml(text, name)
            canonical = _canonical_or_error(text, name)
        except ConfigError as exc:
            result.problems.append(exc.problem)
            continue
        if canonical != text:
            result.changed.append(path)
            if not check:
                path.write_text(canonical, encoding="utf-8")
    return result


def _canonical_or_error(text: str, name: str) -> str:
    """`canonical_text`, with what ruamel reads differently from libyaml as a ConfigError."""
    try:
        return canonical_text(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        raise ConfigError(f"YAML: {exc.problem or exc.context}", where) from None
    except (YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError(f"YAML: cannot be formatted ({type(exc).__name__})", Location(name)) from None
