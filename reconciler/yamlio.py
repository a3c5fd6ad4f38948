"""Reading YAML fast while still being able to say where a value is.

The hot path parses with rapidyaml into plain dicts when the text is one it reads exactly
as PyYAML does, and with libyaml (PyYAML's C loader) otherwise; libyaml's reading is the
definition of the result and the one that reports errors. Positions are not kept for
every value: when a problem needs one, `Locator` composes that one file again (in C) and
walks the node tree along the problem's key path. Floats become `Decimal` built from the
text as written, so `10.005` stays `10.005` and is never rounded.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ConfigError, Location

try:  # libyaml is optional at install time; the pure-Python loader gives the same result
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag; bounded below


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with exact decimals and an error on duplicate keys."""

    source_name = "<yaml>"
    line_map: list[int] | None = None

    def resolve(self, kind, value, implicit):  # type: ignore[override]
        # PyYAML tries a list of regular expressions on every scalar, in Python; that was
        # the largest cost of reading a big catalog. Quoted scalars are always strings and
        # collections have fixed tags; plain scalars are resolved once per distinct text.
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_TAGS) < 100_000:
                    _PLAIN_TAGS[value] = tag
            return tag
        return _MAP if kind is yaml.MappingNode else _SEQ


def _exact_decimal(text: str) -> Decimal | None:
    """A float-tagged scalar as the Decimal it spells, or None when it is not finite."""
    try:
        value = Decimal(text.replace("_", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _construct_decimal(loader: _Loader, node: yaml.ScalarNode) -> Any:
    value = _exact_decimal(node.value)
    if value is None:
        raise ConfigError(
            f"{node.value!r} is not a finite number", _mark_location(loader, node.start_mark)
        )
    return value


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    seen: dict[Any, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, Decimal, bool)) or key is None:
            raise ConfigError(
                "a mapping key must be a plain value", _mark_location(loader, key_node.start_mark)
            )
        if key in seen:
            first = _mark_location(loader, seen[key].start_mark)
            raise ConfigError(
                f"duplicate key {key!r} (first defined at {first}); ids must be unique",
                _mark_location(loader, key_node.start_mark),
            )
        seen[key] = key_node
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _mark_location(loader: _Loader, mark: Any) -> Location:
    line = mark.line + 1
    if loader.line_map is not None:
        line = loader.line_map[min(mark.line, len(loader.line_map) - 1)]
    return Location(loader.source_name, line, mark.column + 1)


def parse_yaml(text: str, source_name: str, line_map: list[int] | None = None) -> Any:
    """Parse one YAML document; syntax errors become a ConfigError with a location.

    The rapidyaml fast path answers when it can; what it declines, PyYAML reads.
    """
    data = _parse_fast(text)
    if data is _DECLINED:
        data = _parse_reference(text, source_name, line_map)
    return data


def _parse_reference(text: str, source_name: str, line_map: list[int] | None = None) -> Any:
    """The PyYAML reading: the definition of the result, and the one that reports errors."""
    loader = _Loader(text)
    loader.source_name = source_name
    loader.line_map = line_map
    try:
        node = loader.get_single_node()
        return None if node is None else _convert(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = _mark_location(loader, mark) if mark else Location(source_name)
        raise ConfigError(f"YAML syntax: {exc.problem or exc.context}", location) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML: {exc}", Location(source_name)) from None
    finally:
        loader.dispose()


_INT, _FLOAT, _BOOL, _NULL = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                              "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _convert(loader: _Loader, node: yaml.Node) -> Any:
    """The node tree as plain Python, without PyYAML's generic constructor.

    The common tags are converted inline (this is the hot loop of reading a catalog);
    anything unusual (timestamps, binary, merge keys, odd integer forms) goes to the
    loader's own constructors, so the result is what `get_single_data` would give.
    """
    if isinstance(node, yaml.ScalarNode):
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _FLOAT:
            return _construct_decimal(loader, node)
        if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):
            return int(value)
        if tag == _BOOL and value.lower() in _BOOLS:
            return _BOOLS[value.lower()]
        if tag == _NULL:
            return None
        try:
            return loader.construct_object(node, deep=True)
        except ValueError:  # a date-shaped text that is no date, as 2024-13-45
            kind = tag.rsplit(":", 1)[-1]
            raise ConfigError(f"{value!r} reads as a {kind} but is not a valid one; quote it to keep it "
                              "as text", _mark_location(loader, node.start_mark)) from None
    if isinstance(node, yaml.MappingNode):
        if any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
            return _construct_mapping(loader, node, deep=True)
        result: dict[Any, Any] = {}
        first: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = _convert(loader, key_node)
            if not isinstance(key, (str, int, Decimal)) or isinstance(key, bool):
                raise ConfigError("a mapping key must be a plain value", _mark_location(loader, key_node.start_mark))
            if key in first:
                where = _mark_location(loader, first[key].start_mark)
                raise ConfigError(f"duplicate key {key!r} (first defined at {where}); ids must be unique",
                                  _mark_location(loader, key_node.start_mark))
            first[key] = key_node
            result[key] = _convert(loader, value_node)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item) for item in node.value]
    return loader.construct_object(node, deep=True)


