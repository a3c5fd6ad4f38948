"""The transport ceiling: how many requests per second httpx gets through loopback to a
server that does nothing, with the client the providers use (`httpx.AsyncClient` with a
timeout, under `asyncio.run`) and as many requests in flight as a backend applies stores
at once (the providers' default concurrency, 4). Unsigned, and with one RSA signature per
request made as the D-Store client makes it (`reconciler_dstore.signing`).

The server (`app`) runs in the benchmark's process on uvicorn, as the emulators do; the
client runs as `python ceiling.py URL REQUESTS CONCURRENCY [KEY.pem]` in a fresh process,
as `reconciler apply` does, and prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATH = "/v2/pos/syncProduct"
ANSWER = b'{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"success"}}'
# A status update of ten products, the size of the most common request of a drift apply.
BODY = json.dumps({"requestId": "ceiling", "posAccountId": "chain", "store": {"posStoreId": "s0000"},
                   "products": [{"posProductId": f"m{i}-1", "status": "SOLDOUT"} for i in range(10)]},
                  separators=(",", ":")).encode("utf-8")


async def _answer(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


app = Starlette(routes=[Route(PATH, _answer, methods=["POST"])])


async def _run(url: str, requests: int, concurrency: int, key_file: str | None) -> dict:
    from reconciler_dstore import signing

    key = signing.load_private_key(Path(key_file).read_text()) if key_file else None
    left = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        for _ in left:
            headers = {"Content-Type": "application/json; charset=UTF-8"}
            if key is not None:
                request_time = signing.request_time_now()
                content = signing.signed_content("POST", PATH, "bench-client", request_time, BODY)
                headers.update({"Client-Id": "bench-client", "Request-Time": request_time,
                                "Signature": signing.format_signature_header(signing.sign(key, content))})
            response = await client.post(PATH, content=BODY, headers=headers)
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"requests": requests, "seconds": seconds, "per_second": requests / seconds,
            "client_cpu_ms_per_request": cpu / requests * 1000}


if __name__ == "__main__":
    url, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(_run(url, count, concurrency, sys.argv[4] if len(sys.argv) > 4 else None))))
