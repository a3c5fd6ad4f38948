"""Planning: for each selected (backend, store), desired vs observed, compiled by the
provider into actions, checked for safety, frozen into a Plan."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any, Callable

from . import __version__
from .diff import diff_resources, field_changes
from .errors import ConfigError, PlanError, StalePlanError
from .expand import StoreView
from .fingerprint import resource_hash, snapshot_fingerprint
from .model import Safety
from .plan import AvailabilityMove, Plan, PriceMove, StorePlan, safety_check
from .provider import CompileRequest, DesiredStore, Observed, Provider
from .state import Observation, StateView, StoreState
from .validation import Validated


@dataclass(frozen=True)
class Selector:
    """Include and exclude patterns (shell globs) for backends and stores."""

    backends: tuple[str, ...] = ()
    exclude_backends: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    exclude_stores: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None  # (I, N), 1-based: only stores that hash to I

    def selects(self, backend: str, store: str) -> bool:
        def match(value: str, patterns: tuple[str, ...]) -> bool:
            return any(fnmatchcase(value, p) for p in patterns)

        if self.shard is not None and shard_of(backend, store, self.shard[1]) != self.shard[0]:
            return False
        if self.backends and not match(backend, self.backends):
            return False
        if self.stores and not match(store, self.stores):
            return False
        return not match(backend, self.exclude_backends) and not match(store, self.exclude_stores)

    def store_filter(self) -> Callable[[str, Any], bool] | None:
        """For a shard: whether a store as parsed has a binding the shard plans, so that
        loading leaves the others out and a shard of a large chain costs its own stores.
        None without a shard: a plan of the whole catalog validates every store."""
        if self.shard is None:
            return None
        return lambda store, parsed: any(self.selects(backend, store) for backend in parsed["backends"])

    def describe(self) -> dict[str, list[str]]:
        described = {k: list(v) for k, v in self.__dict__.items() if v and k != "shard"}
        if self.shard is not None:
            described["shard"] = [f"{self.shard[0]}/{self.shard[1]}"]
        return described

    def unmatched(self, bindings: set[tuple[str, str]]) -> str:
        """Why an include pattern selects nothing among `bindings`, naming what exists, or ''."""
        def missing(patterns: tuple[str, ...], values: set[str]) -> list[str]:
            return [p for p in patterns if not any(fnmatchcase(v, p) for v in values)]

        backends = {b for b, _ in bindings}
        for option, patterns, values in (("--backend", self.backends, backends),
                                         ("--store", self.stores, {s for _, s in bindings})):
            for pattern in missing(patterns, values):
                known = sorted(values)
                shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
                return f"{option} {pattern!r} matches no store binding; there are: {shown or 'none'}"
        return ""

    @classmethod
    def from_description(cls, described: dict[str, list[str]]) -> "Selector":
        """The selector `describe` wrote into a plan file."""
        patterns = {k: tuple(described.get(k, ())) for k in ("backends", "exclude_backends", "stores", "exclude_stores")}
        shard = None
        if described.get("shard"):
            index, _, count = described["shard"][0].partition("/")
            shard = (int(index), int(count))
        return cls(**patterns, shard=shard)


def shard_of(backend: str, store: str, count: int) -> int:
    """The 1-based shard of a (backend, store) among `count`.

    A hash of the text "backend/store", not Python's hash(), which is salted per process:
    every CI job of a matrix must compute the same split, so N jobs cover every store
    exactly once.
    """
    digest = hashlib.sha256(f"{backend}/{store}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class PlanOptions:
    full: bool = False
    refresh: bool = True
    selector: Selector = field(default_factory=Selector)
    # Only these (backend, store) bindings, when set: a saved plan's changed stores, derived
    # again without planning the rest of the chain.
    only: frozenset[tuple[str, str]] | None = None

    def covers(self, key: tuple[str, str]) -> bool:
        """Whether a (backend, store) binding is planned with these options."""
        return self.selector.selects(*key) and (self.only is None or key in self.only)


@dataclass
class _Target:
    backend: str
    store: str
    provider: Provider
    view: StoreView | None
    remote_id: str
    desired: DesiredStore
    row: StoreState | None


def new_plan_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def idempotency_key(plan_id: str, backend: str, store: str, index: int) -> str:
    """Stable for one plan's action (retries reuse it), different for every new plan."""
    scope = hashlib.sha256(f"{backend}/{store}".encode()).hexdigest()[:10]
    return f"{plan_id}-{scope}-{index}"


