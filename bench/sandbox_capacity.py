"""Sustained request rates of the sandbox on loopback: SOAP (schema validation on), REST, T-Bank.

The sandbox runs in its own process (``autopay-soap sandbox --port 0``); this process keeps
``--threads`` keep-alive connections busy for ``--seconds`` per protocol, mixing a status
look-up with a registration (a write), and reports requests per second.

    python bench/sandbox_capacity.py [--seconds 5] [--threads 4]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import threading
import time

import requests

WSSE = ('<s:Header><w:Security xmlns:w="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-'
        '1.0.xsd"><w:UsernameToken><w:Username>sandbox-api</w:Username><w:Password>sandbox-password</w:Password>'
        '</w:UsernameToken></w:Security></s:Header>')


def envelope(operation: str, inner: str) -> bytes:
    return (f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">{WSSE}<s:Body>'
            f'<m:{operation} xmlns:m="http://engine.paymentgate.ru/webservices/merchant">{inner}</m:{operation}>'
            '</s:Body></s:Envelope>').encode()


def run(seconds: float, threads: int, make_request) -> float:
    counter = itertools.count()
    done = []
    stop_at = time.perf_counter() + seconds

    def worker(n: int) -> None:
        with requests.Session() as http:
            i = 0
            while time.perf_counter() < stop_at:
                make_request(http, n, i)
                next(counter)
                i += 1
        done.append(n)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return next(counter) / (time.perf_counter() - started)


def main() -> None:
    """Start the sandbox in a subprocess and measure SOAP and REST rates."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--quiet", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]  # type: ignore[union-attr]
        soap_url = url + "/payment/webservices/merchant-ws"
        rest_url = url + "/payment/rest/"
        first = requests.post(soap_url, data=envelope("registerOrder", f'<order merchantOrderNumber="seed" '
                                                      f'amount="100"><returnUrl>{url}/r</returnUrl></order>'))
        order_id = first.text.split('orderId="')[1].split('"')[0]
        tag = os.getpid()

        def soap(http, n, i):
            if i % 2:
                body = envelope("registerOrder", f'<order merchantOrderNumber="s{tag}-{n}-{i}" amount="100" '
                                f'currency="643"><returnUrl>{url}/r</returnUrl></order>')
            else:
                body = envelope("getOrderStatusExtended", f'<order orderId="{order_id}"/>')
            r = http.post(soap_url, data=body, headers={"Content-Type": "text/xml"}, timeout=10)
            assert r.status_code == 200, r.text[:200]

        def rest(http, n, i):
            auth = {"userName": "sandbox-api", "password": "sandbox-password"}
            if i % 2:
                r = http.post(rest_url + "register.do", data={**auth, "orderNumber": f"r{tag}-{n}-{i}",
                                                              "amount": "100", "returnUrl": url + "/r"}, timeout=10)
            else:
                r = http.post(rest_url + "getOrderStatusExtended.do", data={**auth, "orderId": order_id}, timeout=10)
            assert r.status_code == 200 and "orderId" in r.text or r.json().get("errorCode") == "0"

        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from autopay_soap.gateways.tbank import make_token

        tbank_url = url + "/v2/"

        def signed(body):
            body = dict(body, TerminalKey="SandboxDEMO")
            body["Token"] = make_token(body, "sandbox-password")  # the client's own signing, in the loop
            return body

        seed = requests.post(tbank_url + "Init", json=signed({"Amount": 100, "OrderId": f"t{tag}-seed"}),
                             timeout=10).json()

        def tbank(http, n, i):
            if i % 2:
                body = signed({"Amount": 100, "OrderId": f"t{tag}-{n}-{i}", "DATA": {"OperationInitiatorType": "0"}})
                r = http.post(tbank_url + "Init", json=body, timeout=10)
            else:
                r = http.post(tbank_url + "GetState", json=signed({"PaymentId": seed["PaymentId"]}), timeout=10)
            assert r.status_code == 200 and r.json()["Success"] is True, r.text[:200]

        soap_rps = run(args.seconds, args.threads, soap)
        rest_rps = run(args.seconds, args.threads, rest)
        tbank_rps = run(args.seconds, args.threads, tbank)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}")
    print(f"command: python bench/sandbox_capacity.py --seconds {args.seconds} --threads {args.threads}")
    print(f"SOAP (request and answer validated against the schema): {soap_rps:8.0f} req/s")
    print(f"REST:                                                   {rest_rps:8.0f} req/s")
    print(f"T-Bank JSON (every Token computed and checked):         {tbank_rps:8.0f} req/s")
    print(json.dumps({"soap_rps": soap_rps, "rest_rps": rest_rps, "tbank_rps": tbank_rps, "threads": args.threads}))


if __name__ == "__main__":
    main()
