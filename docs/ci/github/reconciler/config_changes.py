"""What a pull request changes in reconciler.yaml that decides where data and secrets go.

After the merge, the apply job hands the backend secrets to whatever reconciler.yaml names:
a backend's `url` (or any `*_url` setting), the environment variable or file a secret
setting refers to (`${env:NAME}`, `${file:PATH}`), a new backend, or the `state` store. A
pull request that changes one of these could send a secret or the catalog somewhere else,
so the plan comment lists them for the reviewers. Values are shown with any password or
query string removed; a secret setting written as a literal is named, never shown.

    python3 config_changes.py BASE HEAD    # BASE may not exist (a new project)

prints one Markdown list item per change, nothing when there is none.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

REFERENCE = re.compile(r"^\$\{(env|file):[^}]+\}$")
# Settings whose names say they hold a credential: a literal value there is called out.
SECRET_NAME = re.compile(r"(key|secret|password|token)", re.IGNORECASE)
SHOWN = 200  # characters of one value shown in the comment


class Unreadable(Exception):
    pass


def load(path: Path) -> dict[str, Any] | None:
    """The file's mapping; None when it does not exist."""
    if not path.exists():
        return None
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise Unreadable(str(exc).splitlines()[0]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise Unreadable("the top level is not a mapping")
    return document


def _flat(settings: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(settings, dict):
        return {}
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, name + "."))
        else:
            flat[name] = value
    return flat


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and REFERENCE.match(value) is not None


def _is_url_setting(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "url" or last.endswith("_url")


def shown(value: Any) -> str:
    """A value for the comment: inline code, with URL passwords and query strings removed."""
    if value is None:
        return "(none)"
    text = str(value)
    text = re.sub(r"(://[^/:@\s]*):[^@/\s]*@", r"\1:***@", text)  # user:password@host
    text = re.sub(r"\?\S*", "?***", text)  # query strings carry keys (VirtPOS: apikey=)
    if len(text) > SHOWN:
        text = text[:SHOWN] + "…"
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def _setting_changes(backend: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        where = f"backend `{backend}`: `{name}`"
        if _is_url_setting(name):
            lines.append(f"{where} {shown(before)} -> {shown(after)}")
        elif _is_reference(before) or _is_reference(after):
            # A reference names a variable or file, never a secret: safe to show.
            lines.append(f"{where} secret reference {shown(before)} -> {shown(after)}")
        elif SECRET_NAME.search(name.rsplit(".", 1)[-1]):
            lines.append(f"{where} is removed" if after is None else
                         f"{where} is a literal value in the file (not shown here); "
                         "a secret belongs in `${env:NAME}` or `${file:PATH}`")
    return lines


def changes(base: dict[str, Any] | None, head: dict[str, Any]) -> list[str]:
    lines = []
    if base is None:
        lines.append("`reconciler.yaml` is new in this pull request: every backend below is new.")
        base = {}
    if base.get("state") != head.get("state"):
        lines.append(f"`state` store {shown(base.get('state'))} -> {shown(head.get('state'))}")
    old_backends = base.get("backends") if isinstance(base.get("backends"), dict) else {}
    new_backends = head.get("backends") if isinstance(head.get("backends"), dict) else {}
    for name in sorted(set(old_backends) | set(new_backends)):
        old, new = _flat(old_backends.get(name)), _flat(new_backends.get(name))
        if name not in new_backends:
            lines.append(f"backend `{name}` is removed")
            continue
        if name not in old_backends:
            lines.append(f"backend `{name}` is new (provider {shown(new.get('provider'))})")
        elif old.get("provider") != new.get("provider"):
            lines.append(f"backend `{name}`: provider {shown(old.get('provider'))} -> {shown(new.get('provider'))}")
        lines.extend(_setting_changes(name, old, new))
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        head = load(Path(argv[1]))
    except Unreadable as exc:
        print(f"- `reconciler.yaml` does not read as YAML ({exc}), so its backends could not be compared "
              "with the base branch's; `reconciler validate` says what is wrong.")
        return 0
    if head is None:
        return 0
    try:
        base = load(Path(argv[0]))
    except Unreadable:
        base = None
    for line in changes(base, head):
        print(f"- {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
