"""A Tipsi that echoes the request into its error puts no credential anywhere.

The password (with `+/=&%`, which URL encodings change), the session cookie and the CSRF
token are echoed back by a login or a sync answering 400 or 500, over real sockets, with
`-vv` (httpcore's debug lines print response headers, Set-Cookie included). Nothing of
them reaches the CLI output, the log records, the plan file, the state or any file of
the project, and the messages still say what happened.
"""

from __future__ import annotations

import json
import logging
import textwrap
from urllib.parse import quote, quote_plus

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse

from loopback import serve
from project_runner import ProjectRunner
from reconciler_tipsi.emulator import TipsiEmulator

PASSWORD = "Tq+7/x=&%pw-tipsi-echo"


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]]


class EchoingTipsi:
    """The real emulator, except that requests to `fail_path` are answered with `status`
    and a DRF-style body quoting the request: its body, URL-encoded too, and headers."""

    def __init__(self, fail_path: str, status: int):
        self.emulator = TipsiEmulator()
        self.emulator.add_user("shop", PASSWORD)
        self.fail_path, self.status = fail_path, status
        self.issued: list[str] = []  # cookie values Tipsi handed out

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.emulator.app(scope, receive, send)
        request = Request(scope, receive)
        body = await request.body()
        if self.fail_path in scope["path"]:
            echo = (f"could not process {body.decode()} (form: {quote_plus(body.decode())}) "
                    f"headers: {dict(request.headers)}")
            answer = [{"external_id": [echo]}] if "/ext/" in scope["path"] else {"non_field_errors": [echo]}
            return await JSONResponse(answer, status_code=self.status)(scope, receive, send)

        async def replay():
            return {"type": "http.request", "body": body, "more_body": False}

        async def keep_cookies(message):
            for name, value in message.get("headers", []):
                if name.lower() == b"set-cookie":
                    self.issued.append(value.decode().split(";")[0].split("=", 1)[1])
            await send(message)

        await self.emulator.app(scope, replay, keep_cookies)


def project(root, url: str) -> ProjectRunner:
    runner = ProjectRunner(root)
    runner.write("reconciler.yaml", textwrap.dedent(f"""\
        backends:
          tipsi: {{provider: tipsi, url: "{url}", username: shop, password: "${{env:TIPSI_ECHO_PASSWORD}}",
                  retry: {{attempts: 2, backoff: 0, max_backoff: 0, timeout: 5}}}}
        """))
    runner.write("catalog.yaml", textwrap.dedent("""\
        menus:
          m: {currency: USD, products: {"10003": {name: Chianti, price: "24.00", barcodes: ["00123345"], category: wine}}}
        stores:
          shop: {name: Shop, menu: m, backends: {tipsi: {store_id: 19771}}, stock: {"10003": 12}}
        """))
    return runner


@pytest.mark.parametrize("fail_path, status, said", [
    ("/login", 400, "login refused (HTTP 400): could not process"),
    ("/login", 500, "login: HTTP 500 from Tipsi (gave up after 2 attempts; nothing was applied)"),
    ("/ext/sync", 400, "HTTP 400: item 10003: external_id: could not process"),
    ("/ext/sync", 500, "HTTP 500 from Tipsi; no final answer after 2 attempts"),
])
def test_an_echoing_tipsi_leaks_no_credential(tmp_path, monkeypatch, caplog, fail_path, status, said):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TIPSI_ECHO_PASSWORD", PASSWORD)
    tipsi = EchoingTipsi(fail_path, status)
    with serve(tipsi) as url:
        runner = project(tmp_path / "p", url)
        plan_file = str(tmp_path / "p" / "plan.json")
        planned = runner.run("-vv", "plan", "--out", plan_file)
        assert planned.exit_code == 0, planned.output
        applied = runner.run("-vv", "apply", plan_file)
    assert applied.exit_code == 1
    assert said in applied.output
    if fail_path == "/ext/sync":
        assert len(tipsi.issued) >= 2  # a session cookie and a CSRF token were handed out and echoed
        assert "sessionid=***" in applied.output or status == 500
    if status == 400:
        assert "***" in applied.output  # the echo was shown, masked
    secrets_seen = forms(PASSWORD) + tipsi.issued
    texts = [planned.output, applied.output, caplog.text]
    for secret in secrets_seen:
        assert all(secret not in text for text in texts), secret
    assert "HTTP Request" in caplog.text or "receive_response_headers" in caplog.text  # -vv really logged
    for path in (tmp_path / "p").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in secrets_seen), path
