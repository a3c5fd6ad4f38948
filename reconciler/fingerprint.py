"""Canonical JSON and content hashes: the same data always gives the same bytes.

A chain shares one menu across hundreds of stores, so the same resource object turns up
in many stores' desired state and the same stored body in many snapshots. Hashes and
encoded sizes of such objects are remembered by identity and computed once. Resources
are therefore treated as immutable once built: code that needs a changed resource
builds a new dict (as the planner's overlays do) instead of editing one in place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Mapping


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def encode_body(value: Any) -> bytes:
    """The exact bytes a JSON request body is sent as; key order as built."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ByIdentity:
    """A value computed once per object. The object is held, so its id is never reused
    for another object while the entry exists."""

    def __init__(self, compute: Callable[[Any], Any], limit: int | None = None):
        """`limit`: forget everything once this many objects are held (for values of
        objects a long-lived process keeps making, such as plans)."""
        self._compute = compute
        self._limit = limit
        self._entries: dict[int, tuple[Any, Any]] = {}

    def __call__(self, obj: Any) -> Any:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = self._compute(obj)
        if self._limit is not None and len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(obj)] = (obj, value)
        return value

    def many(self, objects: Mapping[str, Any]) -> dict[str, Any]:
        """{key: value of object} for a mapping of objects; the hot loop of planning a
        chain, so the lookup is inlined."""
        entries, out = self._entries, {}
        for key, obj in objects.items():
            entry = entries.get(id(obj))
            out[key] = entry[1] if entry is not None and entry[0] is obj else self(obj)
        return out

    def remember(self, obj: Any, value: Any) -> None:
        """Record a value known by other means (a hash read back from the state)."""
        self._entries[id(obj)] = (obj, value)


#: Bytes of a resource in a request body (`encode_body`), once per resource object.
encoded_size = ByIdentity(lambda value: len(encode_body(value)))


def _hash_and_size(value: Any) -> str:
    # The canonical JSON differs from the request body only in key order, never in
    # length: one encoding gives the hash and the size a provider's cost estimate needs.
    data = canonical_json(value).encode("utf-8")
    encoded_size.remember(value, len(data))
    return hashlib.sha256(data).hexdigest()


#: sha256 of a resource's canonical JSON, once per resource object.
resource_hash = ByIdentity(_hash_and_size)


def snapshot_fingerprint(meta: Mapping[str, Any], resources: Mapping[str, Any],
                         hashes: Mapping[str, str] | None = None) -> str:
    """One hash of a whole store: its meta and each resource's hash, by key.

    Built from per-resource hashes, so a store that shares most resources with others
    costs a dictionary walk, not a serialisation of every product. `hashes` (key ->
    resource hash of every key of `resources`) is used where the caller has them.
    """
    if hashes is None:
        hashes = resource_hash.many(resources)
    lines = "".join(f"\n{key}\t{hashes[key]}" for key in sorted(resources))
    return hashlib.sha256((canonical_json(meta) + lines).encode("utf-8")).hexdigest()
