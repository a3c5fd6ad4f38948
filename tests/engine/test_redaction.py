"""The one place secrets are masked: every encoding, every way text leaves the process."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from urllib.parse import quote, quote_plus

from reconciler.errors import BackendError
from reconciler.redaction import RedactingStream, register_secret, scrub
from reconciler.secrets import resolve_secret

# Characters that URL and JSON encodings change, so each encoding differs from the rest.
SECRET = 'Zq+8/k=&%p"wd\\Ω-redaction-test'


def echoed_forms(secret: str) -> list[str]:
    raw = secret.encode()
    lower_hex = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe=""))
    return [secret, quote(secret, safe=""), lower_hex, quote_plus(secret), quote(secret),
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]


def test_a_resolved_secret_is_masked_in_every_encoding(tmp_path, monkeypatch):
    monkeypatch.setenv("REDACTION_TEST_SECRET", SECRET)
    assert resolve_secret("${env:REDACTION_TEST_SECRET}", tmp_path, "test") == SECRET
    for form in echoed_forms(SECRET):
        text = f"HTTP 400: the server said: {{'client_secret': '{form}'}} (request ?apikey={form}&x=1)"
        cleaned = scrub(text)
        assert form not in cleaned, form
        assert "***" in cleaned and "HTTP 400: the server said" in cleaned


def test_plain_settings_and_short_values_are_not_masked(tmp_path):
    assert resolve_secret("shop-user", tmp_path, "username") == "shop-user"
    assert scrub("logged in as shop-user") == "logged in as shop-user"
    register_secret("demo")  # too short to mask without garbling every plan that says "demo"
    assert scrub("demo / combo") == "demo / combo"


def test_exception_texts_log_records_and_streams_are_scrubbed(caplog):
    secret = "Qm9vbS1zZWNyZXQtZm9yLWxvZ3M+/="
    register_secret(secret)
    error = BackendError(f"HTTP 500: echo {quote_plus(secret)}", code="500")
    assert secret not in str(error) and quote_plus(secret) not in str(error)
    with caplog.at_level(logging.DEBUG, logger="reconciler.test"):
        logging.getLogger("reconciler.test").warning("answer %s", {"password": secret})
        try:
            raise ValueError(f"deep inside: {secret}")
        except ValueError:
            logging.getLogger("reconciler.test").exception("failed")
    assert secret not in caplog.text and "answer" in caplog.text and "deep inside: ***" in caplog.text
    sink = io.StringIO()
    RedactingStream(sink).write(f"plan output {secret}\n")
    assert sink.getvalue() == "plan output ***\n"


def test_session_cookies_are_masked_before_a_client_has_read_them():
    line = "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, [(b'Set-Cookie', b'sessionid=abc123xyz; Path=/')])"
    assert "abc123xyz" not in scrub(line) and "sessionid=***" in scrub(line)
    assert scrub("Authorization: Bearer eyJhbGciOi.payload.sig") == "Authorization: Bearer ***"
