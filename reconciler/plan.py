"""The plan: a frozen, serializable list of per-store actions, and its safety checks.

The same object is rendered for review, written with `plan --out`, and executed by
`apply`; nothing is recomputed between review and apply except the staleness check.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .diff import FieldChange, ResourceChange
from .errors import PlanError, SafetyRefused
from .fingerprint import ByIdentity, fingerprint

FORMAT_VERSION = 1


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Cost(Frozen):
    requests: int
    bytes: int


class Effect(Frozen):
    """What the backend holds after an action succeeds, relative to before it.

    `replace` starts from nothing (a full sync); `set` keys take the plan's desired value
    of that resource; `remove` keys are gone. The state store applies this to its
    snapshot after each successful request, so an interrupted apply resumes correctly.
    """

    replace: bool = False
    set: list[str] = []
    remove: list[str] = []
    meta: bool = False  # the store-level fields take the desired meta
    # What the action does to contents of the store the reconciler has never seen (items
    # the backend held before the first apply): "kept"; "cleared" (replaced, zeroed or
    # marked unavailable: a full sync that overwrites); "unknown" (the document does not
    # say). Before a store's first recorded apply, anything but "kept" is refused by
    # safety unless the store is owned or --force is given.
    unseen: Literal["kept", "unknown", "cleared"] = "kept"


class Action(Frozen):
    index: int
    kind: str
    summary: str
    method: str
    path: str
    body: Any
    bytes: int
    idempotency_key: str
    retry_safe: bool = True  # False: never re-send after an unknown outcome
    effect: Effect


class SafetyCheck(Frozen):
    removed: int
    unavailable: int
    total: int  # products the store holds now (observed), the base of both shares
    removed_share: float
    unavailable_share: float
    max_removed_share: float
    max_unavailable_share: float
    empties_store: bool
    violations: list[str] = []


class PriceMove(Frozen):
    """A resource whose price changes, in major units, for reviewers."""

    key: str
    name: str = ""
    old: str | None = None  # decimal text; None when the resource is new
    new: str | None = None  # None when the resource goes
    change: float | None = None  # (new - old) / old, when both are known and old is not 0


class AvailabilityMove(Frozen):
    key: str
    name: str = ""
    available: bool  # after the plan


class StorePlan(Frozen):
    backend: str
    provider: str
    store: str  # catalog store id
    remote_id: str  # the store's id in the backend
    path: Literal["light", "full", "none"]
    reason: str
    changes: list[ResourceChange] = []
    meta_changes: list[FieldChange] = []
    desired_meta: dict[str, Any] = {}
    resources: dict[str, dict[str, Any]] = {}  # desired values of every key an effect sets
    actions: list[Action] = []
    full_cost: Cost
    desired_fingerprint: str
    observed_fingerprint: str
    observed_source: str
    base_serial: int
    base_generation: int = 0  # the state row's generation the plan saw (0: no row)
    safety: SafetyCheck
    price_moves: list[PriceMove] = []
    availability_moves: list[AvailabilityMove] = []
    warnings: list[str] = []
    owned: bool = False  # the user declared that the reconciler owns the whole store there
    # Non-empty when the reconciler has never seen what the backend holds for this store
    # and an action's effect on those unseen contents is not "kept": says what happens.
    unseen: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.backend, self.store)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    @property
    def requests(self) -> int:
        return len(self.actions)

    @property
    def bytes(self) -> int:
        return sum(a.bytes for a in self.actions)

    def digest(self) -> str:
        """One hash of everything apply acts on and a reviewer saw: all but the notes
        that may differ between two derivations of the same plan (who held a lock).
        Remembered per object (a store plan is frozen): apply asks for it more than once,
        and a full sync's plan carries every product of the store."""
        return _store_plan_digest(self)

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self.changes:
            counts[change.op] += 1
        return counts


