"""The HTTP layer of one gateway call, and the floor that batch efficiency at 20 ms cannot pass.

    python bench/http_layer.py [--n 1500] [--rows 300]

1. Client CPU (process time) of one POST with its whole reply read, against the sandbox in its
   own process at 0 ms, five ways, on one keep-alive connection:

   * ``post_bounded``: what every gateway of this library sends through (a requests session
     from ``make_session``, stream, deadline reader, size cap);
   * ``requests.Session.post``: plain requests, defaults;
   * ``requests, prepared once``: the request prepared once and only its body set per call,
     then ``Session.send`` (what caching requests' preparation could save at most);
   * ``urllib3 pool``: the connection pool requests itself uses, called directly;
   * ``http.client``: the standard library's connection, the floor.

   The sandbox's own CPU per request is read from its process (``/proc``) over the same calls.

2. The floor of batch efficiency: the batch runner at concurrency 1 (one thread: nothing to
   wait for but the sandbox's 20 ms) over SOAP and REST. Each extra thread only adds waiting
   for the client's one interpreter lock, so efficiency at concurrency 16 cannot pass the one
   measured here; the time a row costs beyond its three 20 ms calls is shown beside it.

Prints a table and, on its last line, JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import (  # noqa: E402
    make_binding,
    process_cpu,
    sandbox_client_factory,
    start_sandbox,
    write_charge_file,
)

PATH = "/payment/rest/getOrderStatusExtended.do"
BODY = b"userName=sandbox-api&password=sandbox-password&orderId=00000000-0000-0000-0000-000000000000"
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
CALLS_PER_AUTOPAYMENT = 3


def _callers(url: str) -> Dict[str, Callable[[], bytes]]:
    from autopay_soap.http import Timeouts, make_session, post_bounded

    ours, plain = make_session(), requests.Session()
    timeouts = Timeouts()
    template = plain.prepare_request(requests.Request("POST", url + PATH, headers=HEADERS))
    settings = plain.merge_environment_settings(url + PATH, {}, True, None, None)

    def prepared_once() -> bytes:
        request = template.copy()
        request.prepare_body(BODY, None)
        return plain.send(request, timeout=(5, 30), **settings).content

    pool = requests.adapters.HTTPAdapter().poolmanager.connection_from_url(url)
    pool_headers = dict(template.headers, **{"Content-Length": str(len(BODY))})

    def urllib3_pool() -> bytes:
        reply = pool.urlopen("POST", PATH, body=BODY, headers=pool_headers, redirect=False, retries=False,
                             preload_content=False, timeout=30)
        try:
            return bytes(reply.read())
        finally:
            reply.release_conn()

    connection = http.client.HTTPConnection(url.split("//", 1)[1], timeout=30)

    def standard_library() -> bytes:
        connection.request("POST", PATH, body=BODY, headers=pool_headers)
        return connection.getresponse().read()

    return {
        "post_bounded": lambda: post_bounded(ours, url + PATH, data=BODY, headers=HEADERS,
                                             timeouts=timeouts).content,
        "requests_post": lambda: plain.post(url + PATH, data=BODY, headers=HEADERS, timeout=(5, 30)).content,
        "requests_prepared_once": prepared_once,
        "urllib3_pool": urllib3_pool,
        "http_client": standard_library,
    }


def per_call(n: int) -> Dict[str, Any]:
    """Client and sandbox CPU per call, each way."""
    proc, url = start_sandbox(0)
    out: Dict[str, Any] = {}
    try:
        for name, call in _callers(url).items():
            for _ in range(50):
                assert b"errorCode" in call()  # warm, and a real answer each time
            sandbox_before, started = process_cpu(proc.pid), time.process_time()
            for _ in range(n):
                call()
            client = (time.process_time() - started) / n
            out[name] = {"client_us": client * 1e6, "sandbox_us": (process_cpu(proc.pid) - sandbox_before) / n * 1e6}
    finally:
        proc.terminate()
        proc.wait()
    return out


def efficiency_floor(rows: int, latency_ms: float = 20.0, warm_rows: int = 10) -> List[Dict[str, Any]]:
    """The batch runner at concurrency 1 over SOAP and REST: efficiency and the cost beyond latency.

    A run of ``warm_rows`` first pays for the imports and the WSDL parse, which a batch pays
    once; the measured run charges ``rows`` more into a journal of its own.
    """
    from autopay_soap.batch import BatchRunner

    proc, url = start_sandbox(latency_ms)
    results = []
    try:
        binding = make_binding(url)
        for transport in ("soap", "rest"):
            folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"autopay-floor-{time.time_ns()}"
            folder.mkdir(parents=True)
            factory = sandbox_client_factory(url, transport)
            warm = write_charge_file(folder / "warm.csv", f"W-{folder.name[-8:]}", binding, warm_rows)
            BatchRunner(factory, folder / "warm.sqlite", concurrency=1).run(warm)
            file = write_charge_file(folder / "rows.csv", f"F-{folder.name[-8:]}", binding, rows)
            sandbox_before, cpu_before, started = process_cpu(proc.pid), time.process_time(), time.perf_counter()
            summary = BatchRunner(factory, folder / "j.sqlite", concurrency=1).run(file)
            actual = time.perf_counter() - started
            ideal = rows * CALLS_PER_AUTOPAYMENT * latency_ms / 1000
            results.append({
                "transport": transport, "rows": rows, "paid": summary.paid, "efficiency": ideal / actual,
                "beyond_latency_ms": (actual - ideal) / rows * 1000,
                "client_cpu_ms": (time.process_time() - cpu_before) / rows * 1000,
                "sandbox_cpu_ms": (process_cpu(proc.pid) - sandbox_before) / rows * 1000,
            })
    finally:
        proc.terminate()
        proc.wait()
    return results


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1500, help="calls per way")
    parser.add_argument("--rows", type=int, default=300, help="rows of the concurrency-1 batch (0: none)")
    args = parser.parse_args()
    calls = per_call(args.n)
    floor = efficiency_floor(args.rows) if args.rows > 0 else []  # 0: the HTTP layer only (python -m bench)
    for name, r in calls.items():
        print(f"{name:24s} client {r['client_us']:6.0f} us/call   sandbox {r['sandbox_us']:6.0f} us/call")
    for r in floor:
        print(f"batch {r['transport']} concurrency 1, {r['rows']} rows: efficiency {r['efficiency']:.3f}, "
              f"{r['beyond_latency_ms']:.1f} ms a row beyond latency (client CPU {r['client_cpu_ms']:.2f} ms, "
              f"sandbox CPU {r['sandbox_cpu_ms']:.2f} ms)")
    print(json.dumps({"per_call": calls, "efficiency_floor": floor}))


if __name__ == "__main__":
    main()
