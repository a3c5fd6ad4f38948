"""A miPOS token endpoint that echoes the request puts the client secret and the password
into its error answer, which the client quotes. Nothing of them may reach the CLI output
(at -vv too), the log, the plan file or the state."""

from __future__ import annotations

import json
import logging
import textwrap
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import pytest

from loopback import serve
from mipos_helpers import request_body
from project_runner import ProjectRunner, copy_example

CLIENT_SECRET = "cs+/=&%41-Zq9/secret"
PASSWORD = "pw+/=&%2Fx-77=word"


def forms(secret: str) -> set[str]:
    """The ways a server may write a secret back: as is, URL-encoded, JSON- or PHP-escaped."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], secret.replace("/", "\\/")}


def echoing(status: int):
    """A token endpoint that answers `status`, quoting the request back in every form."""

    async def app(scope, receive, send):
        text = (await request_body(receive)).decode()
        fields = json.loads(text) if text.startswith("{") else dict(parse_qsl(text))
        body = {"message": [f"invalid request {text}", "php: " + text.replace("/", "\\/"), "form: " + urlencode(fields),
                            *(f"{k}={quote(str(v), safe='')}" for k, v in fields.items())],
                "data": None}
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    return app


def project(tmp_path, url: str) -> ProjectRunner:
    runner = copy_example("mipos-inventory", tmp_path)
    runner.write("reconciler.yaml", textwrap.dedent(f"""\
        catalog: [inventory.yaml]
        backends:
          mipos:
            provider: mipos
            url: "{url}"
            client_id: pos-client
            client_secret: "${{env:MIPOS_CLIENT_SECRET}}"
            email: pos@example.com
            password: "${{env:MIPOS_PASSWORD}}"
            user_id_tps: "30"
            inventory_system_id: 3d40a24e-d570-4598-ae68-e20687edd1f9
            owned: true
            retry: {{attempts: 2, backoff: 0, max_backoff: 0, timeout: 2}}
        """))
    return runner


@pytest.mark.parametrize("status", [400, 500])
def test_an_echoing_token_endpoint_leaks_nothing(tmp_path, monkeypatch, caplog, status):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MIPOS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("MIPOS_PASSWORD", PASSWORD)
    with serve(echoing(status)) as url:
        runner = project(tmp_path, url)
        plan_file = str(runner.root / "plan.json")
        assert runner.run("-vv", "plan", "--out", plan_file).exit_code == 0
        outputs = [runner.run("-vv", "apply", plan_file), runner.run("-vv", "apply", "--auto-approve")]
    for result in outputs:
        assert result.exit_code == 1
        # Still useful: the server's answer is there, with the secrets masked.
        assert f"HTTP {status}: invalid request" in result.output and "client_secret" in result.output
        assert "***" in result.output
    leaked = forms(CLIENT_SECRET) | forms(PASSWORD)
    for text in [r.output for r in outputs] + [caplog.text]:
        assert not [form for form in leaked if form in text]
    for path in runner.root.rglob("*"):  # plan.json, state.db, .reconciler/
        if path.is_file():
            content = path.read_bytes()
            assert not [form for form in leaked if form.encode() in content], path