def desired_fingerprint(desired: DesiredStore, hashes: dict[str, str] | None = None) -> str:
    return snapshot_fingerprint(desired.meta, desired.resources, hashes)


def _targets(validated: Validated, state: StateView, options: PlanOptions,
             reused: frozenset[tuple[str, str]] = frozenset()) -> list[_Target]:
    """The bindings to plan. `reused`: bindings a plan cache answers for (not planned,
    and not mistaken for stores that left the catalog)."""
    targets: list[_Target] = []
    heads = state.heads()  # every row, without its snapshot
    # Stores a shard left out are in the catalog all the same: not planned, not leaving.
    left_out = {(b, s) for s, backends in validated.project.left_out.items() for b in backends}
    bindings = ({(v.backend, v.store_id) for v in validated.views} | {k for k in heads if k[0] in validated.providers}
                | reused | left_out)
    unmatched = options.selector.unmatched(bindings)
    if unmatched:
        raise ConfigError(unmatched)
    # Snapshots are read only for what is planned: the selected views, and stores that left
    # the catalog (or a backend) but still hold something there.
    views = [v for v in validated.views if options.covers((v.backend, v.store_id))]
    in_catalog = {(v.backend, v.store_id) for v in validated.views} | reused | left_out
    gone = [k for k in heads if k not in in_catalog and k[0] in validated.providers and options.covers(k)]
    rows = state.get_many([(v.backend, v.store_id) for v in views] + gone)
    leaving = [k for k in gone if rows[k].resources or rows[k].unknown]
    for view in views:
        provider = validated.providers[view.backend]
        targets.append(_Target(
            view.backend, view.store_id, provider, view, provider.remote_id(view.binding),
            provider.desired(view), rows.get((view.backend, view.store_id)),
        ))
    # A store that left the catalog (or left a backend) but still has products there is
    # planned to be emptied, which the safety check always refuses without --force.
    for key in leaving:
        row = rows[key]
        provider = validated.providers[row.backend]
        targets.append(_Target(row.backend, row.store, provider, None, row.remote_id, DesiredStore({}, {}), row))
    return targets


async def _observe(targets: list[_Target], options: PlanOptions) -> dict[tuple[str, str], Observed]:
    """Live reads for providers that can read, in one bulk call per backend; the fields a
    read cannot return come from the last applied snapshot."""
    observed: dict[tuple[str, str], Observed] = {}
    if not options.refresh:
        return observed
    by_provider: dict[str, list[_Target]] = {}
    for target in targets:
        by_provider.setdefault(target.backend, []).append(target)
    for group in by_provider.values():
        provider = group[0].provider
        live = await provider.observe([t.remote_id for t in group])
        if live is None:
            continue
        for target in group:
            if target.remote_id in live:
                observed[(target.backend, target.store)] = _with_write_only_fields(
                    provider, live[target.remote_id], target.row)
    return observed


def _with_write_only_fields(provider: Provider, live: Observed, row: StoreState | None) -> Observed:
    """A live read with the fields it cannot return taken from the last applied snapshot.

    A write-only field (a lot's expiry date the store API never returns) can only be
    compared with what was last sent; without a snapshot it is absent, so the plan sends it
    once and the next plan sees it recorded.
    """
    fields = provider.write_only_fields
    if not fields or row is None:
        return live
    resources = {}
    for key, resource in live.resources.items():
        applied = row.resources.get(key)
        missing = {f: applied[f] for f in fields if applied and f in applied and f not in resource}
        resources[key] = {**resource, **missing} if missing else resource
    return Observed(live.meta, resources, live.source, live.unknown)


