"""Reading YAML fast while still being able to say where a value is.

The hot path parses with rapidyaml into plain dicts when the text is one it reads exactly
as PyYAML does, and with libyaml (PyYAML's C loader) otherwise; libyaml's reading is the
definition of the result and the one that reports errors. Positions are not kept for
every value: when a problem needs one, `SourceFile.locate` reads the file's parse events
again, only as far as the value, and never builds a second copy of the document. Floats
become `Decimal` built from the text as written, so `10.005` stays `10.005` and is never
rounded.

Some documents are refused before they cost minutes or gigabytes (limits a real catalog
never reaches; docs/files.md lists them): collections nested deeper than `MAX_DEPTH`,
numbers longer than `MAX_NUMBER_LENGTH` characters, and aliases that repeat more than
`MAX_ALIAS_VALUES` values in all or number more than `MAX_ALIASES` (an "alias bomb": a
few hundred bytes of nested aliases expand to billions of values). The alias limits are
counted on parse events, before anything is built; the fast path reads no alias at all.
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
from typing import Any, ClassVar, Iterable

import yaml

from .errors import ConfigError, Location

MAX_DEPTH = 100  # collections inside collections; a catalog nests about eight deep
MAX_NUMBER_LENGTH = 100  # characters of an unquoted number; Python refuses ints over 4,300 digits
MAX_ALIASES = 50_000  # alias uses (`*name`) in one document
MAX_ALIAS_VALUES = 1_000_000  # values the aliases of one document repeat, counted expanded

try:  # libyaml is optional at install time; the pure-Python loader gives the same result
    _BaseLoader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_PLAIN_TAGS: dict[str, str] = {}  # plain scalar text -> resolved tag; bounded below


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader with exact decimals and an error on duplicate keys."""

    source_name = "<yaml>"
    line_map: LineMap | None = None

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


def _check_number_length(loader: _Loader, node: yaml.ScalarNode) -> None:
    if len(node.value) > MAX_NUMBER_LENGTH:
        raise ConfigError(f"a number of {len(node.value):,} characters; numbers have at most "
                          f"{MAX_NUMBER_LENGTH} (quote it if it is text)", _mark_location(loader, node.start_mark))


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> Any:
    _check_number_length(loader, node)
    return loader.construct_yaml_int(node)


def _construct_decimal(loader: _Loader, node: yaml.ScalarNode) -> Any:
    _check_number_length(loader, node)
    value = _exact_decimal(node.value)
    if value is None:
        raise ConfigError(
            f"{node.value!r} is not a finite number", _mark_location(loader, node.start_mark)
        )
    return value


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # Merged entries (`<<: *defaults`) come first and the mapping's own keys override
    # them, as YAML merge keys mean; only a key written twice is a duplicate.
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - own
    result: dict[Any, Any] = {}
    seen: dict[Any, yaml.Node] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, Decimal, bool)) or key is None:
            raise ConfigError(
                "a mapping key must be a plain value", _mark_location(loader, key_node.start_mark)
            )
        if key in seen and index >= merged:
            first = _mark_location(loader, seen[key].start_mark)
            raise ConfigError(_duplicate_message(key, first), _mark_location(loader, key_node.start_mark))
        if index >= merged:
            seen[key] = key_node
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


@dataclass
class LineMap:
    """Where the lines of a rendered template came from, and the data behind its values.

    `lines[i]` is the template line that wrote rendered line i; `values[i]` lists the
    spans `(start, end, origin)` of rendered line i that hold a value read from a data
    file, such as `data/stores.csv:4, column 'name'` (0-based columns, end exclusive).
    """

    lines: list[int]
    values: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)

    def location(self, file: str, line: int, col: int) -> Location:
        """The template location of 0-based rendered `line` and `col`."""
        template_line = self.lines[min(line, len(self.lines) - 1)] if self.lines else 1
        origin = next((o for start, end, o in self.values.get(line, ()) if start <= col <= end), "")
        return Location(file, template_line, col + 1, origin)


def _location(source_name: str, line_map: LineMap | None, line: int, col: int) -> Location:
    """A 0-based line and column of the parsed text as a location in the user's file."""
    if line_map is not None:
        return line_map.location(source_name, line, col)
    return Location(source_name, line + 1, col + 1)


def _mark_location(loader: _Loader, mark: Any) -> Location:
    return _location(loader.source_name, loader.line_map, mark.line, mark.column)


