"""Catalog templates (`*.yaml.j2`): jinja2 that cannot silently corrupt data.

A value written with `{{ ... }}` comes out as YAML that reads back as exactly that value:
strings are double-quoted (so `Jurong #1 Point` stays whole, and `no` or `1.50` from a
CSV file stay the strings they are), numbers, booleans and null are written as YAML
writes them, lists and mappings as flow collections. `{{ x | raw }}` writes a value as
it is, for the rare text that is meant to be YAML.

A quoted string must be a whole YAML value: `name: Store {{ s.name }}` would make the
quotes part of a longer plain text, so it is refused with a hint (`{{ "Store " ~ s.name
}}` says what was meant). Values read by `load_csv` remember their file, line and
column, and every rendered line the template line that wrote it, so a problem in the
generated YAML names both (see `yamlio.LineMap`).
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from .errors import ConfigError, Location
from .yamlio import LineMap, parse_yaml, read_text

# Invisible markers the rendering leaves in its output (private-use characters, escaped
# in every quoted value): the template line at the end of each line it wrote, and
# around each value, its kind and the index of its origin.
_LINE_OPEN, _LINE_CLOSE = "\ue000", "\ue001"
_VALUE_OPEN, _VALUE_BODY, _VALUE_CLOSE = "\ue002", "\ue003", "\ue004"
_WHOLE, _FREE = "0", "1"  # a value that must be a whole YAML value, or one that may be part of one
_MARK = re.compile("\ue000(\\d+)\ue001|\ue002([01])(\\d*)\ue003|\ue004")
_TAG = re.compile(r"(\{%|\{\{|\{#)|(%\}|\}\}|#\})")

# Double-quoted YAML escapes for what must not appear raw: the quote and backslash,
# control and line-break characters (YAML folds or rejects them), a BOM, and the markers.
_ESCAPES = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]},
    **{code: f"\\u{code:04x}" for code in [0x2028, 0x2029, 0xFEFF, *range(0xE000, 0xE005), 0xFFFE, 0xFFFF]},
    ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r",
}
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # reads back as the same int or Decimal


class DataValue(str):
    """A string read from a data file that remembers where: `data/stores.csv:4, column 'name'`."""

    origin: str = ""


class _Raw(str):
    """A value the template writes as it is (`|raw`)."""

    origin: str = ""


def _raw(value: Any) -> _Raw:
    raw = _Raw(value if isinstance(value, str) else _yaml_text(value))
    raw.origin = getattr(value, "origin", "")
    return raw


def _quoted(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


def _yaml_text(value: Any) -> str:
    """`value` as YAML that reads back as the same value."""
    if isinstance(value, str):
        return _quoted(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal, float)):
        text = str(value)
        # 1E+3, 1e+20, nan: YAML 1.1 reads them as strings; a quoted number is what the
        # catalog's decimal fields accept anyway.
        return text if _PLAIN_NUMBER.fullmatch(text) else _quoted(text)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_yaml_text, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_yaml_text(k)}: {_yaml_text(v)}" for k, v in value.items()) + "}"
    return _quoted(str(value))  # dates and anything else: their text


def render_template(path: Path, display: str, context: dict[str, Any], project_dir: Path) -> tuple[str, LineMap]:
    """Render a `*.yaml.j2` catalog file with jinja2 (strict about undefined names)."""
    origins: list[str] = []

    def finalize(value: Any) -> str:
        if isinstance(value, jinja2.Undefined):
            return str(value)  # "" for an `x if c` without else; StrictUndefined raises
        if isinstance(value, _Raw):
            kind, text = _FREE, str(value)
        else:  # a number may be part of a longer text (`Store {{ loop.index }}`); quotes may not
            free = value is None or isinstance(value, (int, Decimal, float))
            kind, text = _FREE if free else _WHOLE, _yaml_text(value)
        origin = getattr(value, "origin", "")
        index = ""
        if origin:
            index = str(len(origins))
            origins.append(origin)
        return f"{_VALUE_OPEN}{kind}{index}{_VALUE_BODY}{text}{_VALUE_CLOSE}"

    def load_yaml(relative: str) -> Any:
        return parse_yaml(_read_data(project_dir, relative, "load_yaml"), relative)

    def load_csv(relative: str) -> list[dict[str, str]]:
        return _read_csv(_read_data(project_dir, relative, "load_csv"), relative)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False, finalize=finalize)
    env.filters["raw"] = _raw
    env.globals.update(load_yaml=load_yaml, load_csv=load_csv)
    source = read_text(path, display)
    try:
        template = env.from_string(_mark_template_lines(source))
        rendered = template.render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"template syntax: {exc.message}", Location(display, exc.lineno or 1, 1)) from None
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"template: {exc.message}", Location(display, _template_error_line(exc), 1)) from None
    except ConfigError as exc:
        if exc.location is not None and not exc.location.line:  # a data file that cannot be read
            raise ConfigError(exc.message, Location(display, _template_error_line(exc), 1)) from None
        raise
    except Exception as exc:  # a template is user code; any failure is a config error
        raise ConfigError(f"template: {exc}", Location(display, _template_error_line(exc), 1)) from None
    return _strip_marks(rendered, display, origins)


def _read_data(project_dir: Path, relative: str, function: str) -> str:
    try:
        return read_text(project_dir / relative, relative)
    except ConfigError as exc:
        if exc.location is not None and exc.location.line:  # not UTF-8: located in the data file
            raise
        # Located at the template line that called `function` by `render_template`.
        raise ConfigError(f"{function}({relative!r}): {exc.message}", Location(relative)) from None


def _read_csv(text: str, display: str) -> list[dict[str, str]]:
    """The rows of a CSV file, each value a DataValue naming its line and column."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        for row in reader:
            if None in row or None in row.values():
                raise ConfigError(f"this row does not have one value per column of the header "
                                  f"({len(reader.fieldnames or ())} columns)", Location(display, reader.line_num, 1))
            values = {}
            for name, text_value in row.items():
                value = values[name] = DataValue(text_value)
                value.origin = f"{display}:{reader.line_num}, column {name!r}"
            rows.append(values)
    except csv.Error as exc:
        raise ConfigError(f"CSV: {exc}", Location(display, reader.line_num or 1, 1)) from None
    return rows


