"""The apikey travels in every VirtPOS URL and nowhere else: not in CLI output, logs at
-vv, the plan, the state, .reconciler/ files, or any exception text, httpx's included,
even when a server echoes the whole request back into its answer."""

from __future__ import annotations

import html
import logging
import re
import textwrap
from urllib.parse import quote, quote_plus

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loopback import free_port, serve
from project_runner import ProjectRunner
from reconciler.emulation import Fault
from reconciler.errors import ReconcilerError
from reconciler.provider import RetrySettings
from reconciler_virtpos.client import VirtPOSClient
from reconciler_virtpos.emulator import DOCUMENT_SAMPLE, VirtPOSEmulator, to_xml

KEY = "VPKEY-q7Zx9-distinctive-31337"


def texts_of(exc: BaseException) -> str:
    """Everything an exception and its whole chain would print."""
    seen, out = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out += [str(exc), repr(exc), *map(str, exc.args)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(out)


def project(root, url: str, attempts: int = 2, fmt: str = "xml") -> ProjectRunner:
    runner = ProjectRunner(root)
    runner.write("reconciler.yaml", textwrap.dedent(f"""\
        backends:
          virtpos: {{provider: virtpos, url: "{url}", apikey: "${{env:VIRTPOS_APIKEY}}", format: {fmt},
                    retry: {{attempts: {attempts}, backoff: 0, max_backoff: 0, timeout: 0.3}}}}
        """))
    runner.write("catalog.yaml", textwrap.dedent("""\
        menus:
          m: {currency: RUB, products: {"17007": {name: 63838 Корм для собак 2кг, price: "1126.00", cost: "10.00"}}}
        stores:
          shop: {name: Магазин 1, menu: m, backends: {virtpos: {warehouse_id: 3}},
                 stock: {"17007": {quantity: 2, lot_number: "12345"}}}
        """))
    return runner


def assert_no_key_under(root) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_whole_run_leaves_the_key_nowhere(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VIRTPOS_APIKEY", KEY)
    emulator = VirtPOSEmulator(seed=DOCUMENT_SAMPLE)
    emulator.add_apikey(KEY)
    outputs = []
    with serve(emulator.app) as url:
        runner = project(tmp_path / "p", url)
        plan_file = str(tmp_path / "p" / "plan.json")
        for args in (("-vv", "plan", "--out", plan_file), ("-vv", "apply", plan_file),
                     ("-vv", "plan", "--format", "json"), ("-vv", "apply", "--auto-approve", "--full", "--force")):
            result = runner.run(*args)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
        emulator.faults.add(Fault("timeout", seconds=2, times=10))
        emulator.sell(3, 17007, "1")
        timed_out = runner.run("-vv", "plan")
        assert timed_out.exit_code == 1 and "timed out waiting for VirtPOS" in timed_out.output
        outputs.append(timed_out.output)
    assert emulator.quantities(3) == {"17007": "1.000"}
    assert len(emulator.requests) > 5
    assert all(KEY not in text for text in outputs)
    assert KEY not in caplog.text and "/api/store" in caplog.text
    assert_no_key_under(tmp_path / "p")  # plan.json, state.db and everything in .reconciler/


def test_a_dead_port_says_so_without_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTPOS_APIKEY", KEY)
    runner = project(tmp_path / "p", f"http://127.0.0.1:{free_port()}", attempts=1)
    result = runner.run("-vv", "plan")
    assert result.exit_code == 1
    assert "cannot connect to VirtPOS" in result.output and KEY not in result.output
    assert_no_key_under(tmp_path / "p")


@pytest.mark.parametrize("fault", [None, "timeout"])
async def test_client_exceptions_carry_no_key(fault):
    emulator = VirtPOSEmulator()
    if fault is None:
        url = f"http://127.0.0.1:{free_port()}"  # nobody listens: httpx.ConnectError
        client = VirtPOSClient(url, KEY, "json", RetrySettings(attempts=2, backoff=0, timeout=0.3))
        with pytest.raises(ReconcilerError) as caught:
            await client.call("/api/store", {"warehouseid": "1"})
        await client.close()
    else:
        emulator.faults.add(Fault(fault, seconds=2, times=5))
        with serve(emulator.app) as url:
            client = VirtPOSClient(url, KEY, "json", RetrySettings(attempts=2, backoff=0, timeout=0.3))
            with pytest.raises(ReconcilerError) as caught:
                await client.call("/api/store/updateOnhand", {"warehouseid": "1", "itemid": "1", "quantity": "1"},
                                  method="POST")
            await client.close()
    assert KEY not in texts_of(caught.value)


async def test_a_server_echoing_the_key_in_info_is_masked_in_the_error():
    emulator = VirtPOSEmulator()
    emulator.handle = lambda path, query, form=None: {"success": 0, "info": f"bad request apikey={query['apikey']}"}
    with serve(emulator.app) as url:
        client = VirtPOSClient(url, KEY, "xml", RetrySettings(attempts=1, timeout=2))
        with pytest.raises(ReconcilerError) as caught:
            await client.call("/api/store", {})
        await client.close()
    assert str(caught.value) == "success=0: /api/store: bad request apikey=***"


# -- a server that echoes the whole request --------------------------------------------------

ODD_KEY = "vp+Key/with=&%chars-31337"  # every character URL and XML encodings change


def encodings(key: str) -> list[str]:
    """The forms an echoed key can take in a text: as is, URL-encoded (either hex case,
    `+` for space or not), XML/HTML-escaped, JSON-escaped."""
    encoded = quote(key, safe="")
    return [key, encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded), quote_plus(key), quote(key),
            html.escape(key), html.escape(key, quote=False)]


class Echo:
    """The emulator, except that the paths in `paths` answer with the whole request (URL,
    query and body) in `info`, with HTTP `status`, in the format asked for."""

    def __init__(self, emulator: VirtPOSEmulator):
        self.emulator, self.paths, self.status = emulator, set(), 200

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.emulator.app(scope, receive, send)
        request = Request(scope, receive)
        body = (await request.body()).decode()
        said = {"success": 0, "info": f"cannot handle {request.url} (query {dict(request.query_params)}, body {body})"}
        if request.query_params.get("format") == "json":
            response = JSONResponse(said, self.status)
        else:
            response = Response(to_xml(said), self.status, media_type="application/xml")
        await response(scope, receive, send)


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_a_server_echoing_the_request_never_shows_the_key_in_any_encoding(tmp_path, monkeypatch, caplog, fmt):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VIRTPOS_APIKEY", ODD_KEY)
    emulator = VirtPOSEmulator(seed=DOCUMENT_SAMPLE)
    emulator.add_apikey(ODD_KEY)
    echo = Echo(emulator)
    outputs = []

    def run(*args, echo_paths=(), status=200, exit_code=1):
        echo.paths, echo.status = set(echo_paths), status
        result = runner.run("-vv", *args)
        assert result.exit_code == exit_code, result.output
        outputs.append(result.output)
        # A refused call shows the server's echo, with the key masked.
        assert exit_code == 0 or "***" in result.output, result.output
        return result.output

    with serve(echo) as url:
        runner = project(tmp_path / "p", url, fmt=fmt)
        plan_file = str(tmp_path / "p" / "plan.json")
        assert "cannot handle" in run("plan", echo_paths={"/api/store"})
        assert "HTTP 500 from VirtPOS: cannot handle" in run("plan", echo_paths={"/api/store"}, status=500)
        assert "cannot handle" in run("import", "virtpos", "--store", "shop", echo_paths={"/api/store"})
        run("plan", "--out", plan_file, exit_code=0)
        assert "cannot handle" in run("apply", plan_file, echo_paths={"/api/store/updateOnhand"})
        assert "cannot handle" in run("apply", "--auto-approve", echo_paths={"/api/store/updateOnhand"}, status=500)
        run("import", "virtpos", "--store", "shop", exit_code=0)
        run("apply", "--auto-approve", "--full", "--force", exit_code=0)
    for form in encodings(ODD_KEY):
        assert all(form not in out for out in outputs), form
        assert form not in caplog.text, form
        for path in (tmp_path / "p").rglob("*"):  # plan.json, state.db, .reconciler/, the catalog
            if path.is_file():
                assert form.encode() not in path.read_bytes(), (form, path)