def read_text(path: Path, display: str) -> str:
    """A file's text; bytes that are not UTF-8 are a ConfigError at their line and column."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", Location(display)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8", errors="replace")
        line = before.count("\n")
        col = len(before) - (before.rfind("\n") + 1)
        raise ConfigError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file as UTF-8",
                          Location(display, line + 1, col + 1)) from None


def parse_yaml(text: str, source_name: str, line_map: LineMap | None = None) -> Any:
    """Parse one YAML document; syntax errors become a ConfigError with a location.

    The rapidyaml fast path answers when it can; what it declines, PyYAML reads.
    """
    try:
        data = _parse_fast(text)
    except _DuplicateKey as duplicate:
        raise _duplicate_error(text, source_name, line_map, duplicate) from None
    if data is _DECLINED:
        data = _parse_reference(text, source_name, line_map)
    return data


def _parse_reference(text: str, source_name: str, line_map: LineMap | None = None) -> Any:
    """The PyYAML reading: the definition of the result, and the one that reports errors."""
    loader = _Loader(text)
    loader.source_name = source_name
    loader.line_map = line_map
    try:
        if _MAYBE_ANCHOR.search(text):
            _check_aliases(text, loader)
        node = loader.get_single_node()
        return None if node is None else _convert(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = _mark_location(loader, mark) if mark else Location(source_name)
        raise ConfigError(f"YAML syntax: {exc.problem or exc.context}", location) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_reader_problem(exc), _offset_location(text, exc.position, loader)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML: {exc}", Location(source_name)) from None
    except RecursionError:  # merge keys nested hundreds deep; `_convert` counts its own depth
        raise ConfigError(f"nested too deeply to read (more than {MAX_DEPTH} levels)",
                          _location(source_name, line_map, 0, 0)) from None
    finally:
        loader.dispose()


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, int):
        what = f"character U+{exc.character:04X}"
    else:
        what = f"byte 0x{exc.character[0] if exc.character else 0:02x}"
    return f"{what} is not allowed in YAML ({exc.reason}); remove it, or write it as an escape in a \"quoted\" string"


def _offset_location(text: str, position: int, loader: _Loader) -> Location:
    """The location of a reader error's position: a byte offset for libyaml, else characters."""
    if isinstance(loader, getattr(yaml, "CSafeLoader", ())):
        before = text.encode("utf-8")[:position].decode("utf-8", errors="replace")
    else:
        before = text[:position]
    line = before.count("\n")
    return _location(loader.source_name, loader.line_map, line, len(before) - (before.rfind("\n") + 1))


# An anchor (`&name`) can only follow the start of a line, a space or a flow indicator;
# a text without one has no aliases to count ("R&D" and "Fish & Chips" are no anchors).
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s\[\]{},]", re.M)


def _check_aliases(text: str, loader: _Loader) -> None:
    """Refuse an alias bomb before anything is built: count what the aliases repeat.

    Each alias stands for every value of its anchored node, aliases inside included, so
    a few hundred bytes of nested aliases can stand for billions of values, and reading
    them would take minutes and gigabytes. Counted on parse events, with the size of
    each anchored node remembered; syntax errors are left to the reading that follows.
    """
    sizes: dict[str, int] = {}  # anchor -> values it stands for
    open_nodes: list[list[Any]] = []  # [anchor, values so far] of each open collection
    uses = repeated = 0
    try:
        for event in yaml.parse(text, Loader=_BaseLoader):
            if isinstance(event, yaml.AliasEvent):
                size = sizes.get(event.anchor, 1)
                uses += 1
                repeated += size
                if uses > MAX_ALIASES or repeated > MAX_ALIAS_VALUES:
                    why = (f"more than {MAX_ALIASES:,} aliases" if uses > MAX_ALIASES else
                           f"aliases that repeat more than {MAX_ALIAS_VALUES:,} values ({event.anchor!r} "
                           f"stands for {size:,})")
                    raise ConfigError(f"this document has {why}; a catalog needs far fewer, and reading it "
                                      "would cost minutes and gigabytes (an alias bomb); write the values "
                                      "out or use fewer aliases", _mark_location(loader, event.start_mark))
            elif isinstance(event, yaml.ScalarEvent):
                size = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                open_nodes.append([event.anchor, 1])
                continue
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = open_nodes.pop()
                if anchor:
                    sizes[anchor] = size
            else:
                continue
            if open_nodes:
                open_nodes[-1][1] += size
    except yaml.YAMLError:
        return  # the reading reports it, with its location


_INT, _FLOAT, _BOOL, _NULL = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                              "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _convert(loader: _Loader, node: yaml.Node, depth: int = 0) -> Any:
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
            _check_number_length(loader, node)
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
    if depth >= MAX_DEPTH:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep; a catalog needs far fewer",
                          _mark_location(loader, node.start_mark))
    if isinstance(node, yaml.MappingNode):
        if any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
            return _construct_mapping(loader, node, deep=True)
        result: dict[Any, Any] = {}
        first: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = _convert(loader, key_node, depth + 1)
            if not isinstance(key, (str, int, Decimal)) or isinstance(key, bool):
                raise ConfigError("a mapping key must be a plain value", _mark_location(loader, key_node.start_mark))
            if key in first:
                where = _mark_location(loader, first[key].start_mark)
                raise ConfigError(_duplicate_message(key, where), _mark_location(loader, key_node.start_mark))
            first[key] = key_node
            result[key] = _convert(loader, value_node, depth + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, depth + 1) for item in node.value]
    return loader.construct_object(node, deep=True)


