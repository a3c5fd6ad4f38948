"""`reconciler fmt`: catalog files rewritten canonically, comments kept.

Canonical means: sections in the order menus, units, suppliers, stores; a product's keys
in the order of the catalog model; two-space indentation; no line wrapping. Values,
quoting and comments are left as written (ruamel's round-trip writer).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .model import Product, Store

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
        for menu in (data.get("menus") or {}).values():
            _reorder(menu, MENU_ORDER)
            if isinstance(menu, CommentedMap):
                for product in (menu.get("products") or {}).values():
                    _reorder(product, PRODUCT_ORDER)
        for store in (data.get("stores") or {}).values():
            _reorder(store, STORE_ORDER)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def format_files(paths: list[Path], check: bool) -> list[Path]:
    """Files whose text is not canonical; rewritten unless `check`."""
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        canonical = canonical_text(text)
        if canonical != text:
            changed.append(path)
            if not check:
                path.write_text(canonical, encoding="utf-8")
    return changed
