"""Loading a project: `reconciler.yaml` and its catalog files, shapes checked.

Everything here is about files: which ones, parsed how, and where each id came from so
that any later message can point at a line.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from .errors import ConfigError, Location, Problem, ValidationFailed
from .model import CatalogFile, Menu, ProjectFile, Store, Supplier, Unit
from .templates import render_template
from .yamlio import SourceFile, parse_yaml, read_text

PROJECT_FILE = "reconciler.yaml"
SECTIONS = ("menus", "stores", "units", "suppliers")
CATALOG_SUFFIXES = (".yaml", ".yml", ".yaml.j2", ".yml.j2")


@dataclass
class Catalog:
    """The merged catalog of a project, with the file each id was defined in."""

    menus: dict[str, Menu] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    suppliers: dict[str, Supplier] = field(default_factory=dict)
    origins: dict[tuple[str, str], SourceFile] = field(default_factory=dict)

    def locate(self, path: tuple[Any, ...], at_key: bool = False) -> Location:
        """Location of a catalog path such as ("menus", "burgers", "products", "p1")."""
        source = self.origins.get((path[0], path[1])) if len(path) >= 2 else None
        if source is None:
            return Location("<catalog>")
        return source.locate(path, at_key=at_key)


@dataclass
class Project:
    root: Path
    config: ProjectFile
    config_source: SourceFile
    catalog: Catalog
    files: list[SourceFile]
    # sha256 of every catalog file's text (rendered, for a template), parsed or not.
    texts: dict[str, str] = field(default_factory=dict)
    # Catalog files not parsed because a plan cache vouched for everything they define.
    skipped: set[str] = field(default_factory=set)
    # Stores left out after parsing because the command plans none of their bindings
    # (a `--shard I/N` of a CI matrix), with their backends: the catalog holds the others.
    left_out: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def work_dir(self) -> Path:
        """Where local state, emulator data and rendered templates live."""
        return self.root / ".reconciler"

    def locate_config(self, path: tuple[Any, ...], at_key: bool = False) -> Location:
        return self.config_source.locate(path, at_key=at_key)

    @property
    def state_url(self) -> str:
        return os.environ.get("RECONCILER_STATE") or self.config.state


def load_project(root: Path, skip: Callable[[str, str], bool] | None = None,
                 keep_store: Callable[[str, Any], bool] | None = None) -> Project:
    """Read and shape-check everything; raise ValidationFailed with every problem found.

    `skip(display name, text hash)` may say that a catalog file need not be parsed (a plan
    cache has what it defines); it is read and hashed all the same. `keep_store(id, as
    parsed)` may leave a store out right after its file is parsed: a shard of a CI matrix
    shapes, validates and holds in memory only the stores it plans."""
    root = root.resolve()
    config_path = root / PROJECT_FILE
    if not config_path.is_file():
        raise ConfigError(f"no {PROJECT_FILE} in {root}; run in a project directory or pass -C DIR")
    try:
        config_source = _read_source(config_path, PROJECT_FILE, root, {})
    except ConfigError as exc:
        raise ValidationFailed([exc.problem]) from None
    problems: list[Problem] = []
    config = _shape(ProjectFile, config_source.data, config_source, (), problems)
    if config is None:
        raise ValidationFailed(problems)

    files: list[SourceFile] = []
    texts: dict[str, str] = {}
    skipped: set[str] = set()
    left_out: dict[str, tuple[str, ...]] = {}
    catalog = Catalog()
    for path in _catalog_paths(root, config, config_source, problems):
        display = path.relative_to(root).as_posix()
        try:
            text, line_map = _read_text(path, display, root, config.vars)
            texts[display] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if skip is not None and skip(display, texts[display]):
                skipped.add(display)
                continue
            source = SourceFile(path, display, text, parse_yaml(text, display, line_map), line_map)
        except ConfigError as exc:
            problems.append(exc.problem if exc.location else Problem(Location(display), exc.message))
            continue
        files.append(source)
        if source.data is None:
            continue
        if keep_store is not None:
            _leave_out_stores(source, keep_store, left_out)
        shaped = _shape(CatalogFile, source.data, source, (), problems)
        if shaped is None:
            continue
        for section in SECTIONS:
            target = getattr(catalog, section)
            for key, value in getattr(shaped, section).items():
                if key in target:
                    first = catalog.locate((section, key), at_key=True)
                    problems.append(Problem(
                        source.locate((section, key), at_key=True),
                        f"duplicate id {key!r} in {section} (first defined at {first})",
                    ))
                    continue
                target[key] = value
                catalog.origins[(section, key)] = source
    if problems:
        raise ValidationFailed(problems)
    return Project(root, config, config_source, catalog, files, texts, skipped, left_out)


def _leave_out_stores(source: SourceFile, keep_store: Callable[[str, Any], bool],
                      left_out: dict[str, tuple[str, ...]]) -> None:
    """Drop from a parsed file the well-formed stores `keep_store` declines (anything
    malformed stays, for validation to report)."""
    stores = source.data.get("stores") if isinstance(source.data, dict) else None
    if not isinstance(stores, dict):
        return
    kept = {}
    for key, value in stores.items():
        backends = value.get("backends") if isinstance(value, dict) else None
        if (isinstance(key, str) and isinstance(backends, dict) and all(isinstance(b, str) for b in backends)
                and not keep_store(key, value)):
            left_out[key] = tuple(backends)
        else:
            kept[key] = value
    if len(kept) != len(stores):
        source.data = {**source.data, "stores": kept}


def _read_text(path: Path, display: str, root: Path, variables: dict[str, Any]) -> tuple[str, Any]:
    """A file's text (rendered, for a template) and its line map (templates only)."""
    if path.name.endswith(".j2"):
        return render_template(path, display, {"vars": variables}, root)
    return read_text(path, display), None