def _observed_from_state(row: StoreState | None, observations: list[Observation] = (),
                         owned_fields: tuple[str, ...] = ()) -> Observed:
    """The last applied snapshot, with what the backend reported since laid over it.

    A report about a key the snapshot does not hold is kept but not shown: the engine
    only tracks resources it applied. Reported values of fields the backend owns are not
    laid over: the plan leaves those fields alone, and only notes what was reported.
    """
    if row is None:
        return Observed({}, {}, "none")
    overlay = []
    for observation in observations:
        fields = {k: v for k, v in observation.fields.items() if k not in owned_fields}
        if observation.key in row.resources and fields:
            overlay.append((observation, fields))
    if not overlay:
        return Observed(row.meta, row.resources, "state", row.unknown)
    resources = dict(row.resources)
    for observation, fields in overlay:
        resources[observation.key] = {**resources[observation.key], **fields}
    sources = "+".join(sorted({o.source + "s" for o, _ in overlay}))
    return Observed(row.meta, resources, f"state+{sources}", row.unknown)


def _observation_notes(backend: str, row: StoreState | None, observations: list[Observation],
                       owned_fields: tuple[str, ...] = ()) -> list[str]:
    notes = []
    for observation in observations:
        base = row.resources.get(observation.key) if row else None
        if base is None:
            continue
        moved = [f"{name} {base.get(name)} -> {value}" + (" (owned by the backend: left alone)"
                                                          if name in owned_fields else "")
                 for name, value in sorted(observation.fields.items()) if base.get(name) != value]
        if moved:
            notes.append(f"observed in {backend} ({observation.source} of {observation.observed_at}, unverified "
                         f"content): {observation.key} {', '.join(moved)}")
    return notes


def _with_owned_fields(provider: Provider, backend: str, desired: DesiredStore, observed: Observed,
                       row: StoreState | None, notes: list[str]) -> DesiredStore:
    """Desired resources whose backend-owned fields take the value the backend holds.

    Only trusted sources count: a live read, or the last applied snapshot. A webhook's
    report is untrusted input (its body is not signed): it shows as observed drift but
    never becomes a desired value by itself, so a forged report cannot make the
    reconciler write the value it carries.
    """
    trusted = observed.resources if observed.source == "live" else (row.resources if row else None)
    if not provider.owned_fields or not trusted:
        return desired
    resources = {}
    for key, resource in desired.resources.items():
        seen = trusted.get(key)
        adjusted = dict(resource)
        for name in provider.owned_fields if seen is not None else ():
            if name in seen and seen[name] != resource.get(name):
                notes.append(f"{name} of {key} is {seen[name]} in {backend} (catalog says {resource.get(name)}); "
                             "owned by the backend, left as is")
                adjusted[name] = seen[name]
        resources[key] = adjusted
    return DesiredStore(desired.meta, resources)


async def make_plan(validated: Validated, state: StateView, options: PlanOptions,
                    plan_id: str | None = None, created: datetime | None = None,
                    reused: dict[tuple[str, str], StorePlan] | None = None) -> Plan:
    """The plan of the selected stores. `plan_id` and `created` are given when a saved
    plan is derived again to prove it was not edited: with the same catalog, state and
    clock the actions come out byte for byte the same. `reused`: store plans a plan cache
    gives back (`plan_cache.py`) instead of planning those bindings."""
    plan_id = plan_id or new_plan_id()
    created = created or datetime.now(timezone.utc).replace(microsecond=0)
    project = validated.project
    reused = reused or {}
    targets = _targets(validated, state, options, frozenset(reused))
    live = await _observe(targets, options)
    stores: list[StorePlan] = [plan for key, plan in reused.items() if options.covers(key)]
    for target in sorted(targets, key=lambda t: (t.backend, t.store)):
        observed = live.get((target.backend, target.store))
        if observed is None and _moved(target):
            observed = Observed({}, {}, "none")  # the state describes the store the binding named before
        elif observed is None:
            observed = _observed_from_state(target.row, state.observations(target.backend, target.store),
                                            target.provider.owned_fields)
        stores.append(_plan_store(plan_id, created, project.config.safety, target, observed, state, options))
    stores.sort(key=lambda s: (s.backend, s.store))
    return Plan(
        plan_id=plan_id,
        created_at=created.isoformat(),
        tool_version=__version__,
        project=project.root.name,
        options={"full": options.full, "refresh": options.refresh, "selector": options.selector.describe()},
        stores=stores,
    )


