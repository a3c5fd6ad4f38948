"""Secrets never leave the process: one registry of secret values, one scrubber.

Every secret a provider resolves (`ProviderContext.secret`) and every credential a client
learns at run time (a session cookie, a bearer token: `register_secret`) is registered
here, in every encoding a server or a library might echo it in: as written, URL-encoded
(`quote` and `quote_plus`, hex digits in either case), JSON-escaped, HTML-escaped and
base64. `scrub` replaces all of them, and a few credential-shaped patterns whose value
is not known yet (a `Set-Cookie: sessionid=...` logged before the client has read it).

Text leaves the process in three ways, and each passes through here: exception texts
(`ReconcilerError.__str__`), log records (scrubbed as they are made, by the record
factory installed below), and what the CLI writes to stdout, stderr and files
(`RedactingStream`, plan files, state texts). Nothing has to remember to call it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values are not registered: masking every "demo" in a plan would garble it, and
# a secret that short protects nothing (docs/files.md says so).
MIN_LENGTH = 6

# Session credentials by shape: a session cookie or a bearer token may be printed (an
# HTTP library's debug line of a Set-Cookie header) before the client has read and
# registered it. The name is kept, the value masked. Configured secrets need no shape:
# they are registered when resolved.
_SHAPES = re.compile(
    r"(?i)(\b(?:sessionid|csrftoken)\s*=\s*|\bbearer\s+)"
    r"(?!\*\*\*)([^\s\"'&;,{}\[\]<>()]+)"
)


def _hex_insensitive(needle: str) -> str:
    """A regex for `needle` in which %XX escapes match either case of their hex digits."""
    parts = re.split(r"(%[0-9A-Fa-f]{2})", needle)
    out = []
    for part in parts:
        if re.fullmatch(r"%[0-9A-Fa-f]{2}", part):
            out.append("%" + "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in part[1:]))
        elif part:
            out.append(re.escape(part))
    return "".join(out)


def _anchor(needle: str) -> str:
    """The longest part of `needle` that the pattern matches only as written (outside its
    %XX escapes, whose hex digits match either case); '' when there is none, and every
    text then goes through the pattern."""
    return max(re.split(r"%[0-9A-Fa-f]{2}", needle), key=len)


def encodings(secret: str) -> set[str]:
    """The forms a secret may take in a text it was echoed into."""
    as_json = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    as_json |= {form.replace("/", "\\/") for form in as_json}  # PHP's json_encode (Laravel) writes / as \/
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), html.escape(secret), *as_json}
    raw = secret.encode("utf-8")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
    # A multi-line secret (a PEM key) may be echoed a line at a time.
    forms |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= 16}
    return {form for form in forms if len(form) >= MIN_LENGTH}


class Redactor:
    """The registered secrets of this process and the scrubber built from them."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._stale = False  # secrets registered since the pattern was built
        self._anchors: tuple[str, ...] = ()  # see _anchor
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        if not secret or len(secret) < MIN_LENGTH or secret in self._secrets:
            return
        with self._lock:
            self._secrets.add(secret)
            # Built when text is next scrubbed, not now: a run registers several secrets
            # (PEM keys among them) and one compiled pattern of them all is enough.
            self._stale = True

    def _current(self) -> re.Pattern[str] | None:
        if self._stale:
            with self._lock:
                if self._stale:
                    needles = set()
                    for known in self._secrets:
                        needles |= encodings(known)
                    # Longest first, so a secret's encoding is masked whole, not a prefix of it.
                    ordered = sorted(needles, key=len, reverse=True)
                    self._pattern = re.compile("|".join(_hex_insensitive(n) for n in ordered))
                    self._anchors = tuple({_anchor(n) for n in ordered})
                    self._stale = False
        return self._pattern

    def _may_hold_secret(self, text: str) -> bool:
        """A quick test before the pattern: an encoding of a secret can only be in the
        text if its anchor is. Substring searches are far cheaper than the pattern's
        alternation over a large plan's text."""
        return any(anchor in text for anchor in self._anchors)

    def scrub(self, text: str) -> str:
        if not text:
            return text
        pattern = self._current()
        if pattern is not None and self._may_hold_secret(text):
            text = pattern.sub(MASK, text)
        if not _may_hold_shape(text):
            return text
        return _SHAPES.sub(lambda m: m.group(1) + MASK, text)


def _may_hold_shape(text: str) -> bool:
    # The case-insensitive pattern scans a 10 MB plan at about 25 MB/s; a search for its
    # words in the case-folded text is twenty times faster and decides for most texts.
    # casefold, not lower: the pattern's IGNORECASE also matches ſ for s and K for k.
    folded = text.casefold()
    return "sessionid" in folded or "csrftoken" in folded or "bearer" in folded


_REDACTOR = Redactor()


def register_secret(secret: str | None) -> None:
    """Register a secret value (resolved, or learnt at run time) for every output."""
    _REDACTOR.register(secret)


def scrub(text: Any) -> str:
    """`text` with every registered secret, in any encoding, replaced by ***."""
    return _REDACTOR.scrub(text if isinstance(text, str) else str(text))


_previous_factory = logging.getLogRecordFactory()


def _redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every log record is scrubbed as it is made, so no handler (ours, pytest's, a
    library's) ever sees a secret: the message with its arguments, and the traceback."""
    record = _previous_factory(*args, **kwargs)
    try:
        record.msg, record.args = scrub(record.getMessage()), None
    except Exception:  # a record whose arguments do not fit its format: keep it as logged
        record.msg = scrub(record.msg)
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    return record


logging.setLogRecordFactory(_redacting_record)


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs every write before it reaches the real one.

    Writers here (click.echo, rich) write each message in one call, so a secret is never
    split across two writes; a stream that buffered until a newline would break rich's
    live progress display.
    """

    def __init__(self, inner: Any):
        self._inner = inner

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes for a binary stream this way
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._inner.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    @property
    def buffer(self) -> Any:
        # Binary writes bypass scrubbing; click uses them only for bytes it was given,
        # which the CLI never does for text it composed.
        return getattr(self._inner, "buffer", None)

    def writable(self) -> bool:
        return True