def _duplicate_message(key: Any, first: Location) -> str:
    return f"duplicate key {key!r} (first defined at {first}); ids must be unique"


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


class _DuplicateKey(Exception):
    """The whole document was read as PyYAML reads it, and it has a duplicate key.

    `path` leads to the mapping, `key` is the first key (in document order) that it
    repeats: the one PyYAML would report. Its places are found by `_duplicate_error`,
    which reads parse events only as far as the second one.
    """

    def __init__(self, path: list[Any], key: Any):
        super().__init__(key)
        self.path, self.key = path, key


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
        value, duplicate = _tree_value(tree, data, loader)
    except (_Decline, RecursionError):
        return _DECLINED
    finally:
        if collecting:
            gc.enable()
        loader.dispose()
    if duplicate is not None:
        raise _DuplicateKey(*duplicate)
    return value


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
    elif (tag == _FLOAT or tag == _INT) and len(text) > MAX_NUMBER_LENGTH:
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


def _tree_value(tree: Any, data: bytes, loader: _Loader) -> tuple[Any, tuple[list, Any] | None]:
    """Walk the rapidyaml tree into plain Python; raises `_Decline` on anything unusual.

    Returns the value and, if a mapping repeats a key, the path and key of the first
    repetition: the walk goes on to the end, so that anything PyYAML would read another
    way still makes it decline, and only then is the duplicate PyYAML's first error.

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
    duplicates: list[int] = []  # the node of the first key that repeats one before it

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

    def collection(n: int, kind: int, context: int, depth: int) -> Any:
        if not kind & (flow_style | block_style) or depth >= MAX_DEPTH:
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
                    items.append(collection(child, child_kind, inner, depth + 1))
                child = next_sibling(this, child)
            return items
        if not kind & is_map:
            raise _Decline
        keys, quoted, values = plain_keys[inner], quoted_keys[inner], plain_values[inner]
        result: dict[Any, Any] = {}
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
            if key in result and not duplicates:  # before its value, as PyYAML checks
                duplicates.append(child)
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
                value = collection(child, child_kind, inner, depth + 1)
            result[key] = value
            child = next_sibling(this, child)
        return result

    def key_path(n: int) -> list[Any]:
        """The keys (and list indexes) from the document's root down to node `n`."""
        path: list[Any] = []
        while n != root:
            parent = r.Tree_parent(this, n)
            if kind_of(this, parent) & is_map:
                raw = bytes(key_of(this, n))
                path.append(_plain_value(str(raw, "utf-8"), loader) if kind_of(this, n) & key_plain
                            else str(raw, "utf-8"))
            else:
                path.append(r.Tree_child_pos(this, parent, n))
            n = parent
        return path[::-1]

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
        return scalar(root, kind, 0), None
    if kind & (is_map | is_seq):
        value = collection(root, kind, 0, 0)
        if duplicates:
            path = key_path(duplicates[0])
            return value, (path[:-1], path[-1])
        return value, None
    if kind & ~r.DOC or first_child(this, root) != none:
        raise _Decline
    return None, None  # an empty document


# -- finding where a value is ---------------------------------------------------------------

@dataclass
class SourceFile:
    """One loaded file: its text (rendered, for templates), data and a line map."""

    path: Path
    display: str  # the name used in messages: relative to the project
    text: str
    data: Any
    line_map: LineMap | None = None  # templates: where each rendered line came from
    _tree: Any = field(default=None, repr=False)
    _lookups: int = field(default=0, repr=False)

    # A lookup reads parse events up to the value and keeps nothing, so one problem in a
    # big file costs a fraction of a reading, not a second copy of the document. When a
    # file has many problems, its node tree is composed once and walked instead.
    WALKS_BEFORE_COMPOSING: ClassVar[int] = 8

    def locate(self, keys: Iterable[Any], at_key: bool = False) -> Location:
        """The location of the value at `keys`, or of the deepest part of it that exists.

        With `at_key`, point at the last key itself (for "unknown key" messages).
        """
        keys = list(keys)
        self._lookups += 1
        if self._tree is None and self._lookups > self.WALKS_BEFORE_COMPOSING:
            self._tree = yaml.compose(self.text, Loader=_BaseLoader)
        if self._tree is not None:
            mark = _tree_mark(self._tree, keys, at_key)
        else:
            with _Events(self.text) as events:
                mark = events.find(keys, at_key)
        if mark is None:
            return _location(self.display, self.line_map, 0, 0)
        return _location(self.display, self.line_map, mark.line, mark.column)