def _plan_store(plan_id: str, created: datetime, project_safety: Safety, target: _Target, observed: Observed,
                state: StateView, options: PlanOptions) -> StorePlan:
    provider = target.provider
    applied_row = None if _moved(target) else target.row  # what the reconciler applied to this remote store
    notes = (_observation_notes(target.backend, applied_row, state.observations(target.backend, target.store),
                                provider.owned_fields) if observed.source != "live" else [])
    desired = _with_owned_fields(provider, target.backend, target.desired, observed, applied_row, notes)
    catalog_hashes = resource_hash.many(target.desired.resources)
    desired_hashes = catalog_hashes if desired is target.desired else resource_hash.many(desired.resources)
    observed_hashes = (target.row.resource_hashes if observed.source == "state" and target.row
                       else resource_hash.many(observed.resources))
    changes = diff_resources(desired.resources, observed.resources, provider.label, desired_hashes, observed_hashes)
    owned = provider.owns_stores or bool(target.view and target.view.owned)
    if not owned and observed.source == "live":
        changes = _without_foreign_removals(target, changes, notes)
    meta_changes = field_changes(observed.meta, desired.meta) if observed.meta != desired.meta else []
    if options.full:
        full, reason = True, "--full was given"
    elif observed.unknown:
        full, reason = True, f"the last outcome is unknown ({observed.unknown}); a full sync makes it certain"
    elif observed.source == "none":
        full, reason = True, "no state recorded for this store yet"
    else:
        full, reason = False, ""
    needs_work = full or changes or meta_changes
    if observed.source == "none" and not desired.resources and not desired.meta:
        needs_work = False
    # Never recorded and not read live: what the backend holds for this store is unseen.
    first_contact = observed.source != "live" and (target.row is None or target.row.serial == 0 or _moved(target))
    if _moved(target):
        notes.append(f"the binding now names {target.remote_id!r} in {target.backend}; the state was recorded for "
                     f"{target.row.remote_id!r}, which keeps what it holds (nothing is sent to it), and "
                     f"{target.remote_id!r} is planned as a first contact")
    program = provider.compile(CompileRequest(
        view=target.view, remote_id=target.remote_id, desired=desired, observed=observed,
        changes=changes, meta_changed=bool(meta_changes), full=full, full_reason=reason,
        idempotency_key=lambda i: idempotency_key(plan_id, target.backend, target.store, i),
        first_contact=first_contact, owned=owned, now=created,
    ))
    if not needs_work:
        program.path, program.reason, program.actions = "none", "no changes", []
    unseen = _unseen(target.backend, program.actions) if first_contact else ""
    thresholds = target.view.store.safety if target.view and target.view.store.safety else project_safety
    extra_violations = []
    if unseen and not owned:
        extra_violations.append(f"{unseen}; declare the store owned (`owned: true` on its binding, or on the "
                                "backend) if the reconciler may replace what it holds there")
    overwritten = _owned_values_overwritten(provider, program.actions, applied_row,
                                            state.observations(target.backend, target.store))
    if overwritten:
        extra_violations.append(overwritten)
    safety = safety_check(
        observed.resources, desired.resources, changes, provider.available,
        thresholds.max_removed_share, thresholds.max_unavailable_share,
        more_violations=extra_violations,
        unseen_base=first_contact and not owned,
    )
    set_keys = {key for action in program.actions for key in action.effect.set}
    warnings = notes + list(program.warnings)
    lock = state.lock_of(target.backend, target.store)
    if lock is not None:
        warnings.append(f"locked by {lock.owner} since {lock.acquired_at} (expires {lock.expires_at})")
    if target.view is None:
        warnings.append("this store is no longer in the catalog for this backend; " + (
            "the plan removes its products" if program.actions else "no request removes its products"))
    observed_fp = (target.row.fingerprint if observed.source == "state" and target.row
                   else snapshot_fingerprint(observed.meta, observed.resources, observed_hashes))
    return StorePlan(
        backend=target.backend, provider=provider.kind, store=target.store, remote_id=target.remote_id,
        path=program.path, reason=program.reason or reason, changes=changes, meta_changes=meta_changes,
        desired_meta=desired.meta,
        resources={k: program.held.get(k, desired.resources[k]) for k in sorted(set_keys) if k in desired.resources},
        actions=program.actions, full_cost=program.full_cost,
        desired_fingerprint=desired_fingerprint(target.desired, catalog_hashes), observed_fingerprint=observed_fp,
        observed_source=observed.source, base_serial=target.row.serial if target.row else 0,
        base_generation=target.row.generation if target.row else 0,
        safety=safety, warnings=warnings,
        price_moves=_price_moves(provider, changes), availability_moves=_availability_moves(provider, changes),
        owned=owned, unseen=unseen,
    )