def _read_source(path: Path, display: str, root: Path, variables: dict[str, Any]) -> SourceFile:
    text, line_map = _read_text(path, display, root, variables)
    return SourceFile(path, display, text, parse_yaml(text, display, line_map), line_map)


def _catalog_paths(root: Path, config: ProjectFile, source: SourceFile, problems: list[Problem]) -> list[Path]:
    entries = config.catalog
    if entries is None:
        return sorted(
            p for p in root.iterdir()
            if p.is_file() and p.name != PROJECT_FILE and p.name.endswith(CATALOG_SUFFIXES)
        )
    if isinstance(entries, str):
        entries = [entries]
    paths: list[Path] = []
    for index, entry in enumerate(entries):
        key: tuple[Any, ...] = ("catalog", index) if isinstance(config.catalog, list) else ("catalog",)
        try:
            target = (root / entry).resolve()
            if target.is_dir():
                paths.extend(sorted(p for p in target.rglob("*") if p.is_file() and p.name.endswith(CATALOG_SUFFIXES)))
            elif target.is_file():
                paths.append(target)
            else:
                problems.append(Problem(source.locate(key), f"catalog entry {entry!r} is neither a file nor a folder"))
        except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL in it
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problems.append(Problem(source.locate(key), f"catalog entry {entry[:80]!r} cannot be read: {why}"))
    unique: dict[Path, None] = dict.fromkeys(paths)
    return list(unique)


def _shape(model: type[BaseModel], data: Any, source: SourceFile, prefix: tuple, problems: list[Problem]) -> Any:
    if not isinstance(data, dict):
        problems.append(Problem(source.locate(()), "this file must be a mapping of sections "
                                f"({', '.join(model.model_fields)}), not a {type(data).__name__}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, data, lambda path, at_key: source.locate(prefix + path, at_key), prefix))
        return None


_INSTANCE_OF = re.compile(r" or instance of \w+")


def pydantic_problems(exc: ValidationError, data: Any, locate, prefix: tuple = ()) -> list[Problem]:
    """Turn pydantic errors into located problems, one per data path.

    pydantic reports union members and validator names inside `loc`; only the parts that
    are real keys of the data are kept, so the path is what the user wrote. `prefix` is
    where `data` sits in its file, so messages name the whole path.
    """
    by_path: dict[tuple, list[str]] = {}
    at_keys: dict[tuple, bool] = {}
    for error in exc.errors():
        path, extra = _data_path(data, error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            message = f"unknown key {str(path[-1])!r}; remove it or check its spelling"
            at_keys[path] = True
        elif kind == "missing":
            message = f"missing required key {str(extra[0])!r}" if extra else "missing value"
        else:
            message = _INSTANCE_OF.sub("", error["msg"]).removeprefix("Value error, ")
            message = message[0].lower() + message[1:] if message else message
        by_path.setdefault(path, [])
        if message not in by_path[path]:
            by_path[path].append(message)
    problems = []
    for path, messages in by_path.items():
        where = ".".join(str(part) for part in prefix + path) or "document"
        # A problem with a whole mapping (a missing key, a rule across keys) points at
        # the mapping's own key, which is where a reader looks for it.
        at_key = at_keys.get(path, False) or (not path and bool(prefix))
        problems.append(Problem(locate(path, at_key), f"{where}: {' or '.join(messages)}"))
    return problems


def _data_path(data: Any, loc: tuple) -> tuple[tuple, tuple]:
    """Split pydantic's loc into the part that exists in the data and what is missing."""
    path: list[Any] = []
    node = data
    rest = list(loc)
    while rest:
        part = rest[0]
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and _find_key(node, part) is not None:
            real = _find_key(node, part)
            node = node[real]
            path.append(real)
        else:
            # Union member or validator names are not data; missing keys are reported.
            if isinstance(node, dict) and isinstance(part, str) and len(rest) == 1:
                return tuple(path), (part,)
        rest.pop(0)
    return tuple(path), ()


def _find_key(node: dict, part: str) -> Any:
    for key in node:
        if str(key) == part:
            return key
    return None
