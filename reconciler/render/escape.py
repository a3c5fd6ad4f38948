"""Text from users and backends, made inert in a GitHub comment.

Product, store and backend names reach the comment unchecked: a name with `*`, `|`,
a backtick or `</details>` must show as itself, never format, break a table, or open
and close HTML. Three places take such text:

- markdown text (`md`): every character markdown or GitHub reads as syntax is
  backslash-escaped (`<`, `>` and `&` too, so no tag or entity can form), and a leading
  `#`, `>`, `-`, `+`, `=` or `1.` cannot start a block after a list marker;
- a code span (`md(..., code=True)`): backticks inside get a longer fence;
- raw HTML (`html`), i.e. a `<summary>`: markdown is not read there, so entities only.

In a table (`cell=True`), a `|` inside a code span is written `\\|`, as GFM reads table
rows before code spans; markdown text escapes `|` everywhere, which is the same there.
Line breaks become spaces: every place above is one line.
"""

from __future__ import annotations

import html as _html
import re

# Backslash-escapable ASCII punctuation that formats, links, opens HTML or an entity,
# splits table cells, or (on GitHub) starts math: escaped wherever it stands. A `>`
# closes nothing without a `<` and quotes only at the start of a line (below).
_INLINE = re.compile(r"([\\`*_\[\]<&|~$])")
# What starts a block at the beginning of a line (and so after a list marker too):
# a heading, quote, list item, thematic break, setext underline, or an ordered list's
# "1." / "1)" (only before a space: "5.50" is no list).
_BLOCK_START = re.compile(r"^(?:([#>+=-])|(\d{1,9})([.)])(?= |$))")
_BACKTICKS = re.compile(r"`+")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _inert_start(match: re.Match) -> str:
    marker, digits, delimiter = match.groups()
    return "\\" + marker if marker else digits + "\\" + delimiter


def md(value: object, code: bool = False, cell: bool = False) -> str:
    """`value` as markdown text, or as a code span (`code`), inside a table row or not (`cell`)."""
    text = str(value)
    if not code:
        return _BLOCK_START.sub(_inert_start, _INLINE.sub(r"\\\1", _one_line(text)), count=1)
    text = text.replace("\r", " ").replace("\n", " ")
    if not text.strip():
        return "(blank)"
    # GFM reads `\|` in a table row before code spans, but a backslash of the value just
    # before a `|` would escape that backslash instead: such a value is shown as text.
    if cell and "\\|" in text:
        return md(value)
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    # A span's first and last space are dropped when both are there, and a backtick at
    # either end would join the fence: pad with one space each side.
    if text[0] == "`" or text[-1] == "`" or (text[0] == " " and text[-1] == " "):
        text = f" {text} "
    return fence + (text.replace("|", "\\|") if cell else text) + fence


def html(value: object) -> str:
    """`value` as text inside an HTML element (a `<summary>`): entities only."""
    return _html.escape(_one_line(str(value)), quote=False)