def _moved(target: _Target) -> bool:
    """The binding now names another store in the backend than the one the state recorded."""
    return target.row is not None and target.view is not None and target.row.remote_id != target.remote_id


def _without_foreign_removals(target: _Target, changes: list, notes: list[str]) -> list:
    """A live read of a store that is not owned shows what the backend holds beyond the
    catalog. What the reconciler never applied is not its to remove: those removals are
    dropped and said; the safety shares still count everything the read shows."""
    applied = target.row.resources if target.row is not None and not _moved(target) else {}
    foreign = sorted(c.key for c in changes if c.op == "delete" and c.key not in applied)
    if not foreign:
        return changes
    shown = ", ".join(foreign[:10]) + (f" and {len(foreign) - 10} more" if len(foreign) > 10 else "")
    notes.append(f"{len(foreign)} resource{'s' * (len(foreign) != 1)} the backend holds beyond the catalog "
                 f"({shown}) {'are' if len(foreign) != 1 else 'is'} left as they are: the reconciler never applied "
                 "them and the store is not declared owned (`owned: true` would clear them; `reconciler import` "
                 "adds them to the catalog)")
    return [c for c in changes if not (c.op == "delete" and c.key in foreign)]


def _owned_values_overwritten(provider: Provider, actions: list, row: StoreState | None,
                              observations: list[Observation]) -> str:
    """Why a full sync would overwrite backend-owned values the backend reported otherwise.

    Owned fields are sent as last applied (a webhook's report is never a desired value),
    so a sync that replaces the store would put back values the backend says it moved on
    from: refused unless a person has looked (--force).
    """
    if not provider.owned_fields or row is None or not any(a.effect.replace for a in actions):
        return ""
    keys = sorted(o.key for o in observations if o.key in row.resources and any(
        name in provider.owned_fields and row.resources[o.key].get(name) != value
        for name, value in o.fields.items()))
    if not keys:
        return ""
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return (f"the full sync sends the last applied {', '.join(provider.owned_fields)} of {len(keys)} "
            f"resource{'s' * (len(keys) != 1)} ({shown}) that the backend reported otherwise (unverified webhooks): "
            "it would overwrite values the backend owns")


def _unseen(backend: str, actions: list) -> str:
    """What the first apply does to contents of the store the reconciler has never seen."""
    for action in actions:
        if action.effect.unseen == "cleared":
            return (f"the reconciler has no record of what {backend} holds for this store, and action "
                    f"{action.index} ({action.kind}) replaces or clears whatever it does not name")
    for action in actions:
        if action.effect.unseen == "unknown":
            return (f"the reconciler has no record of what {backend} holds for this store, and whether action "
                    f"{action.index} ({action.kind}) keeps what it does not name is not documented")
    return ""