def _mark_template_lines(source: str) -> str:
    """Append an invisible line marker to each template line that ends outside a tag.

    After rendering, every output line carries the number of the template line that
    produced it, so errors in generated YAML point at a line the user wrote.
    """
    out = []
    depth = 0
    for number, line in enumerate(source.split("\n"), start=1):
        for match in _TAG.finditer(line):
            depth += 1 if match.group(1) else -1
        depth = max(depth, 0)
        out.append(line if depth else f"{line}{_LINE_OPEN}{number}{_LINE_CLOSE}")
    return "\n".join(out)


def _strip_marks(rendered: str, display: str, origins: list[str]) -> tuple[str, LineMap]:
    """The rendered text without markers, and where each line and data value came from.

    Also refuses a quoted value that is not a whole YAML value (see the module's doc).
    """
    pieces: list[str] = []
    line = col = 0  # where the next clean character goes
    first_mark: dict[int, int] = {}  # clean line -> template line of its first marker
    open_values: list[tuple[str, str, int, int]] = []
    whole: list[tuple[int, int, int]] = []  # (line, start, end) of values that must stand alone
    values: dict[int, list[tuple[int, int, str]]] = {}
    position = 0
    for match in _MARK.finditer(rendered):
        chunk = rendered[position:match.start()]
        position = match.end()
        if chunk:
            pieces.append(chunk)
            breaks = chunk.count("\n")
            line += breaks
            col = len(chunk) - chunk.rfind("\n") - 1 if breaks else col + len(chunk)
        if match.group(1) is not None:
            first_mark.setdefault(line, int(match.group(1)))
        elif match.group(2) is not None:
            open_values.append((match.group(2), match.group(3), line, col))
        elif open_values:
            kind, index, start_line, start = open_values.pop()
            end = col if line == start_line else 1 << 30
            if index:
                values.setdefault(start_line, []).append((start, end, origins[int(index)]))
            if kind == _WHOLE:
                whole.append((start_line, start, end))
    pieces.append(rendered[position:])
    clean = "".join(pieces)
    lines = clean.split("\n")
    line_map, last = [], 1
    for number in range(len(lines)):
        last = first_mark.get(number, last)
        line_map.append(last)
    result = LineMap(line_map, values)
    for number, start, end in whole:
        problem = _not_whole(lines[number], start, end)
        if problem:
            raise ConfigError(problem, result.location(display, number, start))
    return clean, result


def _not_whole(line: str, start: int, end: int) -> str | None:
    """Why the quoted value at line[start:end] is not a whole YAML value, or None if it is."""
    before, after = line[:start], line[end:].rstrip("\r")
    head, tail = before.rstrip(" \t"), after.lstrip(" \t")
    if head.lstrip(" ").startswith("#") or re.search(r'(?:^|\s)#', _without_quoted(head)):
        return None  # in a comment
    if head.endswith(("'", '"')) and tail.startswith(("'", '"')):
        return "this value is quoted for you; remove the quotes around its {{ ... }}"
    spaced = len(before) > len(head)
    stands_after = (not head or head[-1] in "[{," or (spaced and head[-1] in ":?")
                    or (spaced and head[-1] == "-" and head[:-1].strip(" -") == ""))
    stands_before = not tail or tail[0] in ",]}:" or (tail[0] == "#" and len(after) > len(tail))
    if stands_after and stands_before:
        return None
    return ("a {{ ... }} string is quoted, so here its quotes would become part of a longer text; "
            "write the whole value in one expression ({{ \"Store \" ~ s.name }}) or use |raw")


def _without_quoted(text: str) -> str:
    """`text` with its double-quoted strings removed (a '#' in one starts no comment)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)


def _template_error_line(exc: BaseException) -> int:
    """The template line a rendering error happened on, from jinja2's rewritten traceback."""
    tb = exc.__traceback__
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
