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

    client = AutopayClient.from_profile("sandbox", sandbox_url=url, return_url=url + "/r")
    started = client.start_first_payment(f"BENCH-FIRST-{time.time_ns()}", Money.of("1.00", "RUB"), client_id)
    paid = requests.post(url + "/_sandbox/pay", json={"form_url": started.form_url, "card": "SUCCESS"}, timeout=10)
    paid.raise_for_status()
    binding = client.finish_first_payment(order_id=started.order_id).binding
    client.close()
    assert binding is not None
    return binding.binding_id
