"""The pull-request rendering, read back with a real Markdown parser."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from harness import DStoreHarness
from reconciler.render.markdown import COMMENT_LIMIT, MARKER, render_markdown

PARSER = MarkdownIt("commonmark").enable("table")


def tables(text: str) -> list[list[list[str]]]:
    """Each table as rows of cell texts, from markdown-it's token stream."""
    out, rows, row, cell = [], [], None, None
    for token in PARSER.parse(text):
        if token.type == "table_open":
            rows = []
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            cell = ""
        elif token.type == "inline" and cell is not None:
            cell = token.content
        elif token.type in ("th_close", "td_close"):
            row.append(cell)
            cell = None
        elif token.type == "tr_close":
            rows.append(row)
        elif token.type == "table_close":
            out.append(rows)
    return out


def assert_well_formed(text: str) -> None:
    assert text.startswith(MARKER + "\n")
    assert text.count("<details>") == text.count("</details>")
    assert [m.group(0) for m in re.finditer(r"</?details>", text)] == ["<details>", "</details>"] * text.count("<details>")
    for table in tables(text):
        assert len({len(row) for row in table}) == 1, table  # every row has the header's columns


async def test_small_plan_summary_attention_and_details(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=2, products=8)
    await harness.apply(await harness.plan())
    harness.set_stores({"st0": {"item3": "SOLDOUT"}, "st1": {}})
    menu = (harness.root / "menu.yaml").read_text()
    (harness.root / "menu.yaml").write_text(menu.replace('item5: {name: item 5, price: "5.50"}',
                                                         'item5: {name: item 5, price: "8.25"}'))
    text = render_markdown(await harness.plan(), full_plan="plan.json")
    assert_well_formed(text)
    summary, *details = tables(text)
    assert summary[0] == ["backend", "store", "path", "create", "update", "remove", "availability", "requests", "bytes"]
    assert [row[:8] for row in summary[1:]] == [["sg", "st0", "full", "0", "2", "0", "1", "1"],
                                                ["sg", "st1", "full", "0", "1", "0", "0", "1"]]
    assert "- sg / st0: marks unavailable 1: `item3`" in text
    assert "- sg / st0: price of `item5` 5.50 -> 8.25 (+50.0%)" in text
    assert "- sg / st1: full path ('item5' changed price)" in text
    assert ["`item5`", "item 5", "5.50", "8.25", "+50.0% **!**"] in details[0]
    assert ["`item3`", "item 3", "**unavailable**"] in details[1]
    assert "Left out" not in text


async def test_small_price_moves_are_in_details_but_not_called_out(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=1, products=4)
    await harness.apply(await harness.plan())
    menu = (harness.root / "menu.yaml").read_text()
    (harness.root / "menu.yaml").write_text(menu.replace('price: "2.50"', 'price: "2.60"'))
    text = render_markdown(await harness.plan())
    assert "price of `item2`" not in text  # +4% is under the 20% default
    assert ["`item2`", "item 2", "2.50", "2.60", "+4.0%"] in tables(text)[1]
    assert "price of `item2` 2.50 -> 2.60 (+4.0%)" in render_markdown(await harness.plan(), price_alert=0.01)


async def test_a_plan_over_many_stores_stays_under_the_comment_limit(tmp_path):
    harness = DStoreHarness(tmp_path / "p", stores=300, products=40)
    plan = await harness.plan()
    text = render_markdown(plan, full_plan="plan.json")
    assert len(text) <= COMMENT_LIMIT
    assert_well_formed(text)
    note = text.strip().splitlines()[-1]
    match = re.search(r"Left out to stay under GitHub's 65,536-character limit: (\d+) stores' details\. "
                      r"The full plan is the plan artifact `plan\.json`", note)
    assert match, note
    shown = text.count("<details>")
    assert shown + int(match.group(1)) == 300
    summary = tables(text)[0]
    assert len(summary) == 301  # every store is in the summary


def test_no_changes():
    from reconciler.plan import Plan

    text = render_markdown(Plan(plan_id="x", created_at="t", tool_version="0", project="p"))
    assert text == f"{MARKER}\n### Reconciler plan `x`\n\n**No changes.** The backends match the catalog.\n"
