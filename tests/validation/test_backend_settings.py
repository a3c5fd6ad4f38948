"""`validate` checks what a backend's settings refer to: every secret resolves and every
D-Store key loads. A bad one is a problem at its line of reconciler.yaml naming the
setting and the reference, never the value; `apply` never shows a traceback for one."""

from __future__ import annotations

import os

import textwrap

import pytest

from harness import DStoreHarness
from reconciler.errors import ReconcilerError
from reconciler_dstore import signing

CATALOG = """\
menus:
  m: {currency: SGD, products: {p1: {name: burger, price: "10.00"}}}
stores:
  s1: {name: Store one, menu: m, backends: {sg: {store_id: s1}}}
"""

TOKEN = "DISTINCTIVE-NOT-A-KEY-31337"  # must never be printed


def dstore_config(private_key: str, gateway: str = "${file:keys/gateway.pem}", url: str = "https://dstore.invalid") -> str:
    return textwrap.dedent(f"""\
        backends:
          sg:
            provider: dstore
            url: "{url}"
            client_id: c1
            private_key: "{private_key}"
            gateway_public_key: "{gateway}"
            pos_account_id: acct1
        """)


@pytest.fixture
def keys(project):
    private_pem, public_pem = signing.generate_key_pair()
    project.write("keys/client.pem", private_pem)
    project.write("keys/gateway.pem", public_pem)
    project.write("catalog.yaml", CATALOG)
    return project


def test_good_keys_pass(keys):
    keys.write("reconciler.yaml", dstore_config("${file:keys/client.pem}"))
    outcome = keys.validate()
    assert outcome.exit_code == 0, outcome.report


@pytest.mark.parametrize("content, phrase", [
    pytest.param(f"{TOKEN}\n", "does not hold an RSA private key", id="not-a-key"),
    pytest.param("-----BEGIN PRIVATE KEY-----\n" + TOKEN + "\n-----END PRIVATE KEY-----\n",
                 "does not hold an RSA private key", id="broken-pem"),
    pytest.param(None, "is not UTF-8 text", id="not-text"),
])
def test_a_private_key_that_does_not_load_is_located(keys, at, content, phrase):
    config = dstore_config("${file:keys/client.pem}")
    keys.write("reconciler.yaml", config)
    if content is None:
        (keys.root / "keys/client.pem").write_bytes(b"\xff\xfe" + TOKEN.encode())
    else:
        keys.write("keys/client.pem", content)
    outcome = keys.validate()
    line = outcome.assert_rejected(at("reconciler.yaml", config, 6, '"${file:keys/client.pem}"'),
                                   "backend sg private_key", "keys/client.pem", phrase)
    assert TOKEN not in outcome.stderr and TOKEN not in line


def test_the_public_key_is_checked_too_and_every_problem_is_reported(keys, at, monkeypatch):
    monkeypatch.delenv("DSTORE_TEST_KEY", raising=False)
    keys.write("keys/gateway.pem", TOKEN)
    config = dstore_config("${env:DSTORE_TEST_KEY}")
    keys.write("reconciler.yaml", config)
    outcome = keys.validate()
    # A key that is not here (a pull-request job plans without credentials) is said, not refused;
    # one that is here but unusable is refused.
    outcome.assert_rejected(at("reconciler.yaml", config, 7, '"${file:keys/gateway.pem}"'),
                            "gateway_public_key: ${file:keys/gateway.pem} does not hold an RSA public key", count=2)
    where = at("reconciler.yaml", config, 6, '"${env:DSTORE_TEST_KEY}"')
    assert f"{where}: warning: backend sg private_key: environment variable DSTORE_TEST_KEY is not set" \
        in outcome.stderr
    assert TOKEN not in outcome.stderr


def test_a_key_written_in_place_is_never_printed(keys, at):
    config = dstore_config(TOKEN)
    keys.write("reconciler.yaml", config)
    outcome = keys.validate()
    outcome.assert_rejected(at("reconciler.yaml", config, 6, f'"{TOKEN}"'),
                            "the value written in reconciler.yaml does not hold an RSA private key")
    assert outcome.stderr.count(TOKEN) == 0


def test_an_emulated_backend_has_no_keys_to_check(keys, monkeypatch):
    monkeypatch.delenv("DSTORE_TEST_KEY", raising=False)
    keys.write("reconciler.yaml", dstore_config("${env:DSTORE_TEST_KEY}", url="emulator://"))
    outcome = keys.validate()
    assert outcome.exit_code == 0, outcome.report


@pytest.mark.parametrize("backend, line, token, phrase", [
    pytest.param('t: {provider: tipsi, url: "https://t.invalid", username: u, password: "${env:NO_SUCH_PW}"}',
                 2, '"${env:NO_SUCH_PW}"', "backend t password: environment variable NO_SUCH_PW is not set", id="tipsi"),
    pytest.param('v: {provider: virtpos, url: "https://v.invalid", apikey: "${file:missing.txt}"}',
                 2, '"${file:missing.txt}"', "backend v apikey: cannot read missing.txt", id="virtpos"),
    pytest.param('p: {provider: mipos, url: "https://p.invalid", client_id: c, client_secret: "${env:NO_SUCH_SECRET}",'
                 ' email: e, password: pw, user_id_tps: "1", inventory_system_id: i}',
                 2, '"${env:NO_SUCH_SECRET}"', "backend p client_secret: environment variable NO_SUCH_SECRET", id="mipos"),
])
def test_other_backends_report_secrets_that_do_not_resolve(project, at, monkeypatch, backend, line, token, phrase):
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    config = f"backends:\n  {backend}\n"
    project.write("reconciler.yaml", config)
    project.write("catalog.yaml", "menus: {}\n")
    outcome = project.validate()
    # Not here: said at its line, apply needs it; a plan of a write-only backend does not.
    assert outcome.exit_code == 0, outcome.report
    assert f"{at('reconciler.yaml', config, line, token)}: warning: {phrase}" in outcome.stderr
    assert "apply needs it" in outcome.stderr


def test_a_secret_file_that_is_here_but_unreadable_is_refused(project, at):
    secret = project.write("apikey.txt", "")
    secret.chmod(0)
    config = 'backends:\n  v: {provider: virtpos, url: "https://v.invalid", apikey: "${file:apikey.txt}"}\n'
    project.write("reconciler.yaml", config)
    project.write("catalog.yaml", "menus: {}\n")
    try:
        if os.access(secret, os.R_OK):  # root reads anything: make it a directory instead
            secret.chmod(0o600)
            secret.unlink()
            secret.mkdir()
        outcome = project.validate()
        outcome.assert_rejected(at("reconciler.yaml", config, 2, '"${file:apikey.txt}"'), "backend v apikey: cannot read")
    finally:
        if secret.is_file():
            secret.chmod(0o600)


async def test_a_key_that_breaks_after_validation_fails_the_apply_cleanly(tmp_path):
    harness = DStoreHarness(tmp_path / "p")
    validated = harness.validated()
    (harness.root / "keys" / "client.pem").write_text(TOKEN)
    provider = validated.providers["sg"]
    with pytest.raises(ReconcilerError) as caught:
        await provider.open()
    assert str(caught.value) == ("backend sg private_key: ${file:keys/client.pem} does not hold an RSA private key "
                                 "(PEM, or base64 of the DER encoding)")
    assert TOKEN not in str(caught.value)
