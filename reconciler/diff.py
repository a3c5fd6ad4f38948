"""Keyed diff of resources: a content hash per resource first, field detail only where
the hashes differ (deepdiff), so equal resources cost one hash comparison each."""

from __future__ import annotations

import re
from typing import Any, Callable, Literal

from deepdiff import DeepDiff
from pydantic import BaseModel, ConfigDict

from .fingerprint import fingerprint

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
                   label: Callable[[dict], str] = _no_label) -> list[ResourceChange]:
    changes: list[ResourceChange] = []
    for key, new in desired.items():
        old = observed.get(key)
        if old is None:
            changes.append(ResourceChange(key=key, op="create", label=label(new), new=new))
        elif old is not new and fingerprint(old) != fingerprint(new):
            changes.append(ResourceChange(key=key, op="update", label=label(new), old=old, new=new,
                                          fields=field_changes(old, new)))
    for key, old in observed.items():
        if key not in desired:
            changes.append(ResourceChange(key=key, op="delete", label=label(old), old=old))
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
    detail = DeepDiff(old, new, verbose_level=2, ignore_order=False)
    out: list[FieldChange] = []
    for kind in ("values_changed", "type_changes"):
        for path, change in detail.get(kind, {}).items():
            out.append(FieldChange(field=_dotted(path), old=change.get("old_value"), new=change.get("new_value")))
    for kind, side in (("dictionary_item_added", "new"), ("iterable_item_added", "new"),
                       ("dictionary_item_removed", "old"), ("iterable_item_removed", "old")):
        for path, value in detail.get(kind, {}).items():
            out.append(FieldChange(field=_dotted(path), **{side: value}))
    out.sort(key=lambda f: f.field)
    return out
