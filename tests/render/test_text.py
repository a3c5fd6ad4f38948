"""The terminal rendering: what a reviewer reads before typing yes."""

from __future__ import annotations

import json

from plan_review import HOSTILE, Page, chain_plan
from reconciler.render import render
from reconciler.render.text import render_text


def assert_every_warning_is_shown(plan) -> None:
    """Each warning the JSON plan carries, in the text and in the markdown as GitHub shows it."""
    warnings = [w for store in json.loads(render(plan, "json"))["stores"] for w in store["warnings"]]
    assert warnings
    text, shown = render(plan, "text"), Page(render(plan, "markdown")).words
    for warning in warnings:
        assert warning in text and warning in shown, warning


async def test_a_store_leaving_the_catalog_is_listed_with_what_is_not_sent_and_counted_apart(leaving_plan):
    text = render_text(leaving_plan)
    lines = text.splitlines()
    assert lines[0].endswith(": 4 store bindings, 1 with changes, 1 with changes that are not sent")
    block = lines.index("sg / st2 (id st2 on dstore): nothing is sent - nothing to send; these changes stay undone:")
    assert lines[block + 1:block + 9] == [
        "  ~ store name: st2 -> (none)",
        *(f"  - item{i} (item {i})" for i in range(5)),
        "  note: D-Store cannot hold a store without products; its products stay until the store is closed in D-Store",
        "  note: this store is no longer in the catalog for this backend; no request removes its products",
    ]
    assert lines[-2].startswith("Plan: 5 to create, 0 to update, 0 to remove in 1 store; 1 request, ")
    assert lines[-1] == ("Not sent: 5 to remove, settings of 1 store to update in 1 store (sg / st2): the backend "
                         "cannot take these changes, so nothing is sent for them (see the notes above).")
    assert "  [not sent] sg / st2: 5 to remove and its settings to update; nothing is sent for this store" in lines
    assert_every_warning_is_shown(leaving_plan)


async def test_a_store_with_only_a_note_is_shown_and_no_changes_is_still_no_changes(locked_plan):
    text = render_text(locked_plan)
    lines = text.splitlines()
    assert lines[0].endswith(": 2 store bindings, 0 with changes, 1 with notes only")
    assert "sg / st1 (id st1 on dstore): no changes" in lines
    assert lines[lines.index("sg / st1 (id st1 on dstore): no changes") + 1].startswith(
        "  note: locked by ci-job-7 since ")
    assert "sg / st0" not in text  # nothing to say about it
    assert lines[-2:] == ["No changes. The backends match the catalog.", "1 store has notes and no changes (above)."]
    assert_every_warning_is_shown(locked_plan)


async def test_a_refused_plan_says_so_first_and_groups_what_stores_share(refused_plan):
    lines = render_text(refused_plan).splitlines()
    assert lines[1] == ("REFUSED by safety (2 safety findings in 2 stores): apply will not run this plan and nothing "
                        "is sent. If the changes are intended, review them and plan again with --force.")
    assert lines[2] == ("  [safety] 2 stores of sg (st0, st1): removes 5 of 8 products (62%), more than "
                        "max_removed_share 30%")
    attention = lines[lines.index("Needs attention:") + 1:]
    removed = ", ".join(f"item{i} (item {i})" for i in range(3, 8))
    assert attention[0] == f"  removes 5: {removed} in 2 stores of sg (st0, st1)"
    assert not any("[safety]" in line for line in attention)  # the banner said it
    forced = render_text(refused_plan, force=True).splitlines()
    assert forced[1].startswith("Safety thresholds crossed (2 safety findings in 2 stores); --force was given")


async def test_many_stores_doing_the_same_thing_is_one_line_at_the_end(tmp_path):
    plan = await chain_plan(tmp_path / "p", stores=40, soldout=31)
    lines = render_text(plan).splitlines()
    attention = lines[lines.index("Needs attention:") + 1:-2]
    first = ", ".join(f"st{n}" for n in sorted(range(31), key=str)[:10])
    assert attention[0] == f"  marks item2 (item 2) unavailable in 31 stores of sg ({first} and 21 more)"
    assert len(attention) == 3  # unavailable, first apply, full path: each once for all stores
    # Every store is still shown in full above.
    assert sum(line.startswith("sg / st") for line in lines) == 40


async def test_price_moves_of_the_same_product_by_the_same_amount_are_one_line(tmp_path):
    from harness import DStoreHarness
    from plan_review import edit_menu

    harness = DStoreHarness(tmp_path / "p", stores=12, products=3)
    await harness.apply(await harness.plan())
    edit_menu(harness, 'item1: {name: item 1, price: "1.50"}', 'item1: {name: item 1, price: "3.00"}')
    text = render_text(await harness.plan())
    assert text.count("price of item1") == 1
    assert "  price of item1 (item 1) 1.50 -> 3.00 (+100.0%) in 12 stores of sg (st0, st1, st10, st11, st2, st3, " \
        "st4, st5, st6, st7 and 2 more)" in text.splitlines()


async def test_names_are_written_as_they_are_in_text(hostile_plan):
    text = render_text(hostile_plan)
    assert f"  ~ item1 ({HOSTILE}): name item 1 -> {HOSTILE}; price.value 150 -> 250" in text.splitlines()
    colored = render_text(hostile_plan, color=True)
    assert HOSTILE in colored and "\x1b[" in colored
