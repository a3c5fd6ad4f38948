"""The pull-request rendering, read back with a real Markdown parser."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from harness import DStoreHarness
from plan_review import HOSTILE, assert_renders_safely, chain_plan, list_items, shown_tables
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
    assert_renders_safely(text)
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
    # Names next to ids; what both stores do is said once.
    assert "- marks `item3` (item 3) unavailable in sg / st0" in text
    assert "- price of `item5` (item 5) 5.50 -> 8.25 (+50.0%) in 2 stores of sg (st0, st1)" in text
    assert "- **full path** 2 stores of sg (st0, st1): 'item5' changed price" in text
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
    assert "price of `item2` (item 2) 2.50 -> 2.60 (+4.0%) in sg / st0" in render_markdown(await harness.plan(),
                                                                                             price_alert=0.01)


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
    shown = text.count("<details><summary>sg / ")
    assert shown + int(match.group(1)) == 300
    assert "<details><summary>All 300 stores that change</summary>" in text  # the long table is folded
    summary = tables(text)[0]
    assert len(summary) == 301  # every store is in the summary


def test_no_changes():
    from reconciler.plan import Plan

    text = render_markdown(Plan(plan_id="x", created_at="t", tool_version="0", project="p"))
    assert text == f"{MARKER}\n### Reconciler plan `x`\n\n**No changes.** The backends match the catalog.\n"


# -- what a reviewer sees (issue 14, section 2) ---------------------------------------------


async def test_hostile_names_show_as_themselves_and_open_or_close_nothing(hostile_plan):
    text = render_markdown(hostile_plan)
    page = assert_renders_safely(text)
    assert "script" not in page.tags
    store = f"{HOSTILE} st"
    summary = shown_tables(text)[0]
    assert ["sg", store, "full", "4", "0", "0", "0", "1"] in [row[:8] for row in summary]  # whole columns
    # Named next to its id in the attention list, and in the price table as itself.
    assert f"price of item1 ({HOSTILE}) 1.50 -> 2.50 (+66.7%) in 2 stores of sg (st0, st1)" in list_items(text)[0]
    assert ["item1", HOSTILE, "1.50", "2.50", "+66.7% !"] in shown_tables(text)[1]
    assert f"sg / {store}: full path" in page.words  # a <summary>: entities, shown as written
    changes = [item for items in list_items(text) for item in items]
    assert changes.count(f"update item1 ({HOSTILE}): name item 1 -> {HOSTILE}; price.value 150 -> 250") == 2


async def test_a_store_leaving_the_catalog_is_not_counted_as_a_removal_and_its_changes_are_listed(leaving_plan):
    text = render_markdown(leaving_plan)
    assert_renders_safely(text)
    # Apply sends one full sync to the new store st9 and nothing to st2, which keeps its products.
    assert ("**1** store changes: **5** to create, **0** to update, **0** to remove, **0** to mark unavailable, "
            "settings of **1** store to update; **1** request,") in text
    assert "**Not sent:** **5** to remove, settings of **1** store to update in 1 store:" in text
    [summary] = [t for t in shown_tables(text) if t[0][0] == "backend"]
    assert [row[1] for row in summary[1:]] == ["st9"] and sum(int(row[5]) for row in summary[1:]) == 0
    attention, st2, st2_notes, st9 = list_items(text)
    assert [item for item in st9 if item.startswith("create ")] == [f"create item{i} (item {i})" for i in range(5)]
    assert st2_notes == [note.split(": ", 1)[1] for note in attention if note.startswith("note sg / st2")]
    assert attention[0] == "not sent sg / st2: 5 to remove and its settings to update; nothing is sent for this store"
    assert ("note sg / st2: D-Store cannot hold a store without products; its products stay until the store is "
            "closed in D-Store") in attention
    assert "note sg / st2: this store is no longer in the catalog for this backend; no request removes its products" \
        in attention
    # The five removals the sentence counts, as a list of their own (not "- - remove").
    assert [item for item in st2 if item.startswith("remove ")] == [f"remove item{i} (item {i})" for i in range(5)]
    assert "<details><summary>sg / st2: nothing is sent, 6 changes stay undone</summary>" in text


async def test_a_store_with_only_a_note_is_shown_and_the_plan_is_not_called_clean(locked_plan):
    assert not locked_plan.has_changes  # exit codes still say "no changes"
    text = render_markdown(locked_plan)
    assert_renders_safely(text)
    assert "**No changes.** The backends match the catalog.\n\n1 store has notes and no changes.\n" in text
    [attention] = list_items(text)
    assert len(attention) == 1 and attention[0].startswith("note sg / st1: locked by ci-job-7 since ")


async def test_a_refused_plan_starts_with_a_refusal_and_says_each_violation_once(refused_plan):
    text = render_markdown(refused_plan)
    page = assert_renders_safely(text)
    lines = text.splitlines()
    assert lines[1].endswith(": refused by safety")
    assert lines[3:5] == ["> [!CAUTION]", "> **REFUSED by safety (2 safety findings in 2 stores): apply will not run "
                          "this plan and nothing is sent. If the changes are intended, review them and plan again "
                          "with --force.**"]
    assert lines[6] == ("> - **safety** 2 stores of sg (st0, st1): removes 5 of 8 products (62%), more than "
                        "max\\_removed\\_share 30%")
    assert page.tags[:7] == ["h3", "code", "/code", "/h3", "blockquote", "p", "strong"]
    # Said in the banner, so not again under "Needs attention"; the removals are.
    assert text.count("removes 5 of 8 products") == 1 + 2  # the banner, and each store's details
    removals = ", ".join(f"`item{i}` (item {i})" for i in range(3, 8))
    assert f"- removes 5: {removals} in 2 stores of sg (st0, st1)" in text

    forced = render_markdown(refused_plan, force=True)
    assert forced.splitlines()[1].endswith("`") and "refused" not in forced.lower()
    assert "> [!WARNING]" in forced and "--force was given, so apply runs this plan anyway" in forced


async def test_a_400_store_plan_reads_in_one_screen(tmp_path):
    plan = await chain_plan(tmp_path / "p", stores=400, soldout=312)
    text = render_markdown(plan, full_plan="plan.json")
    assert len(text) <= COMMENT_LIMIT
    assert_renders_safely(text)
    # What shows before anything is unfolded: the counts, a folded table, the findings.
    first_screen = text[:text.index("<details><summary>sg / ")]
    table = first_screen.index("<details>"), first_screen.index("</details>")
    visible = (first_screen[:table[0]] + first_screen[table[1]:]).strip().splitlines()
    assert len(visible) <= 15, visible
    stores = ", ".join(f"st{n}" for n in sorted(range(312), key=str)[:10])
    assert f"- marks `item2` (item 2) unavailable in 312 stores of sg ({stores} and 302 more)" in visible
    assert any(line.startswith("- **first apply** 400 stores of sg (") and "and 390 more)" in line for line in visible)


def test_the_left_out_note_names_every_plan_file_of_a_merged_comment():
    from reconciler.render.markdown import _left_out

    note = _left_out({"stores' details": 3}, COMMENT_LIMIT, ["plan-1.json", "plan-2.json"])
    assert "3 stores' details" in note
    assert "in the plan artifacts `plan-1.json`, `plan-2.json`; render them with `reconciler show PLANFILE...`" in note
