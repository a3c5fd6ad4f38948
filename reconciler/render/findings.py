"""What a reviewer must not miss, said once however many stores share it.

A chain's plan repeats itself: the same product marked unavailable in 312 stores, the
same price move in every store of a menu, the same note from a backend. Each finding is
gathered with the stores it occurs in, so a 400-store plan reads in a screen:
"marks `p2` (chicken burger) unavailable in 312 stores of sg (s1, s2, ... and 302 more)".

Findings about products (removals, products made unavailable, price moves) are grouped
twice: each product with the stores it happens in, then the products that happen in the
same stores together, so one store removing 30 products is one line and 312 stores
marking the same product unavailable is one line too. Findings that are sentences
(safety, notes, full path reasons) are grouped by their exact text.

The renderings format them (`Style`): markdown escapes, text does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..plan import Plan, StorePlan
from .common import store_title

DEFAULT_PRICE_ALERT = 0.2  # a price moving by more than this share is called out
SUBJECTS_SHOWN = 20  # products named in one finding
STORES_SHOWN = 10  # stores named in one finding

# In the order a reviewer reads them: what stops the plan first, then what it takes
# away, then what it does differently from usual.
KINDS = ("safety", "not sent", "remove", "unavailable", "price", "first apply", "note", "full path")
PRODUCT_KINDS = ("remove", "unavailable", "price")  # about products; the others are sentences


@dataclass(frozen=True)
class Subject:
    """A product a finding is about, with what happens to it (a price move)."""

    key: str
    name: str = ""
    detail: str = ""


@dataclass
class Finding:
    kind: str  # one of KINDS
    message: str = ""  # the sentence of a sentence finding; "" for a product finding
    subjects: list[Subject] = field(default_factory=list)
    stores: list[StorePlan] = field(default_factory=list)


@dataclass(frozen=True)
class Style:
    """How a rendering writes ids, free text and labels."""

    code: Callable[[str], str] = str
    text: Callable[[str], str] = str
    label: Callable[[str], str] = lambda word: f"[{word}]"


PLAIN = Style()


def percent(change: float | None) -> str:
    return "" if change is None else f"{change:+.1%}"


def price_detail(old: str | None, new: str | None, change: float | None) -> str:
    return f"{old or '(none)'} -> {new or '(none)'} ({percent(change) or 'new or removed price'})"


def alerted(change: float | None, price_alert: float) -> bool:
    return change is None or abs(change) > price_alert


def findings(plan: Plan, price_alert: float = DEFAULT_PRICE_ALERT) -> list[Finding]:
    """Every finding of the plan, grouped across stores, most important first."""
    sentences: dict[tuple[str, str], Finding] = {}
    products: dict[str, dict[Subject, list[StorePlan]]] = {kind: {} for kind in PRODUCT_KINDS}

    def say(kind: str, message: str, store: StorePlan) -> None:
        sentences.setdefault((kind, message), Finding(kind, message)).stores.append(store)

    for store in plan.stores:
        if not store.actions:
            if store.changes or store.meta_changes:
                say("not sent", not_sent(store), store)
            for warning in store.warnings:
                say("note", warning, store)
            continue
        for violation in store.safety.violations:
            say("safety", violation, store)
        for change in store.changes:
            if change.op == "delete":
                products["remove"].setdefault(Subject(change.key, change.label), []).append(store)
        for move in store.availability_moves:
            if not move.available:
                products["unavailable"].setdefault(Subject(move.key, move.name), []).append(store)
        for move in store.price_moves:
            if alerted(move.change, price_alert):
                subject = Subject(move.key, move.name, price_detail(move.old, move.new, move.change))
                products["price"].setdefault(subject, []).append(store)
        # Not owned, unseen contents are a safety violation that says so itself.
        if store.unseen and store.owned:
            say("first apply", f"{store.unseen} (the store is declared owned)", store)
        for warning in store.warnings:
            say("note", warning, store)
        if store.path == "full":
            say("full path", store.reason, store)
    grouped = list(sentences.values())
    for kind, by_subject in products.items():
        by_stores: dict[tuple[tuple[str, str], ...], Finding] = {}
        for subject, stores in by_subject.items():
            where = tuple(s.key for s in stores)
            by_stores.setdefault(where, Finding(kind, stores=stores)).subjects.append(subject)
        grouped.extend(by_stores.values())
    order = {kind: i for i, kind in enumerate(KINDS)}
    # Stable: within a kind, the widest first, then in the plan's order.
    return sorted(grouped, key=lambda f: (order[f.kind], -len(f.stores)))


def not_sent(store: StorePlan) -> str:
    """What a store without requests leaves undone, in plan counts."""
    counts = store.counts()
    parts = [f"{counts['create']} to create", f"{counts['update']} to update", f"{counts['delete']} to remove"]
    parts = [p for p in parts if not p.startswith("0 ")]
    if store.meta_changes:
        parts.append("its settings to update")
    return f"{' and '.join(parts)}; nothing is sent for this store"


def phrase(finding: Finding, style: Style = PLAIN) -> str:
    """One finding as one line."""
    where = stores_phrase(finding.stores, style)
    if finding.kind not in PRODUCT_KINDS:
        return f"{style.label(finding.kind)} {where}: {style.text(finding.message)}"
    things = subjects_phrase(finding.subjects, style)
    if finding.kind == "remove":
        return f"removes {things} in {where}"
    if finding.kind == "unavailable":
        return f"marks {things} unavailable in {where}"
    return f"price of {things} in {where}"


def subject_phrase(subject: Subject, style: Style = PLAIN) -> str:
    """`key` (name) and what happens to it."""
    out = style.code(subject.key)
    if subject.name and subject.name != subject.key:
        out += f" ({style.text(subject.name)})"
    return out + (f" {style.text(subject.detail)}" if subject.detail else "")


def subjects_phrase(subjects: list[Subject], style: Style = PLAIN) -> str:
    shown = ", ".join(subject_phrase(s, style) for s in subjects[:SUBJECTS_SHOWN])
    more = len(subjects) - SUBJECTS_SHOWN
    text = shown + (f" and {more} more" if more > 0 else "")
    return f"{len(subjects)}: {text}" if len(subjects) > 1 else text


def stores_phrase(stores: list[StorePlan], style: Style = PLAIN) -> str:
    """`sg / st0`, or `312 stores of sg (st0, st1, ... and 302 more)`."""
    if len(stores) == 1:
        return style.text(store_title(stores[0]))
    backends = list(dict.fromkeys(s.backend for s in stores))
    one_backend = len(backends) == 1
    names = [style.text(s.store if one_backend else store_title(s)) for s in stores[:STORES_SHOWN]]
    more = len(stores) - STORES_SHOWN
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    of = f" of {style.text(backends[0])}" if one_backend else ""
    return f"{len(stores)} stores{of} ({listed})"