# -- the fast path: rapidyaml -------------------------------------------------------------
#
# Composing nodes is most of what libyaml spends on a big catalog. rapidyaml parses the same
# text some forty times faster into a tree that keeps every scalar's style, and style is all
# YAML 1.1 typing needs: quoted scalars are strings, plain ones go through the resolver and
# `_convert` above, so both paths share one definition of every value. The fast path only
# has to be right when it answers: whatever it does not reproduce exactly (and any error)
# it declines, and `_parse_reference` reads the text again and reports with locations.

try:
    import ryml as _ryml_api
    from ryml import _ryml

    # The rules below that decide what to decline were worked out against rapidyaml 0.15
    # (by comparing with PyYAML on many generated documents); another release is only
    # used once they have been checked against it again.
    if tuple(_ryml_api.version_tuple[:2]) != (0, 15):
        _ryml = None
except Exception:  # not installed, or a wheel that does not load on this machine
    _ryml = None

_DECLINED = object()  # what `_parse_fast` returns when the reference path must decide
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_FAST_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL, _TIMESTAMP})  # merge, value: no
_KEY_TYPES = (str, int, Decimal)  # exact types, so bool keys (an error) are declined
_PLAIN_VALUES: dict[str, Any] = {}  # plain scalar text -> value or _DECLINED; bounded
_STDERR_LOCK = threading.Lock()

