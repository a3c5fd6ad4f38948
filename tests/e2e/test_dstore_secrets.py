"""A gateway that echoes the request back never gets the private key into the output.

The client's messages quote what the server answered (a proxy's 500 page, a result
message), so a server echoing the request puts everything the client sent into the apply
output. The private key (Alipay hands it out as bare base64: `+`, `/` and `=`) signs but
never travels; this checks that nothing of it reaches the CLI output, the plan file, the
state or any file under the project, while the echoed text itself is shown.
"""

from __future__ import annotations

import base64
import json
import textwrap
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import serialization

from dstore_helpers import request_body
from loopback import serve
from project_runner import ProjectRunner
from reconciler_dstore import signing


class EchoingGateway:
    """Answers every request with the request itself: first as an HTTP 500 page, then
    as the message of an F result."""

    def __init__(self, errors_first: int) -> None:
        self.errors_first = errors_first
        self.seen: list[bytes] = []

    async def __call__(self, scope, receive, send):
        body = await request_body(receive)
        self.seen.append(body)
        echo = "echo: " + " ".join(f"{k.decode()}={v.decode()}" for k, v in scope["headers"]) + " " + body.decode()
        if len(self.seen) <= self.errors_first:
            status, answer, kind = 500, echo.encode(), b"text/plain"
        else:
            status, kind = 200, b"application/json"
            answer = json.dumps({"result": {"resultCode": "PARAM_ILLEGAL", "resultMessage": echo,
                                            "resultStatus": "F"}}).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": answer})


def key_forms(key: str) -> list[str]:
    """The key and the pieces of it an echo or a log line might carry."""
    return [key, quote_plus(key), key[:40], key[-40:], key[200:260], quote_plus(key[200:260])]


def test_an_echoing_gateway_leaks_no_part_of_the_private_key(tmp_path, monkeypatch):
    private_pem, _ = signing.generate_key_pair()
    der = signing.load_private_key(private_pem).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    key = base64.b64encode(der).decode("ascii")
    assert {"+", "/", "="} & set(key)  # the characters that URL encoding changes
    monkeypatch.setenv("DSTORE_PRIVATE_KEY", key)
    gateway = EchoingGateway(errors_first=3)
    with serve(gateway) as url:
        project = ProjectRunner(tmp_path / "p")
        project.write("reconciler.yaml", textwrap.dedent(f"""\
            backends:
              sg:
                provider: dstore
                url: "{url}"
                client_id: "375Y903U2Y45KE00600"
                private_key: "${{env:DSTORE_PRIVATE_KEY}}"
                pos_account_id: bk001
                owned: true
                retry: {{attempts: 3, backoff: 0, max_backoff: 0, timeout: 2}}
            """))
        project.write("catalog.yaml", textwrap.dedent("""\
            menus:
              m: {currency: SGD, products: {p1: {name: green tea, price: "10.00"}}}
            stores:
              s1: {name: s1-name, menu: m, backends: {sg: {store_id: s1}}}
            """))
        plan = project.run("-vv", "plan", "--out", str(project.root / "plan.json"))
        assert plan.exit_code == 0, plan.output
        apply = project.run("-vv", "apply", str(project.root / "plan.json"))
        second = project.run("-vv", "apply", "--auto-approve")
    assert apply.exit_code == second.exit_code == 1
    assert len(gateway.seen) == 4  # three 500s, then the next apply's F
    # The server's words are shown: the user sees what it said...
    assert "sg/s1: unknown" in apply.output and "no result from D-Store (HTTP 500: echo: " in apply.output
    assert "sg/s1: failed" in second.output and "PARAM_ILLEGAL: echo: " in second.output
    assert "client-id=375Y903U2Y45KE00600" in second.output and '"name":"green tea"' in second.output
    # ...and nothing of the key is anywhere.
    outputs = plan.output + apply.output + second.output
    files = b"".join(path.read_bytes() for path in project.root.rglob("*") if path.is_file())
    for form in key_forms(key):
        assert form not in outputs, form
        assert form.encode() not in files, form