class Plan(Frozen):
    format_version: int = FORMAT_VERSION
    plan_id: str
    created_at: str
    tool_version: str
    project: str
    options: dict[str, Any] = {}
    stores: list[StorePlan] = []
    notes: list[str] = []

    @property
    def has_changes(self) -> bool:
        return any(s.has_changes for s in self.stores)

    @property
    def changed_stores(self) -> list[StorePlan]:
        return [s for s in self.stores if s.has_changes]

    @property
    def unsent_stores(self) -> list[StorePlan]:
        """Stores that differ from the catalog but get no request: the backend cannot
        express the change (a D-Store store leaving the catalog keeps its products). Their
        warnings say why; they are not counted as changes."""
        return [s for s in self.stores if not s.actions and (s.changes or s.meta_changes)]

    def totals(self, stores: list[StorePlan] | None = None) -> dict[str, int]:
        """Counts over `stores`, by default the stores apply sends requests to: changes by
        operation, stores whose own settings change, requests and bytes."""
        stores = self.changed_stores if stores is None else stores
        totals = {"stores": len(stores), "create": 0, "update": 0, "delete": 0, "settings": 0,
                  "requests": 0, "bytes": 0}
        for store in stores:
            for op, n in store.counts().items():
                totals[op] += n
            totals["settings"] += bool(store.meta_changes)
            totals["requests"] += store.requests
            totals["bytes"] += store.bytes
        return totals

    @classmethod
    def merged(cls, plans: list["Plan"]) -> "Plan":
        """One plan for display, made of the plans of a CI matrix's shards.

        Stores of all, sorted by backend and store; ids and projects joined with "+".
        Apply takes each shard's own plan file, never this one: its plan id is none of
        the ids its actions were made with, so apply refuses it as edited.
        """
        if not plans:
            raise PlanError("no plan files to show")
        versions = sorted({p.format_version for p in plans})
        if len(versions) > 1:
            raise PlanError(f"the plans have different format versions ({', '.join(map(str, versions))}); "
                            "make them again with one version of the reconciler")
        owner: dict[tuple[str, str], str] = {}
        for plan in plans:
            for store in plan.stores:
                if store.key in owner:
                    raise PlanError(f"{store.backend}/{store.store} is in plan {owner[store.key]} and in plan "
                                    f"{plan.plan_id}; the plans to show together must cover different stores "
                                    "(the shards of one --shard I/N matrix)")
                owner[store.key] = plan.plan_id
        if len(plans) == 1:
            return plans[0]

        def joined(values: list[str]) -> str:
            return "+".join(dict.fromkeys(values))

        return cls(
            format_version=versions[0],
            plan_id=joined([p.plan_id for p in plans]),
            created_at=min(p.created_at for p in plans),
            tool_version=joined([p.tool_version for p in plans]),
            project=joined([p.project for p in plans]),
            options={"merged": [{"plan_id": p.plan_id, **p.options} for p in plans]},
            stores=sorted((s for p in plans for s in p.stores), key=lambda s: s.key),
            notes=[f"shown together: {len(plans)} plans ({', '.join(p.plan_id for p in plans)}); "
                   "apply each plan file on its own"] + [n for p in plans for n in p.notes],
        )

    # -- safety ------------------------------------------------------------------------------
    def safety_violations(self) -> list[tuple[StorePlan, str]]:
        return [(s, v) for s in self.stores if s.has_changes for v in s.safety.violations]

    def check_safety(self, force: bool) -> None:
        """Refuse (exit 3) when any store crosses a threshold, unless forced."""
        violations = self.safety_violations()
        if violations and not force:
            lines = [f"  {s.backend}/{s.store}: {v}" for s, v in violations]
            raise SafetyRefused(
                "plan refused by safety thresholds; nothing was sent:\n" + "\n".join(lines)
                + "\nreview the changes; if they are intended, run again with --force"
            )

    # -- files ------------------------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str, source: str) -> "Plan":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"{source}: not a plan file (invalid JSON at line {exc.lineno})") from None
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if version != FORMAT_VERSION:
            raise PlanError(
                f"{source}: plan format_version {version!r} is not {FORMAT_VERSION}; "
                "make the plan again with this version of the reconciler"
            )
        try:
            return cls.model_validate(raw)
        except Exception as exc:
            raise PlanError(f"{source}: not a valid plan file: {str(exc).splitlines()[0]}") from None


def safety_check(
    observed: dict[str, dict],
    desired: dict[str, dict],
    changes: list[ResourceChange],
    available: Any,
    max_removed_share: float,
    max_unavailable_share: float,
    more_violations: list[str] = (),
    unseen_base: bool = False,
) -> SafetyCheck:
    """Shares of a store's products that the plan removes or makes unavailable.

    The base is what the store holds now: a 7-product menu losing 6 is 86% removed,
    whatever the size of the store. `more_violations` are the planner's findings that are
    not shares (a first contact that would clear unseen contents). With `unseen_base` (a
    first contact with a store the reconciler does not own) what the store holds is
    unknown, and it may offer the very products the plan names: each one sent unavailable
    counts, out of those the plan sends.
    """
    total = len(observed)
    removed = sum(1 for c in changes if c.op == "delete")
    unavailable = sum(
        1 for c in changes
        if c.op == "update" and available(c.old) and not available(c.new)
    )
    if unseen_base and not total:
        total = len(desired)
        unavailable += sum(1 for c in changes if c.op == "create" and not available(c.new))
    removed_share = removed / total if total else 0.0
    unavailable_share = unavailable / total if total else 0.0
    empties = total > 0 and not desired
    violations = []
    if empties:
        violations.append(f"would remove all {total} products and leave the store empty")
    if removed_share > max_removed_share and not empties:
        violations.append(
            f"removes {removed} of {total} products ({removed_share:.0%}), more than max_removed_share {max_removed_share:.0%}"
        )
    if unavailable_share > max_unavailable_share:
        violations.append(
            f"makes {unavailable} of {total} products unavailable ({unavailable_share:.0%}), "
            f"more than max_unavailable_share {max_unavailable_share:.0%}"
            + (" (the backend may offer them now: the reconciler has never seen this store)" if unseen_base else "")
        )
    violations.extend(more_violations)
    return SafetyCheck(
        removed=removed, unavailable=unavailable, total=total,
        removed_share=round(removed_share, 4), unavailable_share=round(unavailable_share, 4),
        max_removed_share=max_removed_share, max_unavailable_share=max_unavailable_share,
        empties_store=empties, violations=violations,
    )


#: StorePlan.digest, once per store plan object (bounded: a long-lived process plans often).
_store_plan_digest = ByIdentity(lambda store: fingerprint(store.model_dump(mode="json", exclude={"warnings"})),
                                limit=10_000)