# PyYAML reads \x85, \u2028 and \u2029 as line breaks and rejects other control characters;
# tabs, CR, a BOM and backslash escapes are rare in catalogs and each has rules of its own
# in either library, so any text with one of them is left to PyYAML.
_ASCII_OK = b"\n" + bytes(range(0x20, 0x5C)) + bytes(range(0x5D, 0x7F))
_UNSAFE_CHAR = re.compile(
    r"[^\n\x20-\x5b\x5d-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_COMMENTS_ONLY = re.compile(rb"(?:[ ]*(?:#[^\n]*)?\n)*")
# rapidyaml (YAML 1.2) lets a plain scalar start with characters PyYAML rejects or reads as
# indicators there, and in flow collections it keeps " #" (a comment for libyaml) in one.
_NOT_PLAIN_START = frozenset(",[]{}#&*!|>'\"%@`?:")
_LONG_KEY = 256  # libyaml gives up on a simple key 1,024 characters before its ':'
# Forms the libraries disagree about (one takes what the other rejects): explicit keys
# (`? key`, or a line opening with ':'), directives, indented document markers, a ':' right
# before a flow indicator (`{a:}`), more on a line after a quoted or flow node (rapidyaml
# reads `- "a" - b` as two entries, and `- "a" k: v` as an entry and a key of the parent
# map), and a quoted key that spans lines (looked for only when a key could be one: any
# quoted scalar that starts where a node can and runs over its line end).
_EXPLICIT_KEY = re.compile(rb"\?(?:[ \n]|\Z)")
_ODD_LINE_START = re.compile(rb"\n(?: *(?::|\.\.\.|%)| +---)")
_COLON_BEFORE_FLOW_END = re.compile(rb":[,\]}]")
_MORE_AFTER_NODE = re.compile(rb"""[]}'"](?: +[^ \n#:,\]}]| *(?:-(?:[- \n,\]}]|\Z)|\.\.\.))""")
_QUOTED_OVER_LINES = re.compile(rb"""(?:^ *|[-:,[{] *)(?:'(?:[^'\n]|'')*|"[^"\n]*)\n""", re.M)


class _Decline(Exception):
    """Raised inside the tree walk: this document is left to the PyYAML path."""


def _parse_fast(text: str) -> Any:
    """The document exactly as `_parse_reference` reads it, or `_DECLINED`."""
    if _ryml is None:
        return _DECLINED
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _DECLINED
    if not _safe_text(text, data):
        return _DECLINED
    tree = _ryml_api.Tree()
    with _quiet_stderr():
        try:
            _ryml.parse_csubstr(data, tree)
        except Exception:  # ryml.ExceptionParse and friends
            return _DECLINED
    loader = _Loader("")  # resolves and constructs scalars exactly as the reference path
    # The walk makes tens of thousands of dicts and lists and no cycles; the cycle
    # collector, run every few hundred of them, would take a third of its time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _tree_value(tree, data, loader)
    except (_Decline, RecursionError):
        return _DECLINED
    finally:
        if collecting:
            gc.enable()
        loader.dispose()


def _safe_text(text: str, data: bytes) -> bool:
    """Nothing in the text that the two libraries might read differently.

    These are searches over the whole text, so each is a single C-level scan (a few
    milliseconds for a megabyte); the rarer characters are tested for first.
    """
    if text.isascii():
        if data.translate(None, _ASCII_OK):
            return False
    elif _UNSAFE_CHAR.search(text):
        return False
    if b"?" in data and _EXPLICIT_KEY.search(data):
        return False
    if _ODD_LINE_START.search(b"\n" + data) or _COLON_BEFORE_FLOW_END.search(data):
        return False
    if b" " * _LONG_KEY in data or _more_after_node(data):
        return False
    # One explicit document start is fine if only comments precede it; anything more makes
    # a stream, and PyYAML's "expected a single document" must be the one to say so.
    if data.startswith(b"---"):
        marker = 0
    else:
        marker = data.find(b"\n---")
        if marker < 0:
            return True
        marker += 1
    return data.find(b"\n---", marker) < 0 and _COMMENTS_ONLY.fullmatch(data, 0, marker) is not None


def _more_after_node(data: bytes) -> bool:
    """Whether a quoted or flow node may be followed by more on its line (see above).

    The search also finds quotes in comments, as in `# the "basic" sample`; a line that
    opens with '#' is a comment unless a quoted scalar spanning lines holds it.
    """
    in_comments = False
    for match in _MORE_AFTER_NODE.finditer(data):
        line = data.rfind(b"\n", 0, match.start()) + 1
        if not data[line:match.start()].lstrip(b" ").startswith(b"#"):
            return True
        in_comments = True
    return in_comments and _QUOTED_OVER_LINES.search(data) is not None


@contextmanager
def _quiet_stderr():
    """Keep rapidyaml's own error report (written to fd 2 before it raises) off the console.

    The PyYAML path reports the same problem properly. rapidyaml's Python binding has no
    way to replace that handler, so fd 2 points at the null device for the parse. The
    parse holds the GIL, so other Python threads cannot write to stderr meanwhile (only
    in the microseconds of the redirections themselves); the lock keeps two parses from
    saving each other's redirection.
    """
    with _STDERR_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 at all: nothing to protect
            yield
            return
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 2)
            finally:
                os.close(null)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _plain_value(text: str, loader: _Loader) -> Any:
    """A plain scalar as the reference path converts it, or `_DECLINED` where it raises."""
    value = _PLAIN_VALUES.get(text, _plain_value)
    if value is not _plain_value:
        return value
    tag = loader.resolve(yaml.ScalarNode, text, (True, False))
    if text[:1] in _NOT_PLAIN_START or " #" in text or text != text.strip(" \n"):
        value = _DECLINED
    elif tag == _FLOAT:
        value = _exact_decimal(text)
        if value is None:
            value = _DECLINED
    elif tag in _FAST_TAGS:
        try:
            value = _convert(loader, yaml.ScalarNode(tag, text))
        except Exception:  # e.g. a date-shaped text that is no date: the reference raises
            value = _DECLINED
    else:
        value = _DECLINED
    if len(_PLAIN_VALUES) < 100_000:  # values are immutable, so they can be shared
        _PLAIN_VALUES[text] = value
    return value


def _tree_value(tree: Any, data: bytes, loader: _Loader) -> Any:
    """Walk the rapidyaml tree into plain Python; raises `_Decline` on anything unusual.

    This is the hot loop of the fast path. The C functions are called with the raw SWIG
    object (4x cheaper than through the Python proxy), and scalars are looked up by their
    bytes in a cache per role and context, so each distinct text is decoded, resolved and
    checked once per document.
    """
    r, this, none, missing = _ryml, tree.this, _ryml_api.NONE, object()
    kind_of, first_child, next_sibling = r.Tree_type, r.Tree_first_child, r.Tree_next_sibling
    key_of, val_of = r.Tree_key, r.Tree_val
    is_map, is_seq, is_val = r.MAP, r.SEQ, r.VAL
    key_plain, key_quoted = r.KEY_PLAIN, r.KEY_SQUO | r.KEY_DQUO
    val_plain, val_quoted = r.VAL_PLAIN, r.VAL_SQUO | r.VAL_DQUO
    flow_style, flow_lines, block_style = r.FLOW_SL | r.FLOW_ML, r.FLOW_ML, r.BLOCK
    # Anchors, aliases and tags change what a node means; block scalars (| and >) have
    # folding and chomping rules of their own; unfiltered text is not the value yet.
    unsupported = (r.KEYANCH | r.VALANCH | r.KEYREF | r.VALREF | r.KEYTAG | r.VALTAG
                   | r.KEY_LITERAL | r.KEY_FOLDED | r.VAL_LITERAL | r.VAL_FOLDED
                   | r.KEY_UNFILT | r.VAL_UNFILT)
    # Contexts: 0 a block collection, 1 a flow collection on one line, 2 one over lines.
    plain_keys: tuple[dict, ...] = ({}, {}, {})
    quoted_keys: tuple[dict, ...] = ({}, {}, {})
    plain_values: tuple[dict, ...] = ({}, {}, {})
    quoted_values: dict[bytes, str] = {}
    searched: list[bool] = []  # whether a quoted scalar in the text spans lines, once known

    def new_plain(decoded: str, context: int) -> Any:
        # libyaml ends a plain scalar in a flow collection at a ':' that rapidyaml (YAML
        # 1.2) keeps, as in `{a:b}`; and rapidyaml keeps a blank line after one there
        # (`{a: x\n\n}` gives "x\n"), so multi-line ones in flow are declined.
        if context and (":" in decoded or "\n" in decoded):
            raise _Decline
        value = _plain_value(decoded, loader)
        if value is _DECLINED:
            raise _Decline
        return value

    def new_key(raw: Any, kind: int, context: int) -> Any:
        folded = bytes(raw)
        if kind & key_plain:
            key, cache = new_plain(str(folded, "utf-8"), context), plain_keys[context]
        elif kind & key_quoted:
            key, cache = str(folded, "utf-8"), quoted_keys[context]
        else:
            raise _Decline
        if type(key) not in _KEY_TYPES or len(folded) > _LONG_KEY:
            raise _Decline
        # libyaml wants a key on one line. rapidyaml also takes a quoted key, or any key
        # in a flow collection over lines, that spans lines (folding each break to a
        # space or a newline): those are only read where the text shows none does.
        if b" " in folded or b"\n" in folded:
            if context == 2:
                raise _Decline
            if kind & key_quoted:
                if not searched:
                    searched.append(_QUOTED_OVER_LINES.search(data) is not None)
                if searched[0]:
                    raise _Decline
        cache[folded] = key
        return key

    def new_value(raw: Any, kind: int, context: int) -> Any:
        folded = bytes(raw)
        if kind & val_plain:
            value = plain_values[context][folded] = new_plain(str(folded, "utf-8"), context)
            return value
        if kind & val_quoted:
            value = quoted_values[folded] = str(folded, "utf-8")
            return value
        raise _Decline  # a scalar without a style: not something a parse makes

    def scalar(n: int, kind: int, context: int) -> Any:
        raw = val_of(this, n)
        if raw is None:  # an empty value, as in `a:` or `- `
            raw = b""
        if kind & val_plain:
            value = plain_values[context].get(raw, missing)
        else:
            value = quoted_values.get(raw, missing) if kind & val_quoted else missing
        return new_value(raw, kind, context) if value is missing else value

    def collection(n: int, kind: int, context: int) -> Any:
        if not kind & (flow_style | block_style):
            raise _Decline
        inner = 2 if kind & flow_lines or context == 2 else 1 if kind & flow_style else 0
        child = first_child(this, n)
        if kind & is_seq:
            items = []
            while child != none:
                child_kind = kind_of(this, child)
                if child_kind & unsupported:
                    raise _Decline
                if child_kind & is_val:
                    items.append(scalar(child, child_kind, inner))
                else:
                    items.append(collection(child, child_kind, inner))
                child = next_sibling(this, child)
            return items
        if not kind & is_map:
            raise _Decline
        keys, quoted, values = plain_keys[inner], quoted_keys[inner], plain_values[inner]
        result: dict[Any, Any] = {}
        pairs = 0
        while child != none:
            child_kind = kind_of(this, child)
            if child_kind & unsupported:
                raise _Decline
            raw = key_of(this, child)
            if raw is None:  # an empty key: null, which is no valid key
                raise _Decline
            if child_kind & key_plain:
                key = keys.get(raw, missing)
            else:
                key = quoted.get(raw, missing) if child_kind & key_quoted else missing
            if key is missing:
                key = new_key(raw, child_kind, inner)
            if child_kind & is_val:  # the scalar case of `scalar`, inline: most values
                raw = val_of(this, child)
                if raw is None:
                    raw = b""
                if child_kind & val_plain:
                    value = values.get(raw, missing)
                else:
                    value = quoted_values.get(raw, missing) if child_kind & val_quoted else missing
                if value is missing:
                    value = new_value(raw, child_kind, inner)
            else:
                value = collection(child, child_kind, inner)
            result[key] = value
            pairs += 1
            child = next_sibling(this, child)
        if len(result) != pairs:  # a duplicate key: the reference names both places
            raise _Decline
        return result

    root = r.Tree_root_id(this)
    kind = kind_of(this, root)
    if kind & r.STREAM == r.STREAM:  # STREAM includes the SEQ bit
        root = first_child(this, root)
        if root == none or next_sibling(this, root) != none:
            raise _Decline
        kind = kind_of(this, root)
    if kind & unsupported:
        raise _Decline
    if kind & is_val:
        return scalar(root, kind, 0)
    if kind & (is_map | is_seq):
        return collection(root, kind, 0)
    if kind & ~r.DOC or first_child(this, root) != none:
        raise _Decline
    return None  # an empty document


@dataclass
class SourceFile:
    """One loaded file: its text (rendered, for templates), data and a line map."""

    path: Path
    display: str  # the name used in messages: relative to the project
    text: str
    data: Any
    line_map: list[int] | None = None  # rendered line index -> template line (templates)
    _tree: Any = field(default=None, repr=False)

    def locate(self, keys: Iterable[Any], at_key: bool = False) -> Location:
        """The location of the value at `keys`, or of the deepest part of it that exists.

        With `at_key`, point at the last key itself (for "unknown key" messages).
        """
        if self._tree is None:
            self._tree = yaml.compose(self.text, Loader=_BaseLoader)
        node = self._tree
        mark = node.start_mark if node is not None else None
        keys = list(keys)
        for i, key in enumerate(keys):
            found = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if _same_key(key_node, key):
                        found = (key_node, value_node)
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if 0 <= key < len(node.value):
                    found = (node.value[key], node.value[key])
            if found is None:
                break
            key_node, node = found
            mark = key_node.start_mark if (at_key and i == len(keys) - 1) else node.start_mark
        if mark is None:
            return Location(self.display)
        line = mark.line + 1
        if self.line_map is not None:
            line = self.line_map[min(mark.line, len(self.line_map) - 1)]
        return Location(self.display, line, mark.column + 1)


def _same_key(node: yaml.Node, key: Any) -> bool:
    if not isinstance(node, yaml.ScalarNode):
        return False
    return node.value == str(key) or (isinstance(key, Decimal) and _decimal_eq(node.value, key))


def _decimal_eq(text: str, value: Decimal) -> bool:
    try:
        return Decimal(text) == value
    except InvalidOperation:
        return False


# -- jinja2 templates ---------------------------------------------------------------------

_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"
_MARK_RE = re.compile(f"{_MARK_OPEN}(\\d+){_MARK_CLOSE}")
_TAG_RE = re.compile(r"(\{%|\{\{|\{#)|(%\}|\}\}|#\})")


def _mark_template_lines(source: str) -> str:
    """Append an invisible line marker to each template line that ends outside a tag.

    After rendering, every output line carries the number of the template line that
    produced it, so errors in generated YAML point at a line the user wrote.
    """
    out = []
    depth = 0
    for number, line in enumerate(source.split("\n"), start=1):
        for match in _TAG_RE.finditer(line):
            depth += 1 if match.group(1) else -1
        depth = max(depth, 0)
        out.append(line if depth else f"{line}{_MARK_OPEN}{number}{_MARK_CLOSE}")
    return "\n".join(out)


def strip_line_marks(rendered: str) -> tuple[str, list[int]]:
    """Remove the markers; return clean text and the template line of each output line."""
    lines = rendered.split("\n")
    line_map: list[int] = []
    clean = []
    last = 1
    for line in lines:
        found = _MARK_RE.findall(line)
        if found:
            last = int(found[0])
        line_map.append(last)
        clean.append(_MARK_RE.sub("", line))
    return "\n".join(clean), line_map


def render_template(path: Path, display: str, context: dict[str, Any], project_dir: Path) -> tuple[str, list[int]]:
    """Render a `*.yaml.j2` catalog file with jinja2 (strict about undefined names)."""
    import csv

    import jinja2

    def load_yaml(relative: str) -> Any:
        target = project_dir / relative
        try:
            return parse_yaml(target.read_text(encoding="utf-8"), relative)
        except OSError as exc:
            raise ConfigError(f"load_yaml({relative!r}): {exc.strerror}", Location(display)) from None

    def load_csv(relative: str) -> list[dict[str, str]]:
        target = project_dir / relative
        try:
            with target.open(newline="", encoding="utf-8") as handle:
                return list(csv.DictReader(handle))
        except OSError as exc:
            raise ConfigError(f"load_csv({relative!r}): {exc.strerror}", Location(display)) from None

    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    env.globals.update(load_yaml=load_yaml, load_csv=load_csv)
    source = path.read_text(encoding="utf-8")
    try:
        template = env.from_string(_mark_template_lines(source))
        rendered = template.render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template syntax: {exc.message}", Location(display, exc.lineno or 0)) from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template: {exc.message}", Location(display, _template_error_line(exc))) from None
    except ConfigError as exc:
        if exc.location is not None and not exc.location.line:  # from load_yaml / load_csv
            message = str(exc).split("error: ", 1)[-1]
            raise ConfigError(message, Location(display, _template_error_line(exc))) from None
        raise
    except Exception as exc:  # a template is user code; any failure is a config error
        raise ConfigError(f"template: {exc}", Location(display, _template_error_line(exc))) from None
    return strip_line_marks(rendered)


def _template_error_line(exc: BaseException) -> int:
    """The template line a rendering error happened on, from jinja2's rewritten traceback."""
    tb = exc.__traceback__
    line = 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
