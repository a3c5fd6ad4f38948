"""JSON Schemas for editors (yaml-language-server) and for the JSON plan contract."""

from __future__ import annotations

import copy
from typing import Any

from .errors import ConfigError
from .model import BackendEntry, CatalogFile, ProjectFile
from .plan import Plan
from .registry import installed_providers, provider_class

KINDS = ("catalog", "project", "plan")


def catalog_schema() -> dict[str, Any]:
    schema = CatalogFile.model_json_schema()
    schema["title"] = "reconciler catalog file"
    return schema


def project_schema() -> dict[str, Any]:
    """`reconciler.yaml`, with each installed provider's settings as one alternative."""
    schema = ProjectFile.model_json_schema()
    schema["title"] = "reconciler.yaml"
    alternatives = []
    defs = schema.setdefault("$defs", {})
    for kind in installed_providers():
        try:
            settings = provider_class(kind).Settings.model_json_schema(ref_template="#/$defs/{model}")
        except ConfigError:
            continue  # a broken plugin is reported when a project uses it
        defs.update(settings.pop("$defs", {}))
        settings = copy.deepcopy(settings)
        properties = settings.setdefault("properties", {})
        properties["provider"] = {"const": kind}
        # The keys every backend takes that the engine reads (BackendEntry), not the provider.
        engine_keys = BackendEntry.model_json_schema()["properties"]
        properties.update({key: engine_keys[key] for key in ("owned_fields", "owned")})
        settings["required"] = sorted({"provider", *settings.get("required", [])})
        settings["title"] = f"{kind} backend"
        alternatives.append(settings)
    if alternatives:
        schema["properties"]["backends"] = {"type": "object", "additionalProperties": {"anyOf": alternatives},
                                            "title": "Backends", "default": {}}
        defs.pop("BackendEntry", None)
    return schema


def plan_schema() -> dict[str, Any]:
    schema = Plan.model_json_schema()
    schema["title"] = "reconciler plan (format_version 1)"
    return schema


def schema_for(kind: str) -> dict[str, Any]:
    return {"catalog": catalog_schema, "project": project_schema, "plan": plan_schema}[kind]()