async def check_fresh(plan: Plan, validated: Validated, state: StateView) -> None:
    """Prove a saved plan is the plan it claims to be, and still fresh, before anything
    is sent.

    The plan is derived again from the catalog and state it records (same plan id, same
    clock, same options), and each changed store must come out the same: if its inputs
    moved (catalog, recorded state, live read, webhook reports) the plan is stale; if its
    inputs are the same but its actions or anything else a reviewer saw differ, the file
    was edited (or made by another version) and is refused. A digest stored in the file
    next to the data would prove nothing; this re-derivation does. A store this plan
    already started is checked against the digest its state row recorded instead.
    """
    if "merged" in plan.options:
        raise PlanError(f"plan {plan.plan_id} is the shard plans of a CI matrix merged for reading; "
                        "nothing was sent. Apply each shard's own plan file")
    if plan.tool_version != __version__:
        raise StalePlanError(f"plan {plan.plan_id} was made by reconciler {plan.tool_version}; this is {__version__}. "
                             "Nothing was sent; make the plan again with this version")
    # Only the stores the file would change are derived again: the others are not applied.
    options = PlanOptions(full=bool(plan.options.get("full")), refresh=bool(plan.options.get("refresh", True)),
                          selector=Selector.from_description(plan.options.get("selector", {})),
                          only=frozenset(store.key for store in plan.changed_stores))
    again = {s.key: s for s in (await make_plan(validated, state, options, plan.plan_id,
                                                datetime.fromisoformat(plan.created_at))).stores}
    stale: list[str] = []
    edited: list[str] = []
    heads = state.heads()
    for store in plan.changed_stores:
        where = f"{store.backend}/{store.store}"
        if store.backend not in validated.providers:
            stale.append(f"{where}: backend {store.backend!r} is no longer configured")
            continue
        head = heads.get(store.key)  # (remote id, serial, generation, fingerprint, unknown, in flight, plan id)
        if head is not None and head[6] == plan.plan_id:
            row = state.get(*store.key)
            # This plan was partly applied already; apply resumes it if it is the same plan.
            if row is not None and row.plan_digest is not None and row.plan_digest != store.digest():
                edited.append(f"{where}: its actions differ from the ones this plan started applying")
            continue
        now = again.get(store.key)
        if now is None or now.desired_fingerprint != store.desired_fingerprint:
            stale.append(f"{where}: the catalog changed since the plan was made")
        elif (now.base_serial, now.base_generation) != (store.base_serial, store.base_generation):
            stale.append(f"{where}: the recorded state changed since the plan was made "
                         f"(serial {store.base_serial} -> {now.base_serial})")
        elif now.observed_fingerprint != store.observed_fingerprint or now.observed_source != store.observed_source:
            what = ("the backend reported a change (webhook)" if "webhook" in now.observed_source + store.observed_source
                    else "the backend changed")
            stale.append(f"{where}: {what} since the plan was made")
        elif now.digest() != store.digest():
            edited.append(f"{where}: {_first_difference(store, now)}")
    if stale:
        raise StalePlanError(
            f"plan {plan.plan_id} is stale; nothing was sent:\n  " + "\n  ".join(stale)
            + "\nmake a new plan and review it"
        )
    if edited:
        raise PlanError(
            f"plan {plan.plan_id} is not the plan its catalog and state give, so it was edited after it was made; "
            "nothing was sent:\n  " + "\n  ".join(edited) + "\nmake a new plan and review it"
        )


def _first_difference(saved: StorePlan, derived: StorePlan) -> str:
    """Where a saved store plan differs from its derivation, for the refusal message."""
    for index, (a, b) in enumerate(zip(saved.actions, derived.actions)):
        if a != b:
            field = next((f for f in type(a).model_fields if getattr(a, f) != getattr(b, f)), "its content")
            return f"action {index} ({a.kind}) differs in {field}"
    if len(saved.actions) != len(derived.actions):
        return f"it has {len(saved.actions)} actions where the plan has {len(derived.actions)}"
    field = next((f for f in type(saved).model_fields if f != "warnings" and getattr(saved, f) != getattr(derived, f)),
                 "its content")
    return f"its {field} differs"


def _price_moves(provider: Provider, changes: list) -> list[PriceMove]:
    """Price changes of existing resources in major units, through the provider's hook.
    New and removed resources are listed as such; their prices are not moves."""
    moves = []
    for change in changes:
        if change.op != "update":
            continue
        old, new = provider.price(change.old), provider.price(change.new)
        if old == new:
            continue
        ratio = round(float((new - old) / old), 4) if old and new is not None else None
        moves.append(PriceMove(key=change.key, name=change.label, old=None if old is None else str(old),
                               new=None if new is None else str(new), change=ratio))
    return moves


def _availability_moves(provider: Provider, changes: list) -> list[AvailabilityMove]:
    """Products that become available or unavailable (new unavailable ones included)."""
    moves = []
    for change in changes:
        if change.op == "update" and provider.available(change.old) != provider.available(change.new):
            moves.append(AvailabilityMove(key=change.key, name=change.label, available=provider.available(change.new)))
        elif change.op == "create" and not provider.available(change.new):
            moves.append(AvailabilityMove(key=change.key, name=change.label, available=False))
    return moves

