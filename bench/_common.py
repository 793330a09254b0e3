"""Helpers shared by the benchmarks: a sandbox in its own process, a binding to charge."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Tuple

import requests


def start_sandbox(latency_ms: float = 0) -> "Tuple[subprocess.Popen[str], str]":
    """``autopay-soap sandbox`` on a free port in a child process; returns it and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "autopay_soap.cli", "sandbox", "--port", "0", "--latency",
                             f"{latency_ms}ms"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1]  # type: ignore[union-attr]
    return proc, url


def make_binding(url: str, client_id: str = "bench") -> str:
    """Pay a first payment on the sandbox page (as the payer) and return the new binding id."""
    from autopay_soap import AutopayClient, Money
    from autopay_soap.sandbox.server import _form

    client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r")
    started = client.start_first_payment(f"BENCH-FIRST-{time.time_ns()}", Money.of("1.00", "RUB"), client_id)
    with requests.Session() as http:
        action, fields = _form(http.get(started.form_url or "", timeout=10).text, "pay")
        fields.update(pan="4444555511113333", expiry="12/30", cvc="123")
        http.post(url + action, data=fields, allow_redirects=False, timeout=10)
    binding = client.finish_first_payment(order_id=started.order_id).binding
    client.close()
    assert binding is not None
    return binding.binding_id
