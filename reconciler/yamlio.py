"""Reading YAML fast while still being able to say where a value is.

The hot path parses with libyaml (PyYAML's C loader) into plain dicts. Positions are not
kept for every value: when a problem needs one, `Locator` composes that one file again
(still in C) and walks the node tree along the problem's key path. Floats become
`Decimal` built from the text as written, so `10.005` stays `10.005` and is never rounded.
"""

from __future__ import annotations

import re
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


def _construct_decimal(loader: _Loader, node: yaml.ScalarNode) -> Any:
    text = node.value.replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
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
    """Parse one YAML document; syntax errors become a ConfigError with a location."""
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
        return loader.construct_object(node, deep=True)
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
