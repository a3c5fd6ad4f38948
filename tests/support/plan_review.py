"""Reading a plan comment as GitHub shows it, and the plans a reviewer meets (made by the
engine against the in-process D-Store emulator)."""

from __future__ import annotations

from functools import lru_cache
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from harness import DStoreHarness
from reconciler.plan import Plan
from reconciler.render.markdown import MARKER

HOSTILE = "`a|b` <script> </details> *x* _y_"
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def edit_menu(harness: DStoreHarness, old: str, new: str) -> None:
    menu = harness.root / "menu.yaml"
    text = menu.read_text()
    assert old in text, old
    menu.write_text(text.replace(old, new))


@lru_cache(maxsize=8)
def tokens(markdown: str) -> tuple:
    """The parse of a comment, once per comment: a chain's comment takes a while to parse."""
    return tuple(PARSER.parse(markdown))


async def chain_plan(root, stores: int, soldout: int, products: int = 3) -> Plan:
    """A chain's first plan: the first `soldout` stores have item2 unavailable."""
    harness = DStoreHarness(root, stores=stores, products=products)
    harness.set_stores({f"st{n}": ({"item2": "SOLDOUT"} if n < soldout else {}) for n in range(stores)})
    return await harness.plan()


class Page(HTMLParser):
    """The HTML GitHub would show: its tags in order, and its text."""

    def __init__(self, markdown: str):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.feed(PARSER.renderer.render(list(tokens(markdown)), PARSER.options, {}))

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        self.tags.append("/" + tag)

    def handle_data(self, data):
        self.text.append(data)

    @property
    def words(self) -> str:
        return "".join(self.text)


ALLOWED_TAGS = {"h3", "h4", "p", "ul", "li", "code", "strong", "em", "blockquote", "details", "summary",
                "table", "thead", "tbody", "tr", "th", "td"}


def assert_renders_safely(markdown: str) -> Page:
    """The comment as GitHub shows it: only the tags the rendering writes, every
    `<details>` closed in order with one `<summary>` first, every table row whole."""
    assert markdown.startswith(MARKER + "\n")
    page = Page(markdown)
    assert {t.lstrip("/") for t in page.tags} <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    depth = 0
    for i, tag in enumerate(page.tags):
        if tag == "details":
            depth += 1
            assert depth == 1 and page.tags[i + 1] == "summary", page.tags[i - 3:i + 3]
        elif tag == "/details":
            depth -= 1
            assert depth == 0
    assert depth == 0
    for table in shown_tables(markdown):
        assert len({len(row) for row in table}) == 1, table  # every row has the header's columns
    return page


def shown_tables(markdown: str) -> list[list[list[str]]]:
    """Each table as rows of cell texts as shown (code spans as their content)."""
    out, rows, row = [], [], None
    for token in tokens(markdown):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append("".join(c.content for c in token.children if c.type in ("text", "code_inline")))
        elif token.type == "tr_close":
            rows.append(row)
            row = None
        elif token.type == "table_close":
            out.append(rows)
    return out


def list_items(markdown: str) -> list[list[str]]:
    """Each top-level bullet list as the texts of its items (as shown); nested lists fail."""
    out, depth = [], 0
    for token in tokens(markdown):
        if token.type == "bullet_list_open":
            depth += 1
            assert depth == 1, "a nested list"
            out.append([])
        elif token.type == "bullet_list_close":
            depth -= 1
        elif token.type == "inline" and depth:
            out[-1].append("".join(c.content for c in token.children if c.type in ("text", "code_inline")))
    return out
