"""Secret references: `${env:NAME}` and `${file:PATH}`.

Only providers resolve them, at the moment they need the value. Errors name the
reference and never the value; nothing resolved is stored on shared objects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import SecretError
from .redaction import register_secret

REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")


def is_reference(value: str | None) -> bool:
    return bool(value) and REFERENCE.match(value) is not None


def resolve_secret(value: str | None, project_dir: Path, what: str) -> str | None:
    """The secret's value. A plain string is returned as written: it is in the project
    file for anyone to read already, so it is not masked (usernames are often plain)."""
    if value is None:
        return None
    match = REFERENCE.match(value)
    if match is None:
        return value
    kind, name = match.groups()
    if kind == "env":
        resolved = os.environ.get(name)
        if resolved is None:
            raise SecretError(f"{what}: environment variable {name} is not set (referenced as {value})",
                              unavailable=True)
    else:
        path = (project_dir / name).expanduser()
        try:
            resolved = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"{what}: cannot read {name}: {exc.strerror} (referenced as {value})",
                              unavailable=isinstance(exc, FileNotFoundError)) from None
        except UnicodeDecodeError:
            raise SecretError(f"{what}: {name} is not UTF-8 text (referenced as {value})") from None
    register_secret(resolved)  # from now on it is masked in every output, in any encoding
    return resolved