def _tree_mark(node: yaml.Node | None, keys: list[Any], at_key: bool) -> Any:
    """The mark of the value at `keys` in a composed node tree (see `SourceFile.locate`)."""
    mark = node.start_mark if node is not None else None
    loader = _Loader("")
    try:
        for i, key in enumerate(keys):
            found = None
            if isinstance(node, yaml.MappingNode):
                found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and _same_key(
                    k.value, k.style is None and k.tag != _STR, key, loader)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if 0 <= key < len(node.value):
                    found = (node.value[key], node.value[key])
            if found is None:
                break
            key_node, node = found
            mark = key_node.start_mark if (at_key and i == len(keys) - 1) else node.start_mark
    finally:
        loader.dispose()
    return mark


class _Events:
    """The parse events of one document, read only as far as a lookup needs."""

    def __init__(self, text: str):
        self._loader = _BaseLoader(text)
        self._plain = _Loader("")  # converts plain keys as the reading does

    def __enter__(self) -> "_Events":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loader.dispose()
        self._plain.dispose()

    def _next(self) -> Any:
        return self._loader.get_event() if self._loader.check_event() else None

    def _skip(self, event: Any) -> None:
        """Read past the rest of the node that `event` starts."""
        depth = 1 if isinstance(event, yaml.CollectionStartEvent) else 0
        while depth:
            event = self._next()
            if event is None:
                return
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1

    def root(self) -> Any:
        """The event that starts the document's root node, or None for an empty one."""
        event = self._next()
        while isinstance(event, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
            event = self._next()
        return event if isinstance(event, (yaml.NodeEvent, yaml.CollectionStartEvent)) else None

    def entry(self, key: Any) -> tuple[Any, Any] | None:
        """The next (key event, value event) of the open mapping whose key is `key`."""
        while True:
            key_event = self._next()
            if key_event is None or isinstance(key_event, yaml.MappingEndEvent):
                return None
            self._skip(key_event)
            value_event = self._next()
            if isinstance(key_event, yaml.ScalarEvent) and self._same(key_event, key):
                return key_event, value_event
            self._skip(value_event)

    def item(self, index: int) -> Any:
        """Item `index` of the open sequence, or None."""
        for _ in range(index):
            event = self._next()
            if event is None or isinstance(event, yaml.SequenceEndEvent):
                return None
            self._skip(event)
        event = self._next()
        return None if event is None or isinstance(event, yaml.SequenceEndEvent) else event

    def find(self, keys: list[Any], at_key: bool) -> Any:
        """The mark of the value at `keys`, or of the deepest part of it that exists."""
        try:
            node = self.root()
            mark = node.start_mark if node is not None else None
            for i, key in enumerate(keys):
                if isinstance(node, yaml.MappingStartEvent):
                    found = self.entry(key)
                elif isinstance(node, yaml.SequenceStartEvent) and isinstance(key, int) and key >= 0:
                    item = self.item(key)
                    found = (item, item) if item is not None else None
                else:
                    found = None
                if found is None:
                    break
                key_event, node = found
                mark = key_event.start_mark if (at_key and i == len(keys) - 1) else node.start_mark
            return mark
        except yaml.YAMLError:  # not a text that parsed; nothing better to point at
            return None

    def _same(self, event: yaml.ScalarEvent, key: Any) -> bool:
        return _same_key(event.value, event.implicit[0], key, self._plain)


def _same_key(text: str, plain: bool, key: Any, loader: _Loader) -> bool:
    """Whether a scalar key written as `text` is the data key `key` (`0x1F` is 31)."""
    if not plain:
        return text == key
    value = _plain_value(text, loader)
    if value is _DECLINED:  # a form only the reference path reads; compare it as written
        return text == str(key)
    return value == key


def _duplicate_error(text: str, source_name: str, line_map: LineMap | None, duplicate: _DuplicateKey) -> ConfigError:
    """The reference's duplicate-key error, found by reading events up to the repetition."""
    with _Events(text) as events:
        mark = events.find(duplicate.path, False)  # leaves the events at the mapping's start
        first = events.entry(duplicate.key)
        if first is not None:
            events._skip(first[1])
            second = events.entry(duplicate.key)
    if mark is None or first is None or second is None:  # cannot happen for a text rapidyaml read
        return ConfigError(f"duplicate key {duplicate.key!r}; ids must be unique", Location(source_name))
    where = _location(source_name, line_map, first[0].start_mark.line, first[0].start_mark.column)
    return ConfigError(_duplicate_message(duplicate.key, where),
                       _location(source_name, line_map, second[0].start_mark.line, second[0].start_mark.column))
