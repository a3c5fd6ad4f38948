"""One root error type; subclasses carry a location or a backend result code.

Messages never contain secrets: the text of every ReconcilerError is scrubbed of every
registered secret (`redaction.py`) whenever it is turned into a string, so even a
message that quotes a server's answer (which may echo the request) is safe to print.
"""

from __future__ import annotations

from dataclasses import dataclass

from .redaction import scrub


@dataclass(frozen=True, order=True)
class Location:
    """Where a value came from: file, line and column (1-based).

    `origin` names the data behind a value a template wrote (`data/stores.csv:4, column
    'name'`); messages about the value add it after their text.
    """

    file: str
    line: int = 0
    col: int = 0
    origin: str = ""

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col or 1}"
        return self.file

    @property
    def origin_note(self) -> str:
        return f" (value from {self.origin})" if self.origin else ""


@dataclass(frozen=True)
class Problem:
    """One validation finding, printed as `file:line:col: error: message`."""

    location: Location
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {self.message}{self.location.origin_note}"


class ReconcilerError(Exception):
    """Root of every error the reconciler raises on purpose. Exit code 1 unless noted."""

    exit_code = 1

    def __str__(self) -> str:
        return scrub(super().__str__())


class ConfigError(ReconcilerError):
    """A project or catalog file is wrong; carries where."""

    def __init__(self, message: str, location: Location | None = None):
        self.location = location
        self.message = message  # without the location, for collecting into a Problem
        super().__init__(f"{location}: error: {message}{location.origin_note}" if location else message)

    @property
    def problem(self) -> "Problem":
        return Problem(self.location or Location("<unknown>"), self.message)


class ValidationFailed(ReconcilerError):
    """Validation found problems; all of them are carried, sorted by location."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.location, p.message))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found; nothing was sent")


class SecretError(ConfigError):
    """A secret reference could not be resolved. Names the reference, never a value.

    `unavailable`: the secret is simply not here (an unset variable, a missing file), as in
    a pull-request job that plans without credentials; otherwise it is here but unusable."""

    def __init__(self, message: str, location: Location | None = None, unavailable: bool = False):
        super().__init__(message, location)
        self.unavailable = unavailable


class PlanError(ReconcilerError):
    """A plan file cannot be read or applied as it is."""


class StalePlanError(PlanError):
    """The desired or observed state changed since the plan was made."""


class SafetyRefused(ReconcilerError):
    """The plan crosses a safety threshold; --force passes."""

    exit_code = 3


class LockHeld(ReconcilerError):
    """Another apply holds the lease of a store."""


class BackendError(ReconcilerError):
    """A backend answered with a failure. `code` is the backend's own result code."""

    def __init__(self, message: str, code: str | None = None, retryable: bool = False):
        self.code = code
        self.retryable = retryable
        super().__init__(f"{code}: {message}" if code else message)


class OutcomeUnknown(BackendError):
    """The backend may or may not have applied a request (timeouts, U results)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message, code=code, retryable=True)
