"""Every command, against backends that echo each request back into their errors, leaves
no secret in any output or file, in any encoding.

One project uses all four backends, each behind one loopback server that echoes the whole
request (method, URL with its query, headers, body; as written and URL-encoded) into a 400
or a 500 after handing out session credentials (Tipsi's cookies, miPOS's bearer token).
The secrets contain `+/=&%`, which every encoding changes. Each command runs at `-vv`
(httpcore's debug lines print headers); its stdout and stderr, and then every file of the
project (plan files, the SQLite state, emulator data), are searched for each secret as
written, URL-encoded both ways with either case of hex digits, JSON- and PHP-escaped,
HTML-escaped and base64.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loopback import serve
from project_runner import ProjectRunner
from reconciler_dstore import signing

TIPSI_PASSWORD = "Tp+1/x=&%tipsi-" + secrets.token_hex(4)
MIPOS_SECRET = "Ms+2/y=&%mipos-" + secrets.token_hex(4)
MIPOS_PASSWORD = "Mp+3/z=&%mipos-pw-" + secrets.token_hex(4)
VIRTPOS_APIKEY = "Vk+4/w=&%apikey-" + secrets.token_hex(4)


def encodings(secret: str) -> set[str]:
    raw = secret.encode()
    url = quote(secret, safe="")
    forms = {secret, url, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), url), quote_plus(secret),
             quote(secret), json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace("/", "\\/"),
             html.escape(secret), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    return {f for f in forms if len(f) >= 8}


class Echo:
    """The four backends at once, answering `status` with the request echoed back, after
    giving out the session credentials a real backend would."""

    def __init__(self, status: int):
        self.status = status
        self.cookies = {"sessionid": "sid+/=" + secrets.token_hex(6), "csrftoken": "csrf+/=" + secrets.token_hex(6)}
        self.token = "tok+/=&%" + secrets.token_hex(8)

    def learnt(self) -> list[str]:
        return [*self.cookies.values(), self.token]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = (await request.body()).decode(errors="replace")
        path = scope["path"]
        if path.endswith("/login"):
            response = JSONResponse({"detail": "ok"})
            for name, value in self.cookies.items():
                response.set_cookie(name, value)
            return await response(scope, receive, send)
        if path.endswith("/oauth/token"):
            return await JSONResponse({"data": {"token": self.token, "token_type": "bearer",
                                                "expires_in": "4102444800"}})(scope, receive, send)
        echo = (f"{request.method} {request.url} {dict(request.headers)} {body} "
                f"(form-encoded: {quote_plus(body)})")
        if path.startswith("/api/store") or path.startswith("/api/item") or path.startswith("/api/warehouse"):
            text = f"<root><success>0</success><info>{html.escape(echo)}</info></root>"
            return await Response(text, status_code=self.status, media_type="application/xml")(scope, receive, send)
        answer = {"message": [echo], "detail": echo, "non_field_errors": [echo],
                  "result": {"resultStatus": "F", "resultCode": "PARAM_ILLEGAL", "resultMessage": echo}}
        return await JSONResponse(answer, status_code=self.status)(scope, receive, send)


def project(root: Path, url: str) -> ProjectRunner:
    runner = ProjectRunner(root)
    private_pem, _ = signing.generate_key_pair()
    runner.write("keys/dstore.pem", private_pem)
    runner.write("keys/tipsi", TIPSI_PASSWORD)
    runner.write("keys/mipos-secret", MIPOS_SECRET)
    runner.write("keys/mipos-password", MIPOS_PASSWORD)
    runner.write("keys/virtpos", VIRTPOS_APIKEY)
    retry = "retry: {attempts: 1, backoff: 0, timeout: 5}"
    runner.write("reconciler.yaml", textwrap.dedent(f"""\
        backends:
          ds: {{provider: dstore, url: "{url}", client_id: c1, pos_account_id: acct, owned: true,
                private_key: "${{file:keys/dstore.pem}}", {retry}}}
          tp: {{provider: tipsi, url: "{url}", username: shop, password: "${{file:keys/tipsi}}", {retry}}}
          mp: {{provider: mipos, url: "{url}", client_id: c2, client_secret: "${{file:keys/mipos-secret}}",
                email: pos@example.com, password: "${{file:keys/mipos-password}}", user_id_tps: "30",
                inventory_system_id: inv-1, owned: true, {retry}}}
          vp: {{provider: virtpos, url: "{url}", apikey: "${{file:keys/virtpos}}", format: xml, {retry}}}
        """))
    runner.write("catalog.yaml", textwrap.dedent("""\
        units: {pcs: {name: Pieces, short_name: pcs}}
        suppliers: {farm: {name: Farm}}
        menus:
          m:
            currency: SGD
            products:
              "101": {name: Eggs, price: "3.00", cost: "1.00", unit: pcs, supplier: farm, barcodes: ["1001"],
                      category: drink}
        stores:
          shop:
            name: Shop
            menu: m
            backends: {ds: {store_id: s1}, tp: {store_id: 7}, mp: {store_id: "12"}, vp: {warehouse_id: 3}}
            stock: {"101": 4}
        """))
    return runner


COMMANDS = [
    ["validate"],
    ["plan"],  # VirtPOS is read live: the echo is its answer
    ["plan", "--no-refresh", "--format", "markdown"],
    ["plan", "--no-refresh", "--format", "json"],
    ["plan", "--no-refresh", "--out", "{root}/plan.json"],
    ["show", "{root}/plan.json"],
    ["apply", "{root}/plan.json"],
    ["apply", "--auto-approve", "--no-refresh"],
    ["apply", "--auto-approve", "--no-refresh", "--json"],
    ["plan", "--refresh-only"],
    ["apply", "--refresh-only", "--auto-approve"],
    ["import", "vp", "--store", "shop"],
    ["state", "list"], ["state", "show", "ds", "shop"], ["state", "show", "mp", "shop"], ["state", "locks"],
    ["fmt", "--check"],
    ["schema", "project"],
]


@pytest.mark.parametrize("status", [400, 500])
def test_no_command_leaves_a_secret_in_any_output_or_file(tmp_path, status, caplog):
    echo = Echo(status)
    with serve(echo) as url:
        runner = project(tmp_path / "p", url)
        outputs = []
        for command in COMMANDS:
            args = [a.replace("{root}", str(runner.root)) for a in command]
            result = runner.run("-vv", *args)
            outputs.append((args, result.exit_code, result.stdout + result.stderr))
    secrets_ = [TIPSI_PASSWORD, MIPOS_SECRET, MIPOS_PASSWORD, VIRTPOS_APIKEY, *echo.learnt()]
    needles = {form: secret for secret in secrets_ for form in encodings(secret)}
    for args, code, text in outputs:
        for form, secret in needles.items():
            assert form not in text, f"{secret!r} as {form!r} in the output of {args} (exit {code}):\n{text}"
    for form in needles:
        assert form not in caplog.text
    files = [p for p in runner.root.rglob("*") if p.is_file() and "keys" not in p.parts]
    assert any(p.name == "state.db" for p in files) and any(p.name == "plan.json" for p in files)
    for path in files:
        data = path.read_bytes()
        for form, secret in needles.items():
            assert form.encode() not in data, f"{secret!r} as {form!r} in {path}"
    # The commands did reach the backends and say what they answered, masked.
    said = "\n".join(text for _, _, text in outputs)
    assert "***" in said
    assert any(code == 1 for _, code, _ in outputs)
