"""Names from users and backends show as themselves in a GitHub comment: read back with a
real Markdown parser (CommonMark with GFM tables and strikethrough) and an HTML parser."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from reconciler.render.escape import html, md

PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = [
    "`a|b` <script> </details> *x* _y_",
    "</details>",
    "<details><summary>x</summary>",
    "<!-- hidden -->",
    "a\\|b",
    "a\\\\|b\\",
    "| a | b |",
    "# heading",
    "1. first",
    "2) second",
    "- - remove",
    "+ plus",
    "> quote",
    "---",
    "***",
    "===",
    "[link](https://example.com)",
    "![image](https://example.com/x.png)",
    "<https://example.com>",
    "AT&T &amp; &copy; &#60;",
    "$x^2$ costs $5",
    "~~struck~~",
    "```",
    "``a`b``",
    " `",
    "back\\slash\\",
    "**bold** __bold__",
    "5.50",
]


def one_line(name: str) -> str:
    return " ".join(name.split())


def inline_children(text: str) -> list:
    """The inline tokens of a one-paragraph document."""
    tokens = PARSER.parse(text)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], (text, tokens)
    return tokens[1].children


@pytest.mark.parametrize("name", HOSTILE)
def test_markdown_text_reads_back_as_the_name_and_nothing_else(name):
    for where in ("{}", "- {}", "Reason: {}"):
        source = where.format(md(name))
        tokens = PARSER.parse(source)
        inline = next(t for t in tokens if t.type == "inline")
        assert {c.type for c in inline.children} <= {"text"}, (source, inline.children)
        # Runs of white space are one space, as HTML shows them anyway.
        assert "".join(c.content for c in inline.children) == where.removeprefix("- ").format(one_line(name))
        # A list item stays one item with one paragraph: no nested list, heading or quote.
        assert [t.type for t in tokens if t.type.endswith("_open")] == (
            ["bullet_list_open", "list_item_open", "paragraph_open"] if where.startswith("-") else ["paragraph_open"])


@pytest.mark.parametrize("name", HOSTILE)
def test_a_code_span_holds_the_name_exactly(name):
    children = inline_children(f"key {md(name, code=True)} end")
    codes = [c for c in children if c.type == "code_inline"]
    assert len(codes) == 1 and codes[0].content == name, children


@pytest.mark.parametrize("name", HOSTILE)
def test_a_table_cell_holds_the_name_as_text_or_code(name):
    source = ("| key | name | after |\n|---|---|---|\n"
              f"| {md(name, code=True, cell=True)} | {md(name)} | x |\n")
    rows = []
    for token in PARSER.parse(source):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(token.children)
    assert len(rows) == 2 and all(len(row) == 3 for row in rows), rows  # no cell split or lost
    code_cell, text_cell, last = rows[1]
    # A backslash right before a `|` cannot stay in a code span in a table: shown as text.
    assert "".join(c.content for c in code_cell if c.type in ("code_inline", "text")) in (name, one_line(name))
    assert {c.type for c in code_cell} <= {"code_inline", "text"}
    assert [c.type for c in text_cell] == ["text"] and text_cell[0].content == one_line(name)
    assert last[0].content == "x"


def test_line_breaks_and_runs_of_spaces_cannot_end_a_line_of_markdown():
    assert md("two\nlines\r\nand  more") == "two lines and more"
    assert md("two\nlines", code=True) == "`two lines`"
    assert md("", code=True) == "(blank)" and md("   ", code=True) == "(blank)"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: dict[str, str] = {}
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data):
        if self.open:
            self.text[self.open[-1]] = self.text.get(self.open[-1], "") + data


@pytest.mark.parametrize("name", HOSTILE)
def test_a_summary_holds_the_name_and_the_details_element_stays_whole(name):
    source = f"<details><summary>{html(name)}: 2 requests</summary>\n\n- `x`\n\n</details>\n\nafter\n"
    tags = _Tags()
    tags.feed(PARSER.render(source))
    assert tags.tags == ["details", "summary", "/summary", "ul", "li", "code", "/code", "/li", "/ul", "/details", "p",
                         "/p"]
    assert tags.text["summary"] == one_line(name) + ": 2 requests"
