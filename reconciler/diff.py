"""Keyed diff of resources: a content hash per resource first, field detail only where
the hashes differ, so equal resources cost one hash comparison each.

Hashes are remembered per resource object (`resource_hash`): the menu's shared
resources and the state's shared bodies are hashed once per run, not once per store.
Field detail compares top-level fields directly and leaves only nested values that
differ to deepdiff.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal, Mapping

from deepdiff import DeepDiff
from pydantic import BaseModel, ConfigDict

from .fingerprint import resource_hash

Op = Literal["create", "update", "delete"]


class FieldChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    field: str
    old: Any = None
    new: Any = None


class ResourceChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    op: Op
    label: str = ""  # a human name, from the provider, for reviewers
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    fields: list[FieldChange] = []

    def only_fields(self, names: set[str]) -> bool:
        """True when this is an update touching only the given top-level fields."""
        return self.op == "update" and all(f.field.split(".", 1)[0].split("[", 1)[0] in names for f in self.fields)


def _no_label(resource: dict) -> str:
    return ""


def diff_resources(desired: dict[str, dict], observed: dict[str, dict],
                   label: Callable[[dict], str] = _no_label,
                   desired_hashes: Mapping[str, str] | None = None,
                   observed_hashes: Mapping[str, str] | None = None) -> list[ResourceChange]:
    """Changes that turn `observed` into `desired`. The hash maps (key -> resource hash)
    are used where the caller has them already."""
    new_hashes = desired_hashes if desired_hashes is not None else resource_hash.many(desired)
    old_hashes = observed_hashes if observed_hashes is not None else resource_hash.many(observed)
    # Built with model_construct: the values come from our own mapping and state, and
    # validating thousands of nested resources per plan would cost more than the diff.
    make = ResourceChange.model_construct
    changes: list[ResourceChange] = []
    for key, digest in new_hashes.items():
        old_digest = old_hashes.get(key)
        if old_digest is None:
            new = desired[key]
            changes.append(make(key=key, op="create", label=label(new), old=None, new=new, fields=[]))
        elif old_digest != digest:
            old, new = observed[key], desired[key]
            changes.append(make(key=key, op="update", label=label(new), old=old, new=new,
                                fields=field_changes(old, new)))
    for key, old in observed.items():
        if key not in new_hashes:
            changes.append(make(key=key, op="delete", label=label(old), old=old, new=None, fields=[]))
    return changes


_PATH_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\d+)\]")


def _dotted(path: str) -> str:
    parts = []
    for token in _PATH_PART.findall(path):
        if token.startswith("'"):
            parts.append(token[1:-1])
        else:
            parts[-1:] = [f"{parts[-1]}[{token}]"] if parts else [f"[{token}]"]
    return ".".join(parts)


def field_changes(old: Any, new: Any) -> list[FieldChange]:
    """Field-level detail of two different values, as dotted paths."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return _deep_changes(old, new, "")
    out: list[FieldChange] = []
    make = FieldChange.model_construct
    for name in old.keys() | new.keys():
        if name not in new:
            out.append(make(field=str(name), old=old[name], new=None))
        elif name not in old:
            out.append(make(field=str(name), old=None, new=new[name]))
        elif old[name] != new[name] or type(old[name]) is not type(new[name]):
            if isinstance(old[name], (dict, list)) and isinstance(new[name], (dict, list)):
                out += _deep_changes(old[name], new[name], str(name))
            else:
                out.append(make(field=str(name), old=old[name], new=new[name]))
    out.sort(key=lambda f: f.field)
    return out


def _deep_changes(old: Any, new: Any, prefix: str) -> list[FieldChange]:
    detail = DeepDiff(old, new, verbose_level=2, ignore_order=False)
    make = FieldChange.model_construct

    def path(raw: str) -> str:
        dotted = _dotted(raw)
        if not prefix:
            return dotted
        return f"{prefix}{dotted}" if dotted.startswith("[") else f"{prefix}.{dotted}" if dotted else prefix

    out: list[FieldChange] = []
    for kind in ("values_changed", "type_changes"):
        for raw, change in detail.get(kind, {}).items():
            out.append(make(field=path(raw), old=change.get("old_value"), new=change.get("new_value")))
    for kind, side in (("dictionary_item_added", "new"), ("iterable_item_added", "new"),
                       ("dictionary_item_removed", "old"), ("iterable_item_removed", "old")):
        for raw, value in detail.get(kind, {}).items():
            out.append(make(field=path(raw), **{"old": None, "new": None, side: value}))
    out.sort(key=lambda f: f.field)
    return out
